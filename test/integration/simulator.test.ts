import { startSimulator, type Simulator, type SimulatorOptions } from '../../local/simulator/simulator';

const CREDENTIAL = { appKey: 'test-app-key', appSecurity: 'test-app-security', corporationId: 'CORPtest0001' };
const OTHER_CREDENTIAL = { appKey: 'other-key', appSecurity: 'other-security', corporationId: 'CORPother002' };
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const KEY_INVALID = { value: { errorCode: 403, errorMessage: '密钥无效', errorDetail: null } };
const REFRESH_UNAUTHORIZED = { value: { errorCode: 403, errorMessage: '未授权', errorDetail: null } };
const API_UNAUTHORIZED = { errorCode: 403, errorMessage: '未授权', errorDetail: null };

interface TokenValue {
  accessToken: string;
  refreshToken: string;
  expireTime: number;
  corporationId: string;
}

// fetch's errors come from Node's realm, not Jest's, so `toBeInstanceOf(TypeError)` cannot match.
const FETCH_FAILED = { name: 'TypeError', message: 'fetch failed' };

let sim: Simulator | undefined;
let clock = 1_700_000_000_000;

async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator({ issueDelayMs: 0, credentials: [CREDENTIAL], now: () => clock, ...options });
  return sim;
}

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function getAccessToken(s: Simulator, body: unknown = CREDENTIAL, query = '', init: RequestInit = {}): Promise<Response> {
  return fetch(`${s.baseUrl}/api/openapi/v1/auth/getAccessToken${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

async function issue(s: Simulator, credential = CREDENTIAL): Promise<TokenValue> {
  const res = await getAccessToken(s, { appKey: credential.appKey, appSecurity: credential.appSecurity });
  expect(res.status).toBe(200);
  return ((await res.json()) as { value: TokenValue }).value;
}

function refresh(
  s: Simulator,
  params: { accessToken: string; refreshToken: string; powerCode?: string; expireDate?: string },
  init: RequestInit = {},
): Promise<Response> {
  const { expireDate, ...rest } = params;
  const query = new URLSearchParams({ powerCode: '219904', ...rest });
  if (expireDate !== undefined) query.set('expireDate', expireDate);
  const path = expireDate === undefined ? 'refreshToken' : 'refreshToken/expireDate';
  return fetch(`${s.baseUrl}/api/openapi/v2/auth/${path}?${query}`, { method: 'POST', ...init });
}

function callProtected(s: Simulator, accessToken: string): Promise<Response> {
  return fetch(`${s.baseUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(accessToken)}`);
}

function control(s: Simulator, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${s.baseUrl}/__simulator/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

describe('getAccessToken', () => {
  test('issues a token that the protected endpoint accepts', async () => {
    const s = await start();
    const value = await issue(s);

    expect(value.corporationId).toBe(CREDENTIAL.corporationId);
    expect(value.expireTime).toBe(clock + 2 * HOUR_MS);
    // Tokens carry a ':' so clients must URL-encode them, as the docs warn.
    expect(value.accessToken).toMatch(/^ID_[0-9A-Za-z]{22}:CORPtest0001$/);
    expect(value.refreshToken).toMatch(/^[0-9A-Za-z]{28}$/);
    expect(value.refreshToken).not.toBe(value.accessToken);
    expect(s.isValid(value.accessToken)).toBe(true);

    const res = await callProtected(s, value.accessToken);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ count: 0, items: [] });
  });

  test('issues a different random token on every call', async () => {
    const s = await start();
    const tokens = await Promise.all([issue(s), issue(s), issue(s)]);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(3);
    expect(new Set(tokens.map((t) => t.refreshToken)).size).toBe(3);
  });

  test.each([
    ['wrong secret', JSON.stringify({ appKey: CREDENTIAL.appKey, appSecurity: 'nope' })],
    ['unknown key', JSON.stringify({ appKey: 'nope', appSecurity: CREDENTIAL.appSecurity })],
    ['missing appSecurity', JSON.stringify({ appKey: CREDENTIAL.appKey })],
    ['empty body', ''],
    ['bad JSON', '{"appKey":'],
  ])('refuses %s with the documented 403 body', async (_name, body) => {
    const s = await start();
    const res = await getAccessToken(s, body);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(KEY_INVALID);
    expect(s.counters()).toMatchObject({ getAccessToken: 1, rejected: 1 });
  });

  test('refuses credentials in the query string even when the body is right', async () => {
    const s = await start();
    for (const query of [`?appKey=${CREDENTIAL.appKey}`, `?appSecurity=${CREDENTIAL.appSecurity}`, '?appKey=']) {
      const res = await getAccessToken(s, CREDENTIAL, query);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual(KEY_INVALID);
    }
  });

  test('refuses a body that is not sent as JSON', async () => {
    const s = await start();
    const res = await getAccessToken(s, CREDENTIAL, '', { headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(KEY_INVALID);
  });

  test('holds the token back for issueDelayMs, like the real endpoint', async () => {
    const s = await start({ issueDelayMs: 250 });
    const started = performance.now();
    await issue(s);
    expect(performance.now() - started).toBeGreaterThanOrEqual(245); // timer granularity
  });

  test('a token stops working when the clock passes its expireTime', async () => {
    const s = await start({ tokenLifetimeMs: 1000 });
    const { accessToken, expireTime } = await issue(s);
    expect(expireTime).toBe(clock + 1000);

    clock += 999;
    expect((await callProtected(s, accessToken)).status).toBe(200);
    clock += 1;
    const res = await callProtected(s, accessToken);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(API_UNAUTHORIZED);
    expect(s.isValid(accessToken)).toBe(false);
  });
});

describe('protected endpoint', () => {
  test('refuses a missing or unknown token', async () => {
    const s = await start();
    const missing = await fetch(`${s.baseUrl}/api/openapi/v1/staffs`);
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual(API_UNAUTHORIZED);
    expect((await callProtected(s, 'ID_forged:CORPtest0001')).status).toBe(403);
    expect(s.counters()).toMatchObject({ protected: 2, rejected: 2 });
  });
});

describe('refreshToken', () => {
  test('replaces both tokens and gives the new one the 32-day lifetime', async () => {
    const s = await start();
    const old = await issue(s);
    clock += 60_000;

    const res = await refresh(s, old);
    expect(res.status).toBe(200);
    const { value } = (await res.json()) as { value: TokenValue };
    expect(value.accessToken).not.toBe(old.accessToken);
    expect(value.refreshToken).not.toBe(old.refreshToken);
    expect(value.corporationId).toBe(CREDENTIAL.corporationId);
    expect(value.expireTime).toBe(clock + 32 * DAY_MS);
    expect((await callProtected(s, value.accessToken)).status).toBe(200);
    expect(s.counters().refreshToken).toBe(1);
  });

  test('honours the issue delay', async () => {
    const s = await start();
    const old = await issue(s);
    s.configure({ issueDelayMs: 200 });
    const started = performance.now();
    expect((await refresh(s, old)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
  });

  test('refuses an expired access token', async () => {
    const s = await start();
    const old = await issue(s);
    clock += 2 * HOUR_MS;
    const res = await refresh(s, old);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(REFRESH_UNAUTHORIZED);
  });

  test('a refresh token works once', async () => {
    const s = await start();
    const old = await issue(s);
    expect((await refresh(s, old)).status).toBe(200);
    const again = await refresh(s, old);
    expect(again.status).toBe(403);
    expect(await again.json()).toEqual(REFRESH_UNAUTHORIZED);
  });

  test('only one of two concurrent refreshes with the same pair wins', async () => {
    const s = await start({ issueDelayMs: 100 });
    const old = await issue(s);
    const statuses = (await Promise.all([refresh(s, old), refresh(s, old)])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 403]);
  });

  test.each([
    ['wrong powerCode', { powerCode: '123' }],
    ['refresh token of another lineage', { refreshToken: 'not-the-one' }],
    ['unknown access token', { accessToken: 'ID_forged:CORPtest0001' }],
  ])('refuses a %s', async (_name, override) => {
    const s = await start();
    const old = await issue(s);
    const res = await refresh(s, { ...old, ...override });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(REFRESH_UNAUTHORIZED);
    expect(s.isValid(old.accessToken)).toBe(true);
  });

  test('expireDate variant sets the lifetime in whole days', async () => {
    const s = await start();
    const old = await issue(s);
    const res = await refresh(s, { ...old, expireDate: '7' });
    expect(res.status).toBe(200);
    const { value } = (await res.json()) as { value: TokenValue };
    expect(value.expireTime).toBe(clock + 7 * DAY_MS);
  });

  test.each(['0', '-1', '1.5', 'abc', ''])('expireDate variant refuses expireDate=%j', async (expireDate) => {
    const s = await start();
    const old = await issue(s);
    const res = await refresh(s, { ...old, expireDate });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(REFRESH_UNAUTHORIZED);
  });
});

describe('newTokenInvalidatesOld', () => {
  test('off: earlier tokens stay valid after a new issue and after a refresh', async () => {
    const s = await start({ newTokenInvalidatesOld: false });
    const first = await issue(s);
    const second = await issue(s);
    expect((await callProtected(s, first.accessToken)).status).toBe(200);
    const refreshed = await refresh(s, second);
    expect(refreshed.status).toBe(200);
    expect((await callProtected(s, second.accessToken)).status).toBe(200);
  });

  test('on: a new issue kills earlier tokens of the same corporation only', async () => {
    const s = await start({ newTokenInvalidatesOld: true, credentials: [CREDENTIAL, OTHER_CREDENTIAL] });
    const first = await issue(s);
    const other = await issue(s, OTHER_CREDENTIAL);
    const second = await issue(s);

    const res = await callProtected(s, first.accessToken);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(API_UNAUTHORIZED);
    expect((await callProtected(s, second.accessToken)).status).toBe(200);
    expect((await callProtected(s, other.accessToken)).status).toBe(200);
  });

  test('on: a refresh kills the access token it replaced', async () => {
    const s = await start({ newTokenInvalidatesOld: true });
    const old = await issue(s);
    const res = await refresh(s, old);
    const { value } = (await res.json()) as { value: TokenValue };
    expect((await callProtected(s, old.accessToken)).status).toBe(403);
    expect((await callProtected(s, value.accessToken)).status).toBe(200);
  });

  test('can be switched at runtime', async () => {
    const s = await start();
    const first = await issue(s);
    s.configure({ newTokenInvalidatesOld: true });
    await issue(s);
    expect(s.isValid(first.accessToken)).toBe(false);
  });
});

describe('faults', () => {
  test.each([500, 502])('status %i answers an error and issues no token', async (status) => {
    const s = await start({ newTokenInvalidatesOld: true });
    const before = await issue(s);
    s.injectFault({ endpoint: 'getAccessToken', mode: 'status', status });
    const res = await getAccessToken(s);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { value: { errorCode: number; accessToken?: unknown } };
    expect(body.value.errorCode).toBe(status);
    expect(body.value.accessToken).toBeUndefined();
    // With invalidation on, an issued token would have killed the earlier one.
    expect(s.isValid(before.accessToken)).toBe(true);
  });

  test('status 403 looks exactly like a real refusal and counts as rejected', async () => {
    const s = await start();
    const { accessToken } = await issue(s);
    s.injectFault({ endpoint: 'protected', mode: 'status', status: 403, times: 1 });
    const res = await callProtected(s, accessToken);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(API_UNAUTHORIZED);
    expect(s.counters().rejected).toBe(1);
    expect((await callProtected(s, accessToken)).status).toBe(200);
  });

  test('status defaults to 500', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'refreshToken', mode: 'status' });
    const res = await refresh(s, { accessToken: 'a', refreshToken: 'b' });
    expect(res.status).toBe(500);
  });

  test('delay waits, then behaves normally', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessToken', mode: 'delay', delayMs: 200, times: 1 });
    const started = performance.now();
    const value = await issue(s);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(s.isValid(value.accessToken)).toBe(true);
  });

  test('hang never answers; the client gives up on its own timeout', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessToken', mode: 'hang' });
    const error = await getAccessToken(s, CREDENTIAL, '', { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(s.counters().getAccessToken).toBe(1);
  });

  test('malformed answers 200 with a body that is not JSON by default', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessToken', mode: 'malformed', times: 1 });
    const res = await getAccessToken(s);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('<html>');
    expect(() => JSON.parse(text)).toThrow();
  });

  test('malformed sends the given body verbatim, e.g. JSON of the wrong shape', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'refreshToken', mode: 'malformed', body: '{"value":{"accessToken":42}}' });
    const res = await refresh(s, { accessToken: 'a', refreshToken: 'b' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ value: { accessToken: 42 } });
  });

  test('drop closes the connection without an answer', async () => {
    const s = await start();
    // A kept-alive connection first, so the drop also hits a reused socket.
    await issue(s);
    s.injectFault({ endpoint: 'getAccessToken', mode: 'drop', times: 1 });
    await expect(getAccessToken(s)).rejects.toMatchObject(FETCH_FAILED);
    expect(s.counters().getAccessToken).toBe(2);
    expect((await getAccessToken(s)).status).toBe(200);
  });

  test('times limits a fault to that many calls, then normal service resumes', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 502, times: 2 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await getAccessToken(s)).status);
    expect(statuses).toEqual([502, 502, 200, 200]);
  });

  test('without times a fault stays until cleared', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 503 });
    for (let i = 0; i < 3; i++) expect((await getAccessToken(s)).status).toBe(503);
    s.clearFaults();
    expect((await getAccessToken(s)).status).toBe(200);
  });

  test('the first matching fault applies; other endpoints are untouched', async () => {
    const s = await start();
    const { accessToken } = await issue(s);
    s.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 502, times: 1 });
    s.injectFault({ endpoint: '*', mode: 'status', status: 504, times: 2 });

    expect((await getAccessToken(s)).status).toBe(502);
    expect((await getAccessToken(s)).status).toBe(504);
    expect((await callProtected(s, accessToken)).status).toBe(504);
    expect((await callProtected(s, accessToken)).status).toBe(200);
  });

  test('refuses an invalid fault', async () => {
    const s = await start();
    expect(() => s.injectFault({ endpoint: 'nope' as never, mode: 'hang' })).toThrow(/invalid fault/);
    expect(() => s.injectFault({ endpoint: '*', mode: 'status', times: 0 })).toThrow(/invalid fault/);
  });
});

describe('counters', () => {
  test('count calls per endpoint and the peak of concurrent calls', async () => {
    const s = await start({ issueDelayMs: 150 });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => issue(s)));
    await Promise.all(tokens.slice(0, 3).map((t) => refresh(s, t)));
    await refresh(s, tokens[3]!);
    await getAccessToken(s, { appKey: 'x', appSecurity: 'y' });
    await callProtected(s, 'nope');

    expect(s.counters()).toEqual({
      getAccessToken: 6,
      refreshToken: 4,
      protected: 1,
      location: 0,
      getAccessTokenV3: 0,
      rejected: 2,
      inFlightMax: { getAccessToken: 5, refreshToken: 3, getAccessTokenV3: 0, location: 0 },
    });
  });

  test('sequential calls never overlap', async () => {
    const s = await start({ issueDelayMs: 20 });
    for (let i = 0; i < 3; i++) await issue(s);
    expect(s.counters().inFlightMax.getAccessToken).toBe(1);
  });

  test('reset zeroes counters, clears faults and forgets tokens, but keeps credentials', async () => {
    const s = await start();
    const { accessToken } = await issue(s);
    s.injectFault({ endpoint: '*', mode: 'status', status: 500 });
    s.reset();

    expect(s.counters()).toEqual({
      getAccessToken: 0,
      refreshToken: 0,
      protected: 0,
      location: 0,
      getAccessTokenV3: 0,
      rejected: 0,
      inFlightMax: { getAccessToken: 0, refreshToken: 0, getAccessTokenV3: 0, location: 0 },
    });
    expect(s.isValid(accessToken)).toBe(false);
    expect((await getAccessToken(s)).status).toBe(200);
  });
});

describe('HTTP control API', () => {
  test('drives the same operations as the programmatic API', async () => {
    const s = await start({ credentials: [] });

    expect((await getAccessToken(s)).status).toBe(403);
    const added = await control(s, 'POST', 'credentials', CREDENTIAL);
    expect(added.status).toBe(200);
    expect(JSON.stringify(await added.json())).not.toContain(CREDENTIAL.appSecurity);
    expect((await getAccessToken(s)).status).toBe(200);

    const settings = await control(s, 'PUT', 'settings', { tokenLifetimeMs: 5000, newTokenInvalidatesOld: true });
    expect(await settings.json()).toEqual({
      issueDelayMs: 0,
      tokenLifetimeMs: 5000,
      refreshedTokenLifetimeMs: 32 * DAY_MS,
      newTokenInvalidatesOld: true,
    });
    expect((await issue(s)).expireTime).toBe(clock + 5000);

    expect((await control(s, 'POST', 'faults', { endpoint: 'getAccessToken', mode: 'status', status: 502 })).status).toBe(200);
    expect((await getAccessToken(s)).status).toBe(502);
    expect((await control(s, 'DELETE', 'faults')).status).toBe(200);
    expect((await getAccessToken(s)).status).toBe(200);

    const counters = await control(s, 'GET', 'counters');
    expect(await counters.json()).toEqual(s.counters());
    expect(s.counters().getAccessToken).toBe(5);

    expect((await control(s, 'POST', 'reset')).status).toBe(200);
    expect(s.counters().getAccessToken).toBe(0);
  });

  test('answers 400 for invalid input and changes nothing', async () => {
    const s = await start();
    const bad = await control(s, 'PUT', 'settings', { issueDelayMs: -5 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_input' });
    expect((await control(s, 'PUT', 'settings', { issueDelayMS: 5 })).status).toBe(400);
    expect((await control(s, 'POST', 'faults', { endpoint: '*', mode: 'explode' })).status).toBe(400);
    expect((await control(s, 'POST', 'credentials', { appKey: 'k' })).status).toBe(400);
    const notJson = await fetch(`${s.baseUrl}/__simulator/faults`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    for (const [path, method] of [['settings', 'PUT'], ['faults', 'POST'], ['credentials', 'POST'], ['environments', 'POST']]) {
      for (const body of ['null', '[]', '7']) {
        expect((await fetch(`${s.baseUrl}/__simulator/${path}`, { method, body })).status).toBe(400);
      }
    }
    expect((await getAccessToken(s)).status).toBe(200);
  });

  test('answers 404 and 405 in JSON', async () => {
    const s = await start();
    const missing = await control(s, 'GET', 'nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
    const wrong = await control(s, 'DELETE', 'counters');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
  });
});

describe('routing', () => {
  test('unknown path is 404 and wrong method is 405, both JSON', async () => {
    const s = await start();
    const missing = await fetch(`${s.baseUrl}/api/openapi/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errorCode: 404 });

    const wrong = await fetch(`${s.baseUrl}/api/openapi/v1/auth/getAccessToken`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(await wrong.json()).toMatchObject({ errorCode: 405 });
    expect(s.counters().getAccessToken).toBe(0);
  });
});

describe('lifecycle', () => {
  test('close() ends promptly while a request hangs and a token is being delayed', async () => {
    const s = await start({ issueDelayMs: 60_000 });
    s.injectFault({ endpoint: 'protected', mode: 'hang' });
    const hanging = callProtected(s, 'x').catch((e: unknown) => e);
    const delayed = getAccessToken(s).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(s.counters()).toMatchObject({ protected: 1, getAccessToken: 1 });

    const started = performance.now();
    await s.close();
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await hanging).toMatchObject(FETCH_FAILED);
    expect(await delayed).toMatchObject(FETCH_FAILED);
    await expect(fetch(`${s.baseUrl}/__simulator/counters`)).rejects.toMatchObject(FETCH_FAILED);
  });

  test('close() can be called twice', async () => {
    const s = await start();
    await Promise.all([s.close(), s.close()]);
    await s.close();
  });

  test('listens on a free loopback port by default', async () => {
    const s = await start();
    expect(s.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
