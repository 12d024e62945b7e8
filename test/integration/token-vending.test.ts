/**
 * The handler end to end against DynamoDB Local and the upstream simulator over HTTP.
 */
import {
  GetSecretValueCommand,
  InternalServiceError,
  InvalidRequestException,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';
import {
  captureOutput,
  createHarness,
  ManualClock,
  SECRET_CREATED_DATE,
  uniqueTableName,
  type SecretValue,
} from '../support/harness';

const CREDENTIAL = { appKey: 'fake-app-key-1', appSecurity: 'fake-app-security-1', corporationId: 'FAKEcorp0001' };
const ROTATED = { appKey: 'fake-app-key-2', appSecurity: 'fake-app-security-2', corporationId: 'FAKEcorp0002' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let simulator: Simulator;
let clock: ManualClock;
let secrets: Map<string, SecretValue>;
let createdDates: Map<string, Date>;

beforeEach(async () => {
  clock = new ManualClock();
  simulator = await startSimulator({ issueDelayMs: 0, credentials: [CREDENTIAL, ROTATED], now: () => clock.now() });
  secrets = new Map<string, SecretValue>([
    ['acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl }],
  ]);
  createdDates = new Map();
});

afterEach(async () => {
  await simulator.close();
});

async function container(tableName = uniqueTableName('vend'), env: Record<string, string> = {}, verbose = false) {
  const harness = await createHarness({
    tableName,
    secrets,
    createdDates,
    clock,
    verbose,
    // No refresh window (it equals the safety margin): these tests are about the table as a read-through cache.
    env: { UPSTREAM_TIMEOUT_MS: '1000', REFRESH_WINDOW_SECONDS: '300', ...env },
  });
  return { ...harness, tableName };
}

async function tokenWorks(accessToken: string): Promise<boolean> {
  const response = await fetch(`${simulator.baseUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(accessToken)}`);
  return response.status === 200;
}

describe('GET /tenants/{tenantId}/token', () => {
  test('fetches on the first call and serves the cached token afterwards, with no upstream call', async () => {
    const { invoke } = await container();
    const first = await invoke('GET', '/tenants/acme/token');
    expect(first.statusCode).toBe(200);
    expect(first.headers['Content-Type']).toBe('application/json');
    expect(first.headers['Cache-Control']).toBe('no-store');
    expect(Object.keys(first.json).sort()).toEqual(['accessToken', 'baseUrl', 'corporationId', 'expireTime', 'tenantId']);
    expect(first.json.baseUrl).toMatch(/^https?:\/\/[^/]+(\/.*[^/])?$/);
    expect(first.json.tenantId).toBe('acme');
    expect(first.json.corporationId).toBe(CREDENTIAL.corporationId);
    expect(first.json.expireTime).toBe(clock.now() + 2 * HOUR - 5 * MINUTE);
    expect(await tokenWorks(first.json.accessToken)).toBe(true);

    const second = await invoke('GET', '/tenants/acme/token');
    expect(second.json).toEqual(first.json);
    expect(simulator.counters().getAccessToken).toBe(1);
  });

  test('another container serves the token from the table without calling the upstream', async () => {
    const a = await container();
    const b = await container(a.tableName);
    const first = await a.invoke('GET', '/tenants/acme/token');
    const second = await b.invoke('GET', '/tenants/acme/token');
    expect(second.json.accessToken).toBe(first.json.accessToken);
    expect(simulator.counters().getAccessToken).toBe(1);
  });

  test('serves the cached token until the safety margin, then fetches a new one', async () => {
    const { invoke } = await container();
    const first = await invoke('GET', '/tenants/acme/token');
    clock.advance(2 * HOUR - 5 * MINUTE - 1);
    expect((await invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(first.json.accessToken);
    clock.advance(1);
    const renewed = await invoke('GET', '/tenants/acme/token');
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json.accessToken).not.toBe(first.json.accessToken);
    expect(renewed.json.expireTime).toBeGreaterThan(clock.now());
    expect(await tokenWorks(renewed.json.accessToken)).toBe(true);
  });

  test('honours a configured safety margin', async () => {
    const { invoke } = await container(undefined, { SAFETY_MARGIN_SECONDS: '1800', REFRESH_WINDOW_SECONDS: '1800' });
    const first = await invoke('GET', '/tenants/acme/token');
    expect(first.json.expireTime).toBe(clock.now() + 2 * HOUR - 30 * MINUTE);
    clock.advance(90 * MINUTE - 1);
    expect((await invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(first.json.accessToken);
    clock.advance(1);
    expect((await invoke('GET', '/tenants/acme/token')).json.accessToken).not.toBe(first.json.accessToken);
    // Still valid upstream, so the vendor renews it through the refresh endpoint.
    const { getAccessToken, refreshToken } = simulator.counters();
    expect(getAccessToken + refreshToken).toBe(2);
  });

  test('never answers a changed secret with the old tenant’s token', async () => {
    const a = await container();
    const before = await a.invoke('GET', '/tenants/acme/token');
    secrets.set('acme', { appKey: ROTATED.appKey, appSecurity: ROTATED.appSecurity, baseUrl: simulator.baseUrl });
    const b = await container(a.tableName);
    const after = await b.invoke('GET', '/tenants/acme/token');
    expect(after.statusCode).toBe(200);
    expect(after.json.accessToken).not.toBe(before.json.accessToken);
    expect(after.json.corporationId).toBe(ROTATED.corporationId);
    // The container that cached the old token sees the rotation on its next secret read too.
    expect((await a.invoke('GET', '/tenants/acme/token')).json.corporationId).toBe(ROTATED.corporationId);
  });

  test('a token invalidated through one container is never served again by another, with no wait', async () => {
    const a = await container();
    const b = await container(a.tableName);
    const first = await a.invoke('GET', '/tenants/acme/token');
    expect((await b.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(first.json.accessToken);
    const report = await b.invoke('POST', '/tenants/acme/token/invalidate', JSON.stringify({ accessToken: first.json.accessToken }));
    expect(report.statusCode).toBe(200);
    expect(report.json.accessToken).not.toBe(first.json.accessToken);
    // No clock movement: a container that served the token a moment ago reads the table again.
    const next = await a.invoke('GET', '/tenants/acme/token');
    expect(next.statusCode).toBe(200);
    expect(next.json.accessToken).toBe(report.json.accessToken);
    expect((await b.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(next.json.accessToken);
    expect(simulator.counters().getAccessToken).toBe(2);
  });

  test('a container whose cached secret is older than the one another container used re-reads it and serves that token', async () => {
    const ROTATED_AT = new Date(SECRET_CREATED_DATE.getTime() + 24 * HOUR);
    // `a` caches the secret for an hour: it would not see a rotation on its own for that long.
    const a = await container(undefined, { SECRET_MAX_AGE_SECONDS: '3600' });
    const before = await a.invoke('GET', '/tenants/acme/token');
    expect(before.json.corporationId).toBe(CREDENTIAL.corporationId);
    expect(a.secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);

    secrets.set('acme', { appKey: ROTATED.appKey, appSecurity: ROTATED.appSecurity, baseUrl: simulator.baseUrl });
    createdDates.set('acme', ROTATED_AT);
    const b = await container(a.tableName, { SECRET_MAX_AGE_SECONDS: '3600' });
    const after = await b.invoke('GET', '/tenants/acme/token');
    expect(after.json.corporationId).toBe(ROTATED.corporationId);
    expect(after.json.accessToken).not.toBe(before.json.accessToken);

    // `a` sees the newer rank in the table, re-reads its secret skipping the cache, and serves b's token.
    const fromA = await a.invoke('GET', '/tenants/acme/token');
    expect(fromA.json.accessToken).toBe(after.json.accessToken);
    expect(a.secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(simulator.counters().getAccessToken).toBe(2);
    // From then on its cache holds the new version.
    await a.invoke('GET', '/tenants/acme/token');
    expect(a.secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('a container that keeps reading an older version than one already in use never fetches with it', async () => {
    const ROTATED_AT = new Date(SECRET_CREATED_DATE.getTime() + 24 * HOUR);
    const a = await container();
    secrets.set('acme', { appKey: ROTATED.appKey, appSecurity: ROTATED.appSecurity, baseUrl: simulator.baseUrl });
    createdDates.set('acme', ROTATED_AT);
    const rotated = await a.invoke('GET', '/tenants/acme/token');
    expect(rotated.json.corporationId).toBe(ROTATED.corporationId);

    // A lagging replica answers the previous version to another container, even on a forced read.
    secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl });
    createdDates.delete('acme');
    const lagging = await container(a.tableName);
    // While the newer version's token is servable, it gets that token.
    expect((await lagging.invoke('GET', '/tenants/acme/token')).json.accessToken).toBe(rotated.json.accessToken);
    // Once it is not, it refuses rather than replacing it with a token of the older credentials,
    // and says what the operator must do.
    clock.advance(2 * HOUR);
    const refused = await lagging.invoke('GET', '/tenants/acme/token');
    expect([refused.statusCode, refused.json.error.code]).toEqual([500, 'TENANT_MISCONFIGURED']);
    expect(refused.json.error.message).toContain('put the intended values as a new version');
    expect(simulator.counters().getAccessToken).toBe(1);
  });

  test('a trailing slash on baseUrl is tolerated', async () => {
    secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: `${simulator.baseUrl}/` });
    const { invoke } = await container();
    expect((await invoke('GET', '/tenants/acme/token')).statusCode).toBe(200);
  });
});

describe('errors', () => {
  async function expectError(response: { statusCode: number; json: any }, status: number, code: string) {
    expect(response.statusCode).toBe(status);
    expect(response.json.error.code).toBe(code);
    expect(typeof response.json.error.message).toBe('string');
    expect(typeof response.json.error.requestId).toBe('string');
  }

  test.each([
    ['/tenants/bad%20id/token'],
    ['/tenants/-leading-dash/token'],
    [`/tenants/${'a'.repeat(65)}/token`],
    ['/tenants/%C3%A9/token'],
  ])('INVALID_TENANT_ID for %s', async (path) => {
    const { invoke } = await container();
    await expectError(await invoke('GET', path), 400, 'INVALID_TENANT_ID');
  });

  test('TENANT_NOT_FOUND when no secret exists', async () => {
    const { invoke } = await container();
    await expectError(await invoke('GET', '/tenants/nobody/token'), 404, 'TENANT_NOT_FOUND');
  });

  test.each<[string, SecretValue]>([
    ['a secret that is not JSON', 'appKey=fake'],
    ['a secret without appSecurity', { appKey: 'fake-app-key-1' }],
    ['a secret without appKey', { appSecurity: 'fake-app-security-1' }],
    ['an http baseUrl', { appKey: 'k', appSecurity: 's', baseUrl: 'http://app.ekuaibao.com' }],
    ['a baseUrl that is no URL', { appKey: 'k', appSecurity: 's', baseUrl: 'app.ekuaibao.com' }],
    ['a secret the service may not read', new SecretsManagerServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        message: 'denied',
        $metadata: {},
      })],
  ])('TENANT_MISCONFIGURED for %s', async (_name, secret) => {
    secrets.set('broken', secret);
    const { invoke } = await container();
    await expectError(await invoke('GET', '/tenants/broken/token'), 500, 'TENANT_MISCONFIGURED');
    expect(simulator.counters().getAccessToken).toBe(0);
  });

  test('INTERNAL_ERROR for an unexpected Secrets Manager failure, without its message', async () => {
    secrets.set('acme', new InvalidRequestException({ message: 'boom at arn:aws:secretsmanager:fake', $metadata: {} }));
    const { invoke, secretsMock } = await container();
    const response = await invoke('GET', '/tenants/acme/token');
    await expectError(response, 500, 'INTERNAL_ERROR');
    expect(response.body).not.toContain('boom');
    // Not a transient failure: not retried.
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  test('DEPENDENCY_UNAVAILABLE with Retry-After when Secrets Manager keeps failing, after retries within the budget', async () => {
    secrets.set('acme', new InternalServiceError({ message: 'boom at arn:aws:secretsmanager:fake', $metadata: {} }));
    // The retries stop at the request budget, measured on the vendor's clock: a real one here.
    const { invoke, secretsMock } = await createHarness({
      tableName: uniqueTableName('vend'),
      secrets,
      env: { REQUEST_BUDGET_MS: '1000' },
    });
    const started = Date.now();
    const response = await invoke('GET', '/tenants/acme/token');
    await expectError(response, 503, 'DEPENDENCY_UNAVAILABLE');
    expect(response.headers['Retry-After']).toBe('1');
    expect(response.body).not.toContain('boom');
    expect(secretsMock.commandCalls(GetSecretValueCommand).length).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(simulator.counters().getAccessToken).toBe(0);
  });

  test('UPSTREAM_REJECTED_CREDENTIALS when the upstream answers 403', async () => {
    secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: 'wrong-fake-security', baseUrl: simulator.baseUrl });
    const { invoke } = await container();
    await expectError(await invoke('GET', '/tenants/acme/token'), 502, 'UPSTREAM_REJECTED_CREDENTIALS');
    expect(simulator.counters().getAccessToken).toBe(1);
  });

  test.each([
    ['a 500', { mode: 'status', status: 500 }],
    ['a 502', { mode: 'status', status: 502 }],
    ['a malformed body', { mode: 'malformed' }],
    ['a JSON body of the wrong shape', { mode: 'malformed', body: '{"value":{"accessToken":"x"}}' }],
    ['a dropped connection', { mode: 'drop' }],
    ['a hang', { mode: 'hang' }],
  ] as const)('UPSTREAM_UNAVAILABLE with Retry-After for %s', async (_name, fault) => {
    simulator.injectFault({ endpoint: 'getAccessToken', ...fault });
    const { invoke } = await container(undefined, { UPSTREAM_TIMEOUT_MS: '300' });
    const response = await invoke('GET', '/tenants/acme/token');
    await expectError(response, 503, 'UPSTREAM_UNAVAILABLE');
    expect(Number(response.headers['Retry-After'])).toBeGreaterThan(0);
    // Retried once with backoff, never more than the configured attempts.
    expect(simulator.counters().getAccessToken).toBe(2);
  });

  test('recovers when the upstream comes back', async () => {
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 503, times: 2 });
    const { invoke } = await container();
    expect((await invoke('GET', '/tenants/acme/token')).statusCode).toBe(503);
    expect((await invoke('GET', '/tenants/acme/token')).statusCode).toBe(200);
  });

  test('NOT_FOUND and METHOD_NOT_ALLOWED in the same shape', async () => {
    const { invoke } = await container();
    await expectError(await invoke('GET', '/tenants/acme'), 404, 'NOT_FOUND');
    await expectError(await invoke('GET', '/'), 404, 'NOT_FOUND');
    const wrongMethod = await invoke('DELETE', '/tenants/acme/token');
    await expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.Allow).toBe('GET');
  });
});

describe('secrets never leak', () => {
  test('no appSecurity, access token or refresh token in logs, metrics or error bodies', async () => {
    const seen = new Set<string>();
    const { output, result: bodies } = await captureOutput(async () => {
      const { invoke } = await container(undefined, {}, true);
      const collected: string[] = [];
      const ok = await invoke('GET', '/tenants/acme/token');
      collected.push(ok.body);
      seen.add(ok.json.accessToken);
      clock.advance(2 * HOUR);
      // Failures of every kind, each of which logs.
      simulator.injectFault({ endpoint: 'getAccessToken', mode: 'malformed', times: 2, body: '{"value":{"accessToken":"leak"}}' });
      collected.push((await invoke('GET', '/tenants/acme/token')).body);
      secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: 'wrong-fake-security', baseUrl: simulator.baseUrl });
      collected.push((await invoke('GET', '/tenants/acme/token')).body);
      secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: 'http://x' });
      collected.push((await invoke('GET', '/tenants/acme/token')).body);
      secrets.set('acme', { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl });
      const renewed = await invoke('GET', '/tenants/acme/token');
      seen.add(renewed.json.accessToken);
      // A stale report is answered with the current token (an answer, not a leak), and logs.
      const stale = await invoke('POST', '/tenants/acme/token/invalidate', '{"accessToken":"not-it"}');
      expect([stale.statusCode, stale.json.accessToken]).toEqual([200, renewed.json.accessToken]);
      collected.push((await invoke('POST', '/tenants/acme/token/invalidate', '{"accessToken":""}')).body);
      return collected;
    });
    expect(output).toContain('invalidation reported');
    expect(output).toContain('"service":"ekuaibao-token-vending"');
    expect(output).toContain('UpstreamCalls');
    const secretsToHide = [CREDENTIAL.appSecurity, 'wrong-fake-security', ...seen];
    for (const secret of secretsToHide) {
      expect(output).not.toContain(secret);
      for (const body of bodies.slice(1)) expect(body).not.toContain(secret);
    }
    // Refresh tokens are never returned, so they cannot be logged either; the table is the only holder.
    expect(bodies[0]).not.toContain('refreshToken');
  });

  test('the event is never logged, even with POWERTOOLS_LOGGER_LOG_EVENT=true', async () => {
    process.env.POWERTOOLS_LOGGER_LOG_EVENT = 'true';
    try {
      const { output } = await captureOutput(async () => {
        const { invoke } = await container(undefined, {}, true);
        const ok = await invoke('GET', '/tenants/acme/token');
        await invoke('POST', '/tenants/acme/token/invalidate', JSON.stringify({ accessToken: ok.json.accessToken }));
        return ok;
      });
      expect(output).toContain('invalidation reported');
      expect(output).not.toMatch(/ID_[A-Za-z0-9]{22}:/);
    } finally {
      delete process.env.POWERTOOLS_LOGGER_LOG_EVENT;
    }
  });
});
