/**
 * The client library as workloads use it, against the real `npm start` server and its upstream
 * simulator over HTTP, with the simulator killing older tokens whenever it issues one. Two
 * workload processes call the simulator's protected endpoint through `ekuaibaoFetch` while a
 * third party (this test) keeps taking new tokens with the tenant's own credentials, which kills
 * the token the service holds. Every call must end in 200, each client must report each rejected
 * token at most once, and no process may print a token.
 */
import { SANDBOX_TENANT } from '../../local/server';
import { startNpmStart, stopNpmStart, type StartedServer } from '../support/npm-start';
import { runToExit } from '../support/run-to-exit';

/** Simulator tokens look like `ID_<22 chars>:<corporationId>`. */
const TOKEN_SHAPE = /ID_[A-Za-z0-9]{22}:/;
const WORKER = new URL('./support/fetch-worker.ts', import.meta.url).pathname;
const FORCED_TOKENS = 3;

interface WorkerSummary {
  readonly statuses: Record<string, number>;
  readonly reports: number;
  readonly rejectedTokens: number;
}

let server: StartedServer | undefined;
afterEach(async () => {
  if (server) await stopNpmStart(server);
  server = undefined;
});

async function runWorker(apiUrl: string, simulatorUrl: string, durationMs: number): Promise<{ summary: WorkerSummary; output: string }> {
  const { code, stdout, stderr } = await runToExit(process.execPath, ['--import', 'tsx', WORKER, apiUrl, simulatorUrl, String(durationMs), '50'], {
    ...process.env,
    NODE_OPTIONS: '',
  });
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return { summary: JSON.parse(stdout.trim().split('\n').pop()!) as WorkerSummary, output: stdout + stderr };
}

test('two workload processes recover from tokens killed by a third: every call ends in 200, one report per client per rejection, no token printed', async () => {
  // Reports of successive current tokens are seconds apart here; the default 30 s limit would
  // (rightly) refuse the second one.
  server = await startNpmStart({ INVALIDATION_MIN_INTERVAL_SECONDS: '1', SANDBOX_ISSUE_DELAY_MS: '200' });
  const simulatorUrl = /upstream simulator at (http:\/\/\S+)/.exec(server.output())![1]!;
  const settings = await fetch(`${simulatorUrl}/__simulator/settings`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ newTokenInvalidatesOld: true }),
  });
  expect(settings.status).toBe(200);

  const workers = [runWorker(server.url, simulatorUrl, 7_000), runWorker(server.url, simulatorUrl, 7_000)];
  // The third party: takes a new token with the tenant's credentials every 1.5 s, which kills
  // whatever token the service handed out. It never prints what it got.
  for (let i = 0; i < FORCED_TOKENS; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const forced = await fetch(`${simulatorUrl}/api/openapi/v1/auth/getAccessToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appKey: SANDBOX_TENANT.appKey, appSecurity: SANDBOX_TENANT.appSecurity }),
    });
    expect(forced.status).toBe(200);
  }
  const results = await Promise.all(workers);

  for (const { summary } of results) {
    // Every call ended in 200, however many times its token was killed under it.
    expect(Object.keys(summary.statuses)).toEqual(['200']);
    expect(summary.statuses['200']).toBeGreaterThan(50);
    // Each client saw rejections, and reported each rejected token once, not once per call.
    expect(summary.rejectedTokens).toBeGreaterThan(0);
    expect(summary.reports).toBe(summary.rejectedTokens);
  }
  // Each forced token killed one service token: the clients together never saw more rejections.
  expect(Math.max(...results.map((r) => r.summary.rejectedTokens))).toBeLessThanOrEqual(FORCED_TOKENS);
  // The service replaced each killed token once: the first token, the forced ones, one replacement each.
  const counters = (await (await fetch(`${simulatorUrl}/__simulator/counters`)).json()) as { getAccessToken: number };
  expect(counters.getAccessToken).toBeLessThanOrEqual(1 + 2 * FORCED_TOKENS);
  // No process printed a token.
  for (const output of [server.output(), ...results.map((r) => r.output)]) expect(output).not.toMatch(TOKEN_SHAPE);
}, 60_000);
