import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isControlPath, serveControl, type ControlTarget } from './control-routes';
import type { CallCounter } from './call-counter';
import { faultEffect, type FaultBook } from './faults';
import { readBody, sendJson, sendRaw } from './http-io';
import {
  API_UNAUTHORIZED,
  bareDialect,
  getAccessToken,
  getAccessTokenV3,
  KEY_INVALID,
  location,
  protectedCall,
  refreshToken,
  REFRESH_UNAUTHORIZED,
  v3Dialect,
  wrappedDialect,
  type ErrorDialect,
  type Reply,
  type UpstreamCall,
  type UpstreamContext,
} from './upstream-routes';
import type { SimulatorEndpoint } from './types';

interface UpstreamRoute {
  method: 'GET' | 'POST';
  endpoint: SimulatorEndpoint;
  handle(ctx: UpstreamContext, call: UpstreamCall): Promise<Reply>;
  /** The endpoint's error bodies, reused for injected faults. */
  dialect: ErrorDialect;
}

// Served at the root and under every corporation's address prefix on this server: these are
// the calls the docs tie to the enterprise's environment.
const ENVIRONMENT_ROUTES: ReadonlyMap<string, UpstreamRoute> = new Map<string, UpstreamRoute>([
  [
    '/api/openapi/v1/auth/getAccessToken',
    { method: 'POST', endpoint: 'getAccessToken', handle: getAccessToken, dialect: wrappedDialect(KEY_INVALID) },
  ],
  [
    '/api/openapi/v2/auth/refreshToken',
    {
      method: 'POST',
      endpoint: 'refreshToken',
      handle: (ctx, call) => refreshToken(ctx, call, 'default'),
      dialect: wrappedDialect(REFRESH_UNAUTHORIZED),
    },
  ],
  [
    '/api/openapi/v2/auth/refreshToken/expireDate',
    {
      method: 'POST',
      endpoint: 'refreshToken',
      handle: (ctx, call) => refreshToken(ctx, call, 'expireDate'),
      dialect: wrappedDialect(REFRESH_UNAUTHORIZED),
    },
  ],
  [
    '/api/openapi/v1/staffs',
    { method: 'GET', endpoint: 'protected', handle: protectedCall, dialect: bareDialect(API_UNAUTHORIZED) },
  ],
]);

// Served at the root only: upstream they live on fixed hosts (app.ekuaibao.com for the lookup,
// open.hosecloud.com for v3), not under an enterprise's prefix.
const ROOT_ROUTES: ReadonlyMap<string, UpstreamRoute> = new Map<string, UpstreamRoute>([
  ['/api/openapi/v2/location', { method: 'GET', endpoint: 'location', handle: location, dialect: bareDialect(API_UNAUTHORIZED) }],
  [
    '/auth/openApi/v3/getAccessToken',
    { method: 'POST', endpoint: 'getAccessTokenV3', handle: getAccessTokenV3, dialect: v3Dialect },
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

async function serveUpstream(
  deps: RouterDeps,
  route: UpstreamRoute,
  pathPrefix: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  // Counted on arrival, before any fault, so a test can see that a call was attempted even
  // when the injected fault swallowed it.
  const finished = deps.counter.arrive(route.endpoint);
  res.once('close', finished);
  const body = await readBody(req);

  const fault = deps.faults.take(route.endpoint);
  if (fault) {
    const effect = faultEffect(fault, route.dialect);
    switch (effect.kind) {
      case 'hang':
        return; // the socket stays open until the client gives up or close() destroys it
      case 'drop':
        req.socket.destroy();
        return;
      case 'raw':
        return sendRaw(res, effect.status, effect.text);
      case 'answer':
        if (effect.refused) deps.counter.rejected();
        return sendJson(res, effect.status, effect.body);
      case 'delay':
        await deps.upstream.wait(effect.ms);
        break;
    }
  }

  const reply = await route.handle(deps.upstream, { req, url, body, pathPrefix });
  if (reply.status === 403 || reply.refused) deps.counter.rejected();
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
  const found = findUpstreamRoute(deps, url.pathname);
  if (!found) {
    return sendJson(res, 404, { errorCode: 404, errorMessage: 'not found', errorDetail: null });
  }
  const { route: upstream, pathPrefix } = found;
  if (req.method !== upstream.method) {
    return sendJson(
      res,
      405,
      { errorCode: 405, errorMessage: 'method not allowed', errorDetail: null },
      { allow: upstream.method },
    );
  }
  return serveUpstream(deps, upstream, pathPrefix, req, res, url);
}

function findUpstreamRoute(deps: RouterDeps, pathname: string): { route: UpstreamRoute; pathPrefix: string } | undefined {
  const atRoot = ROOT_ROUTES.get(pathname);
  if (atRoot) return { route: atRoot, pathPrefix: '' };
  for (const { pathPrefix, rest } of deps.upstream.environments.split(pathname)) {
    const route = ENVIRONMENT_ROUTES.get(rest);
    if (route) return { route, pathPrefix };
  }
  return undefined;
}
