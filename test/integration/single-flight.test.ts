/**
 * One token per tenant under concurrency and upstream faults: several "containers" (separate
 * vendor instances, each with its own in-flight map and background refreshes) share one DynamoDB
 * Local table and one simulator.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REFRESH_RETRY_INTERVAL_MS } from '../../functions/domain/token-policy';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';
import {
  createHarness,
  dynamoDbLocalEndpoint,
  ManualClock,
  uniqueTableName,
  type SecretValue,
} from '../support/harness';
import { TOKEN_ANSWER_SCHEMA } from '../../functions/token/response-schemas';

const CREDENTIAL = { appKey: 'fake-app-key-1', appSecurity: 'fake-app-security-1', corporationId: 'FAKEcorp0001' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let simulator: Simulator;
let secrets: Map<string, SecretValue>;

async function startUpstream(options: Parameters<typeof startSimulator>[0] = {}) {
  simulator = await startSimulator({ issueDelayMs: 0, credentials: [CREDENTIAL], ...options });
  secrets = new Map([
    ['acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl }],
  ]);
}

afterEach(async () => {
  await simulator?.close();
});

function containers(count: number, tableName: string, env: Record<string, string> = {}, clock?: ManualClock) {
  return Promise.all(
    Array.from({ length: count }, () =>
      createHarness({ tableName, secrets, env: { UPSTREAM_TIMEOUT_MS: '1000', ...env }, ...(clock && { clock }) }),
    ),
  );
}

/** Upstream calls since `calls.mark()`: resetting the simulator would forget the tokens it issued. */
const calls = {
  base: { getAccessToken: 0, refreshToken: 0 },
  mark() {
    const { getAccessToken, refreshToken } = simulator.counters();
    this.base = { getAccessToken, refreshToken };
  },
  since() {
    const { getAccessToken, refreshToken } = simulator.counters();
    return { getAccessToken: getAccessToken - this.base.getAccessToken, refreshToken: refreshToken - this.base.refreshToken };
  },
};

async function tokenWorks(accessToken: string): Promise<boolean> {
  const response = await fetch(`${simulator.baseUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(accessToken)}`);
  return response.status === 200;
}

