import type { IncomingMessage, ServerResponse } from 'node:http';
import { environmentMoveSchema, InvalidSimulatorInput, parseOrThrow } from './schemas';
import { parseJson, readBody, sendJson } from './http-io';
import type { Simulator, SimulatorSettings } from './types';

/**
 * The control API under /__simulator/: the same operations as the programmatic API, so a
 * simulator started in another process (`npm run simulator`) can be driven by a benchmark
 * or by the local server's tests. Every input goes through the same validation.
 */
export type ControlTarget = Pick<
  Simulator,
  'counters' | 'reset' | 'configure' | 'addCredential' | 'injectFault' | 'clearFaults' | 'moveEnvironment' | 'locationOf'
> & { settings(): SimulatorSettings; environments(): Record<string, string> };

type ControlAction = (target: ControlTarget, body: unknown) => unknown;

// Path → method → action. Inputs are typed `never` here and validated by the target,
// which throws InvalidSimulatorInput for anything the schemas refuse.
const CONTROL_ROUTES: Record<string, Record<string, ControlAction>> = {
  '/__simulator/counters': { GET: (t) => t.counters() },
  '/__simulator/reset': { POST: (t) => (t.reset(), { ok: true }) },
  '/__simulator/settings': {
    GET: (t) => t.settings(),
    PUT: (t, body) => (t.configure(body as never), t.settings()),
  },
  // Answers without echoing the credential: the simulator never writes a secret anywhere.
  '/__simulator/credentials': { POST: (t, body) => (t.addCredential(body as never), { ok: true }) },
  '/__simulator/faults': {
    POST: (t, body) => (t.injectFault(body as never), { ok: true }),
    DELETE: (t) => (t.clearFaults(), { ok: true }),
  },
  // corporationId → what the location lookup answers. POST {corporationId, baseUrl} moves one.
  '/__simulator/environments': {
    GET: (t) => t.environments(),
    POST: (t, body) => {
      const { corporationId, baseUrl } = parseOrThrow(environmentMoveSchema, 'environment move', body);
      t.moveEnvironment(corporationId, baseUrl);
      return { corporationId, location: t.locationOf(corporationId) };
    },
  },
};

export function isControlPath(pathname: string): boolean {
  return pathname.startsWith('/__simulator/');
}

export async function serveControl(
  target: ControlTarget,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  const methods = CONTROL_ROUTES[pathname];
  if (!methods) return sendJson(res, 404, { error: 'not_found', path: pathname });
  const action = methods[req.method ?? ''];
  if (!action) {
    const allow = Object.keys(methods).join(', ');
    return sendJson(res, 405, { error: 'method_not_allowed', allow }, { allow });
  }
  const text = await readBody(req);
  if (text === undefined) return sendJson(res, 413, { error: 'body_too_large' });
  const body = text === '' ? {} : parseJson(text);
  if (body === undefined) return sendJson(res, 400, { error: 'invalid_json' });
  try {
    sendJson(res, 200, action(target, body));
  } catch (error) {
    if (!(error instanceof InvalidSimulatorInput)) throw error;
    sendJson(res, 400, { error: 'invalid_input', message: error.message });
  }
}
