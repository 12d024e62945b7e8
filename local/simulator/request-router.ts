import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isControlPath, serveControl, type ControlTarget } from './control-routes';
import type { CallCounter } from './call-counter';
import { faultEffect, type FaultBook } from './faults';
import { readBody, sendJson, sendRaw } from './http-io';
import {
  API_UNAUTHORIZED,
  getAccessToken,
  protectedCall,
  refreshToken,
  REFRESH_UNAUTHORIZED,
  KEY_INVALID,
  type Reply,
  type UpstreamCall,
  type UpstreamContext,
} from './upstream-routes';
import type { SimulatorEndpoint } from './types';

interface UpstreamRoute {
  method: 'GET' | 'POST';
  endpoint: SimulatorEndpoint;
  handle(ctx: UpstreamContext, call: UpstreamCall): Promise<Reply>;
  /** The endpoint's own refusal, reused for injected 403s; `wrapped` = errors sit in `value`. */
  rejection: { body: unknown; wrapped: boolean };
}

const UPSTREAM_ROUTES: ReadonlyMap<string, UpstreamRoute> = new Map<string, UpstreamRoute>([
  [
    '/api/openapi/v1/auth/getAccessToken',
    { method: 'POST', endpoint: 'getAccessToken', handle: getAccessToken, rejection: { body: KEY_INVALID.body, wrapped: true } },
  ],
  [
    '/api/openapi/v2/auth/refreshToken',
    {
      method: 'POST',
      endpoint: 'refreshToken',
      handle: (ctx, call) => refreshToken(ctx, call, 'default'),
      rejection: { body: REFRESH_UNAUTHORIZED.body, wrapped: true },
    },
  ],
  [
    '/api/openapi/v2/auth/refreshToken/expireDate',
    {
      method: 'POST',
      endpoint: 'refreshToken',
      handle: (ctx, call) => refreshToken(ctx, call, 'expireDate'),
      rejection: { body: REFRESH_UNAUTHORIZED.body, wrapped: true },
    },
  ],
  [
    '/api/openapi/v1/staffs',
    { method: 'GET', endpoint: 'protected', handle: protectedCall, rejection: { body: API_UNAUTHORIZED.body, wrapped: false } },
  ],
]);

export interface RouterDeps {
  upstream: UpstreamContext;
  faults: FaultBook;
  counter: CallCounter;
  control: ControlTarget;
  log?: ((line: string) => void) | undefined;
}

/** Thrown by `UpstreamContext.wait` when the simulator closes under a waiting call. */
export class SimulatorClosed extends Error {
  readonly code = 'SIMULATOR_CLOSED';
  constructor() {
    super('simulator closed');
    this.name = 'SimulatorClosed';
  }
}

async function serveUpstream(deps: RouterDeps, route: UpstreamRoute, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  // Counted on arrival, before any fault, so a test can see that a call was attempted even
  // when the injected fault swallowed it.
  const finished = deps.counter.arrive(route.endpoint);
  res.once('close', finished);
  const body = await readBody(req);

  const fault = deps.faults.take(route.endpoint);
  if (fault) {
    const effect = faultEffect(fault, route.rejection);
    switch (effect.kind) {
      case 'hang':
        return; // the socket stays open until the client gives up or close() destroys it
      case 'drop':
        req.socket.destroy();
        return;
      case 'raw':
        return sendRaw(res, effect.status, effect.text);
      case 'answer':
        if (effect.status === 403) deps.counter.rejected();
        return sendJson(res, effect.status, effect.body);
      case 'delay':
        await deps.upstream.wait(effect.ms);
        break;
    }
  }

  const reply = await route.handle(deps.upstream, { req, url, body });
  if (reply.status === 403) deps.counter.rejected();
  sendJson(res, reply.status, reply.body);
}

// Prefixing keeps a path such as `//x` a path; a plain `new URL(path, base)` reads it as a host.
function requestUrl(target = '/'): URL | undefined {
  try {
    return new URL(target.startsWith('/') ? `http://simulator.invalid${target}` : target);
  } catch {
    return undefined;
  }
}

/** One listener for the whole simulator: upstream endpoints, control API, 404 and 405. */
export function createRequestListener(deps: RouterDeps): RequestListener {
  return (req, res) => {
    const url = requestUrl(req.url);
    if (!url) return sendJson(res, 400, { errorCode: 400, errorMessage: 'bad request target', errorDetail: null });
    // Only method and path: the query carries tokens and must never reach a log.
    res.once('close', () => {
      const outcome = res.writableFinished ? String(res.statusCode) : 'no answer';
      deps.log?.(`${req.method ?? '?'} ${url.pathname} ${outcome}`);
    });
    route(deps, req, res, url).catch((error: unknown) => {
      if (error instanceof SimulatorClosed) return;
      deps.log?.(`error serving ${url.pathname}: ${error instanceof Error ? error.name : 'unknown'}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'simulator_error' });
      else res.destroy();
    });
  };
}

async function route(deps: RouterDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (isControlPath(url.pathname)) return serveControl(deps.control, req, res, url.pathname);
  const upstream = UPSTREAM_ROUTES.get(url.pathname);
  if (!upstream) {
    return sendJson(res, 404, { errorCode: 404, errorMessage: 'not found', errorDetail: null });
  }
  if (req.method !== upstream.method) {
    return sendJson(
      res,
      405,
      { errorCode: 405, errorMessage: 'method not allowed', errorDetail: null },
      { allow: upstream.method },
    );
  }
  return serveUpstream(deps, upstream, req, res, url);
}
