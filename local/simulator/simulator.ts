import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { CallCounter } from './call-counter';
import { Environments } from './environments';
import { FaultBook } from './faults';
import { createRequestListener, SimulatorClosed } from './request-router';
import {
  credentialSchema,
  definedOnly,
  environmentMoveSchema,
  faultSchema,
  InvalidSimulatorInput,
  parseOrThrow,
  settingsPatchSchema,
} from './schemas';
import { TokenStore } from './token-store';
import type { Simulator, SimulatorCredential, SimulatorOptions, SimulatorSettings } from './types';

export type * from './types';

const HOUR_MS = 60 * 60 * 1000;

/** The documented upstream behaviour, plus a short issue delay like the real one's. */
export const DEFAULT_SETTINGS: Readonly<SimulatorSettings> = Object.freeze({
  issueDelayMs: 300,
  tokenLifetimeMs: 2 * HOUR_MS,
  refreshedTokenLifetimeMs: 32 * 24 * HOUR_MS,
  newTokenInvalidatesOld: false,
});

/**
 * Starts a stand-in for the Ekuaibao Open API auth endpoints on real HTTP (loopback by
 * default), with fault injection and counters for tests, sandboxes and benchmarks.
 *
 * @example
 * ```ts
 * const sim = await startSimulator({
 *   issueDelayMs: 0,
 *   credentials: [{ appKey: 'k', appSecurity: 's', corporationId: 'corp1' }],
 * });
 * const res = await fetch(`${sim.baseUrl}/api/openapi/v1/auth/getAccessToken`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ appKey: 'k', appSecurity: 's' }),
 * });
 * const { value } = await res.json(); // { accessToken, refreshToken, expireTime, corporationId }
 * sim.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 502, times: 1 });
 * // The address prefix lookup follows a simulated platform upgrade:
 * sim.moveEnvironment('corp1', `${sim.baseUrl}/dd2`);
 * await fetch(`${sim.baseUrl}/api/openapi/v2/location?corpId=corp1`); // {"value":"http://…/dd2/"}
 * await sim.close();
 * ```
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const now = options.now ?? Date.now;
  let settings: SimulatorSettings = {
    ...DEFAULT_SETTINGS,
    ...parseOrThrow(settingsPatchSchema, 'settings', definedOnly(pickSettings(options))),
  };
  const credentials = new Map<string, SimulatorCredential>();
  const store = new TokenStore(now);
  const faults = new FaultBook();
  const counter = new CallCounter();
  // Aborted by close(): waits in flight end at once and never issue a token afterwards.
  const lifetime = new AbortController();
  const sockets = new Set<Socket>();
  // Known once listening; nothing asks before a request arrives or a caller holds the simulator.
  let baseUrl = '';
  const environments = new Environments(() => baseUrl);

  const simulatorApi = {
    counters: () => counter.snapshot(),
    settings: () => ({ ...settings }),
    reset() {
      counter.reset();
      faults.clear();
      store.forgetAll();
    },
    configure(patch: Partial<SimulatorSettings>) {
      settings = { ...settings, ...parseOrThrow(settingsPatchSchema, 'settings', definedOnly(patch)) };
    },
    addCredential(c: SimulatorCredential) {
      const credential = parseOrThrow(credentialSchema, 'credential', c);
      credentials.set(credential.appKey, credential);
      environments.register(credential.corporationId, credential.environmentBaseUrl);
    },
    moveEnvironment(corporationId: string, newBaseUrl: string) {
      const move = parseOrThrow(environmentMoveSchema, 'environment move', { corporationId, baseUrl: newBaseUrl });
      if (!environments.move(move.corporationId, move.baseUrl)) {
        throw new InvalidSimulatorInput('environment move', unknownCorporation(move.corporationId));
      }
    },
    locationOf: (corporationId: string) => environments.locationOf(corporationId),
    environments: () => environments.snapshot(),
    injectFault(f: Parameters<Simulator['injectFault']>[0]) {
      faults.add(parseOrThrow(faultSchema, 'fault', definedOnly(f)));
    },
    clearFaults: () => faults.clear(),
    isValid: (accessToken: string) => store.isValid(accessToken),
  };
  for (const c of options.credentials ?? []) simulatorApi.addCredential(c);

  const server = createServer(
    createRequestListener({
      upstream: {
        settings: () => settings,
        credential: (appKey) => credentials.get(appKey),
        store,
        environments,
        wait: async (ms) => {
          try {
            await sleep(ms, undefined, { signal: lifetime.signal });
          } catch {
            throw new SimulatorClosed();
          }
        },
      },
      faults,
      counter,
      control: simulatorApi,
      log: options.log,
    }),
  );
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  baseUrl = baseUrlOf(server.address() as AddressInfo);

  let closing: Promise<void> | undefined;
  return {
    baseUrl,
    ...simulatorApi,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        lifetime.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        // server.close() alone waits for hanging and keep-alive connections; tests must not.
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

function unknownCorporation(corporationId: string): z.ZodError {
  return new z.ZodError([
    { code: 'custom', path: ['corporationId'], message: `no credential names corporation ${corporationId}`, input: corporationId },
  ]);
}

function pickSettings(options: SimulatorOptions): Partial<SimulatorSettings> {
  const { issueDelayMs, tokenLifetimeMs, refreshedTokenLifetimeMs, newTokenInvalidatesOld } = options;
  return { issueDelayMs, tokenLifetimeMs, refreshedTokenLifetimeMs, newTokenInvalidatesOld };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function baseUrlOf(address: AddressInfo): string {
  // Listening on every interface still means clients reach it most reliably on loopback.
  const reachable =
    address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  const host = reachable.includes(':') ? `[${reachable}]` : reachable;
  return `http://${host}:${address.port}`;
}