describe('single flight across containers', () => {
  test.each([
    ['on', true],
    ['off', false],
  ])('K containers × C cold requests make exactly one upstream call (new token invalidates old: %s)', async (_label, invalidates) => {
    await startUpstream({ issueDelayMs: 300, newTokenInvalidatesOld: invalidates });
    const fleet = await containers(4, uniqueTableName('stampede'));
    const responses = await Promise.all(
      fleet.flatMap(({ invoke }) => Array.from({ length: 25 }, () => invoke('GET', '/tenants/acme/token'))),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(100).fill(200));
    const tokens = new Set(responses.map((r) => r.json.accessToken));
    expect(tokens.size).toBe(1);
    expect(simulator.counters().getAccessToken).toBe(1);
    expect(simulator.counters().inFlightMax.getAccessToken).toBe(1);
    expect(await tokenWorks([...tokens][0])).toBe(true);
  });

  test('waiters share the lease holder’s failure instead of repeating the call', async () => {
    await startUpstream({ issueDelayMs: 100 });
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 500 });
    const fleet = await containers(3, uniqueTableName('shared-failure'));
    const responses = await Promise.all(
      fleet.flatMap(({ invoke }) => Array.from({ length: 5 }, () => invoke('GET', '/tenants/acme/token'))),
    );
    expect(new Set(responses.map((r) => `${r.statusCode} ${r.json.error.code}`))).toEqual(new Set(['503 UPSTREAM_UNAVAILABLE']));
    // One holder, its configured two attempts; nobody else called.
    expect(simulator.counters().getAccessToken).toBe(2);
  });

  test('a killed lease holder blocks nobody past its lease; waiters stop at their bound', async () => {
    await startUpstream();
    const tableName = uniqueTableName('killed');
    const folder = await mkdtemp(join(tmpdir(), 'tenants-'));
    const tenantsFile = join(folder, 'tenants.json');
    await writeFile(tenantsFile, JSON.stringify({ acme: secrets.get('acme') }));
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'hang', times: 1 });

    // The holder is a separate `npm start` process on the same table: a container that dies mid-call.
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        PORT: '0',
        DYNAMODB_ENDPOINT: dynamoDbLocalEndpoint(),
        TABLE_NAME: tableName,
        TENANTS_FILE: tenantsFile,
        UPSTREAM_TIMEOUT_MS: '1500',
        UPSTREAM_MAX_ATTEMPTS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', () => {
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}: ${output}`)));
    });
    void fetch(`${url}/tenants/acme/token`).catch(() => undefined);
    while (simulator.counters().getAccessToken === 0) await new Promise((r) => setTimeout(r, 20));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Lease = 1.5 s × 1 attempt + 3 s store phase + 1 s guard + 0.5 s slack = 6 s from when the holder took it.

    const [impatient] = await containers(1, tableName, { LEASE_WAIT_MS: '300' });
    const startedImpatient = Date.now();
    const refused = await impatient!.invoke('GET', '/tenants/acme/token');
    expect(refused.statusCode).toBe(503);
    expect(refused.json.error.code).toBe('TOKEN_REFRESH_IN_PROGRESS');
    expect(Number(refused.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(Date.now() - startedImpatient).toBeLessThan(2000);

    const [patient] = await containers(1, tableName);
    const served = await patient!.invoke('GET', '/tenants/acme/token');
    expect(served.statusCode).toBe(200);
    expect(await tokenWorks(served.json.accessToken)).toBe(true);
    expect(simulator.counters().getAccessToken).toBe(2);
    // Taken over once the dead holder's lease ran out, not later than the wait bound.
    expect(Date.now() - killedAt).toBeLessThan(8000 + 2000);
  });
});

describe('upstream fault matrix', () => {
  const transient = [
    ['a 500', { mode: 'status', status: 500 }],
    ['a 503', { mode: 'status', status: 503 }],
    ['a timeout', { mode: 'delay', delayMs: 2000 }],
    ['a hang', { mode: 'hang' }],
    ['a malformed body', { mode: 'malformed' }],
    ['a dropped connection', { mode: 'drop' }],
  ] as const;

  async function tokenInRefreshWindow(clock: ManualClock) {
    const tableName = uniqueTableName('faults');
    const [container] = await containers(1, tableName, { UPSTREAM_TIMEOUT_MS: '400' }, clock);
    const first = await container!.invoke('GET', '/tenants/acme/token');
    expect(first.statusCode).toBe(200);
    clock.advance(2 * HOUR - 10 * MINUTE); // inside the 15-minute refresh window, outside the 5-minute margin
    calls.mark();
    return { container: container!, first };
  }

  test.each(transient)('no cached token + %s on getAccessToken → 503 UPSTREAM_UNAVAILABLE after 2 attempts', async (_n, fault) => {
    await startUpstream();
    simulator.injectFault({ endpoint: 'getAccessToken', ...fault });
    const [container] = await containers(1, uniqueTableName('faults'), { UPSTREAM_TIMEOUT_MS: '400' });
    const response = await container!.invoke('GET', '/tenants/acme/token');
    expect([response.statusCode, response.json.error.code]).toEqual([503, 'UPSTREAM_UNAVAILABLE']);
    expect(response.headers['Retry-After']).toBeDefined();
    expect(simulator.counters().getAccessToken).toBe(2);
  });

  test('no cached token + 403 on getAccessToken → 502 after 1 attempt', async () => {
    await startUpstream();
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 403 });
    const [container] = await containers(1, uniqueTableName('faults'));
    const response = await container!.invoke('GET', '/tenants/acme/token');
    expect([response.statusCode, response.json.error.code]).toEqual([502, 'UPSTREAM_REJECTED_CREDENTIALS']);
    expect(simulator.counters().getAccessToken).toBe(1);
  });

  // On refresh a 403 is one more way to fail: the next attempt is getAccessToken all the same.
  const refreshFaults = [...transient, ['a 403', { mode: 'status', status: 403 }]] as const;

  test.each(refreshFaults)(
    'token in its refresh window + %s on refresh → the caller gets the valid token at once; the background refresh falls back to getAccessToken',
    async (_n, fault) => {
      const clock = new ManualClock();
      await startUpstream({ now: () => clock.now() });
      const { container, first } = await tokenInRefreshWindow(clock);
      simulator.injectFault({ endpoint: 'refreshToken', ...fault });
      const response = await container.invoke('GET', '/tenants/acme/token');
      expect(response.statusCode).toBe(200);
      expect(response.json.accessToken).toBe(first.json.accessToken);
      await container.refreshesIdle();
      // One refresh attempt, then getAccessToken: a refresh-only outage never leaves the tenant without a token.
      expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 1 });
      const next = await container.invoke('GET', '/tenants/acme/token');
      expect(next.json.accessToken).not.toBe(first.json.accessToken);
      expect(next.json.expireTime).toBe(clock.now() + 2 * HOUR - 5 * MINUTE);
      expect(await tokenWorks(next.json.accessToken)).toBe(true);
      expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 1 });
    },
  );

  test('token in its refresh window + refresh and getAccessToken both failing → callers keep the valid token and ask again only after a pause', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const { container, first } = await tokenInRefreshWindow(clock);
    simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: 403 });
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 500 });
    const response = await container.invoke('GET', '/tenants/acme/token');
    expect(response.json.accessToken).toBe(first.json.accessToken);
    await container.refreshesIdle();
    // A refresh 403 does not count as an attempt: both attempts go to getAccessToken.
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 2 });

    // Right after the failure: served, and no new refresh is started.
    clock.advance(REFRESH_RETRY_INTERVAL_MS - 1);
    const during = await container.invoke('GET', '/tenants/acme/token');
    expect(during.json.accessToken).toBe(first.json.accessToken);
    await container.refreshesIdle();
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 2 });

    // Once the retry interval has passed, the next caller starts another refresh, which now succeeds.
    simulator.clearFaults();
    clock.advance(1);
    const after = await container.invoke('GET', '/tenants/acme/token');
    expect(after.json.accessToken).toBe(first.json.accessToken);
    await container.refreshesIdle();
    expect(calls.since()).toEqual({ refreshToken: 2, getAccessToken: 2 });
    expect((await container.invoke('GET', '/tenants/acme/token')).json.accessToken).not.toBe(first.json.accessToken);
  });

  test('token past the margin + refresh failing → the caller itself falls back to getAccessToken; the unservable token is never handed out', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const { container, first } = await tokenInRefreshWindow(clock);
    clock.advance(6 * MINUTE); // 4 minutes left: inside the 5-minute margin, still valid upstream
    simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: 502 });
    const response = await container.invoke('GET', '/tenants/acme/token');
    expect(response.statusCode).toBe(200);
    expect(response.json.accessToken).not.toBe(first.json.accessToken);
    expect(response.json.expireTime).toBe(clock.now() + 2 * HOUR - 5 * MINUTE);
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 1 });
  });

  test('token past the margin + refresh and getAccessToken failing → 503: an unservable token is never handed out', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const { container } = await tokenInRefreshWindow(clock);
    clock.advance(6 * MINUTE);
    simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: 502 });
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 502 });
    const response = await container.invoke('GET', '/tenants/acme/token');
    expect([response.statusCode, response.json.error.code]).toEqual([503, 'UPSTREAM_UNAVAILABLE']);
    // UPSTREAM_MAX_ATTEMPTS (2) counts both operations: one refresh, one getAccessToken.
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 1 });
  });
});

describe('refresh ahead', () => {
  test('in the refresh window every caller gets the current token at once; one background refresh replaces it', async () => {
    const clock = new ManualClock();
    const issueDelayMs = 1500;
    await startUpstream({ now: () => clock.now(), issueDelayMs });
    const tableName = uniqueTableName('ahead');
    const fleet = await containers(3, tableName, { UPSTREAM_TIMEOUT_MS: String(2 * issueDelayMs) }, clock);
    const first = await fleet[0]!.invoke('GET', '/tenants/acme/token');
    expect(first.statusCode).toBe(200);
    // Every container has served once (clients built, connections open).
    for (const { invoke } of fleet.slice(1)) expect((await invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(first.json.accessToken);
    clock.advance(2 * HOUR - 10 * MINUTE);

    const started = performance.now();
    const responses = await Promise.all(fleet.flatMap(({ invoke }) => [invoke('GET', '/tenants/acme/token'), invoke('GET', '/tenants/acme/token')]));
    const answeredAfterMs = performance.now() - started;
    expect(responses.map((r) => r.statusCode)).toEqual(Array(6).fill(200));
    expect(responses.map((r) => r.json.accessToken)).toEqual(Array(6).fill(first.json.accessToken));
    // Nobody waited for the upstream, which takes issueDelayMs to answer.
    expect(answeredAfterMs).toBeLessThan(issueDelayMs);

    await Promise.all(fleet.map(({ refreshesIdle }) => refreshesIdle()));
    expect(simulator.counters()).toMatchObject({ refreshToken: 1, getAccessToken: 1 });
    expect(simulator.counters().inFlightMax.refreshToken).toBe(1);
    // The refreshed token asks for REFRESH_LIFETIME_DAYS (default 1) through /expireDate.
    const after = await fleet[1]!.invoke('GET', '/tenants/acme/token');
    expect(after.json.accessToken).not.toBe(first.json.accessToken);
    expect(after.json.expireTime).toBe(clock.now() + DAY - 5 * MINUTE);
    expect(await tokenWorks(after.json.accessToken)).toBe(true);
    expect((await fleet[2]!.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(after.json.accessToken);
  });

  test('REFRESH_LIFETIME_DAYS=0 takes the upstream’s own refresh lifetime (32 days)', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const [container] = await containers(1, uniqueTableName('ahead'), { REFRESH_LIFETIME_DAYS: '0' }, clock);
    const first = await container!.invoke('GET', '/tenants/acme/token');
    clock.advance(2 * HOUR - 10 * MINUTE);
    expect((await container!.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(first.json.accessToken);
    await container!.refreshesIdle();
    const refreshed = await container!.invoke('GET', '/tenants/acme/token');
    expect(refreshed.json.accessToken).not.toBe(first.json.accessToken);
    expect(refreshed.json.expireTime).toBe(clock.now() + 32 * DAY - 5 * MINUTE);
    expect(simulator.counters()).toMatchObject({ refreshToken: 1, getAccessToken: 1 });
  });

  test('a refresh asked for by a caller is a no-op once another container has refreshed', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const [a, b] = await containers(2, uniqueTableName('ahead'), {}, clock);
    const first = await a!.invoke('GET', '/tenants/acme/token');
    clock.advance(2 * HOUR - 10 * MINUTE);
    calls.mark();
    expect(await b!.vendor.refresh('acme')).toBe('refreshed');
    expect(await a!.vendor.refresh('acme')).toBe('skipped');
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 0 });
    expect((await a!.invoke('GET', '/tenants/acme/token')).json.accessToken).not.toBe(first.json.accessToken);
    await a!.refreshesIdle();
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 0 });
  });

  test('the warmer refreshes tokens entering their window before the next run, and only those', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    secrets.set('later', secrets.get('acme')!);
    const tableName = uniqueTableName('warm');
    const [container] = await containers(1, tableName, {}, clock);
    const first = await container!.invoke('GET', '/tenants/acme/token');
    clock.advance(30 * MINUTE);
    await container!.invoke('GET', '/tenants/later/token');
    // acme enters its window (T+105 min) within the next 6 minutes; "later" does not until T+135.
    clock.advance(100 * MINUTE - 30 * MINUTE);
    calls.mark();
    const counts = await container!.vendor.warmAll(6 * MINUTE);
    expect(counts).toEqual({ refreshed: 1, skipped: 0, failed: 0 });
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 0 });
    const now = await container!.invoke('GET', '/tenants/acme/token');
    expect(now.json.accessToken).not.toBe(first.json.accessToken);
    expect(await tokenWorks(now.json.accessToken)).toBe(true);
    expect(calls.since()).toEqual({ refreshToken: 1, getAccessToken: 0 });
    // A second run right after has nothing to do.
    expect(await container!.vendor.warmAll(6 * MINUTE)).toEqual({ refreshed: 0, skipped: 0, failed: 0 });
  });
});

describe('POST /tenants/{tenantId}/token/invalidate', () => {
  test('retires only the current token and answers its replacement; a stale report changes nothing and answers the current token', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now(), newTokenInvalidatesOld: true });
    const [a, b] = await containers(2, uniqueTableName('invalidate'), {}, clock);
    const first = await a!.invoke('GET', '/tenants/acme/token');
    await b!.invoke('GET', '/tenants/acme/token');

    const report = await b!.invoke('POST', '/tenants/acme/token/invalidate', JSON.stringify({ accessToken: first.json.accessToken }));
    expect(report.statusCode).toBe(200);
    expect(report.headers['Cache-Control']).toBe('no-store');
    expect(Object.keys(report.json).sort()).toEqual([...TOKEN_ANSWER_SCHEMA.required].sort());
    expect(report.json.accessToken).not.toBe(first.json.accessToken);
    // The answer is the replacement every other caller now gets.
    const second = await b!.invoke('GET', '/tenants/acme/token');
    expect(second.json).toEqual(report.json);
    expect((await a!.invoke('GET', '/tenants/acme/token')).json).toEqual(report.json);
    // A retired token is replaced through getAccessToken, not refreshed.
    expect(simulator.counters()).toMatchObject({ getAccessToken: 2, refreshToken: 0 });
    expect(await tokenWorks(second.json.accessToken)).toBe(true);
    expect(await tokenWorks(first.json.accessToken)).toBe(false);

    clock.advance(MINUTE);
    const stale = await a!.invoke('POST', '/tenants/acme/token/invalidate', JSON.stringify({ accessToken: first.json.accessToken }));
    expect(stale.statusCode).toBe(200);
    expect(stale.json.accessToken).toBe(second.json.accessToken);
    expect((await a!.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(second.json.accessToken);
    expect(simulator.counters().getAccessToken).toBe(2);
  });

  test('invalidations per tenant are rate-limited', async () => {
    const clock = new ManualClock();
    await startUpstream({ now: () => clock.now() });
    const [container] = await containers(1, uniqueTableName('invalidate'), {}, clock);
    const report = (accessToken: string) =>
      container!.invoke('POST', '/tenants/acme/token/invalidate', JSON.stringify({ accessToken }));
    const invalidate = async () => report((await container!.invoke('GET', '/tenants/acme/token')).json.accessToken);
    const first = (await container!.invoke('GET', '/tenants/acme/token')).json.accessToken;
    const replacement = await invalidate();
    expect(replacement.statusCode).toBe(200);
    clock.advance(10_000);
    const limited = await invalidate();
    expect([limited.statusCode, limited.json.error.code]).toEqual([429, 'INVALIDATION_RATE_LIMITED']);
    expect(limited.headers['Retry-After']).toBe('20');
    // A stale report is never limited: it is answered with the current token at once.
    const stale = await report(first);
    expect([stale.statusCode, stale.json.accessToken]).toEqual([200, replacement.json.accessToken]);
    expect(simulator.counters().getAccessToken).toBe(2);
    clock.advance(20_000);
    expect((await invalidate()).statusCode).toBe(200);
    expect(simulator.counters().getAccessToken).toBe(3);
  });

  test.each([
    ['no body', ''],
    ['a body that is not JSON', 'accessToken=x'],
    ['no accessToken', '{}'],
    ['an empty accessToken', '{"accessToken":""}'],
    ['a JSON array', '[]'],
  ])('400 INVALID_REQUEST_BODY for %s', async (_name, body) => {
    await startUpstream();
    const [container] = await containers(1, uniqueTableName('invalidate'));
    const response = await container!.invoke('POST', '/tenants/acme/token/invalidate', body);
    expect([response.statusCode, response.json.error.code]).toEqual([400, 'INVALID_REQUEST_BODY']);
  });

  test('an unknown tenant is 404 and a bad tenant id 400, as for GET', async () => {
    await startUpstream();
    const [container] = await containers(1, uniqueTableName('invalidate'));
    const body = '{"accessToken":"x"}';
    expect((await container!.invoke('POST', '/tenants/nobody/token/invalidate', body)).json.error.code).toBe('TENANT_NOT_FOUND');
    expect((await container!.invoke('POST', '/tenants/bad%20id/token/invalidate', body)).json.error.code).toBe('INVALID_TENANT_ID');
    expect((await container!.invoke('GET', '/tenants/acme/token/invalidate')).statusCode).toBe(405);
  });
});
