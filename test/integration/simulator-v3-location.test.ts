import { startSimulator, type Simulator, type SimulatorOptions } from '../../local/simulator/simulator';

const CREDENTIAL = { appKey: 'test-app-key', appSecurity: 'test-app-security', corporationId: 'CORPtest0001' };
const OTHER_CREDENTIAL = { appKey: 'other-key', appSecurity: 'other-security', corporationId: 'CORPother002' };
const HOUR_MS = 3_600_000;
const KEY_INVALID = { value: { errorCode: 403, errorMessage: '密钥无效', errorDetail: null } };
const REFRESH_UNAUTHORIZED = { value: { errorCode: 403, errorMessage: '未授权', errorDetail: null } };
const API_UNAUTHORIZED = { errorCode: 403, errorMessage: '未授权', errorDetail: null };
const V3_KEY_INVALID = { code: '403', msg: '密钥无效', data: '' };
const V3_SYSTEM_ERROR = { code: '500', msg: 'system error', data: null, traceId: expect.stringMatching(/^[0-9a-f]{32}$/) };

interface V1Token {
  accessToken: string;
  refreshToken: string;
  expireTime: number;
  corporationId: string;
}

interface V3Data {
  corpId: string;
  accessToken: string;
  refreshToken: string;
  expiresTime: number;
  scope: string;
}

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

const pair = (c: { appKey: string; appSecurity: string }) => ({ appKey: c.appKey, appSecurity: c.appSecurity });

function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

function getAccessTokenV3(s: Simulator, body: unknown = pair(CREDENTIAL), init: RequestInit = {}): Promise<Response> {
  return postJson(`${s.baseUrl}/auth/openApi/v3/getAccessToken`, body, init);
}

async function issueV3(s: Simulator, credential = CREDENTIAL): Promise<V3Data> {
  const res = await getAccessTokenV3(s, pair(credential));
  expect(res.status).toBe(200);
  const envelope = (await res.json()) as { code: string; data: V3Data };
  expect(envelope.code).toBe('200');
  return envelope.data;
}

/** v1 getAccessToken at `prefix` (a base URL without trailing slash). */
function getAccessTokenAt(prefix: string, credential = CREDENTIAL): Promise<Response> {
  return postJson(`${prefix}/api/openapi/v1/auth/getAccessToken`, pair(credential));
}

async function issueV1(s: Simulator, credential = CREDENTIAL, prefix = s.baseUrl): Promise<V1Token> {
  const res = await getAccessTokenAt(prefix, credential);
  expect(res.status).toBe(200);
  return ((await res.json()) as { value: V1Token }).value;
}

function refreshAt(prefix: string, token: { accessToken: string; refreshToken: string }): Promise<Response> {
  const query = new URLSearchParams({ accessToken: token.accessToken, refreshToken: token.refreshToken, powerCode: '219904' });
  return fetch(`${prefix}/api/openapi/v2/auth/refreshToken?${query}`, { method: 'POST' });
}

function callProtectedAt(prefix: string, accessToken: string): Promise<Response> {
  return fetch(`${prefix}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(accessToken)}`);
}

function lookUp(s: Simulator, corpId?: string): Promise<Response> {
  const query = corpId === undefined ? '' : `?corpId=${encodeURIComponent(corpId)}`;
  return fetch(`${s.baseUrl}/api/openapi/v2/location${query}`);
}

async function locationValue(s: Simulator, corpId = CREDENTIAL.corporationId): Promise<string> {
  const res = await lookUp(s, corpId);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { value: string };
  expect(Object.keys(body)).toEqual(['value']);
  return body.value;
}

function control(s: Simulator, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${s.baseUrl}/__simulator/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('location (address prefix lookup)', () => {
  test("answers the simulator's own base URL with a trailing slash by default", async () => {
    const s = await start();
    expect(await locationValue(s)).toBe(`${s.baseUrl}/`);
    expect(s.locationOf(CREDENTIAL.corporationId)).toBe(`${s.baseUrl}/`);
  });

  test("answers a credential's environmentBaseUrl, with exactly one trailing slash", async () => {
    const s = await start({
      credentials: [
        { ...CREDENTIAL, environmentBaseUrl: 'https://dd2.hosecloud.com' },
        { ...OTHER_CREDENTIAL, environmentBaseUrl: 'https://wx2.ekuaibao.com/' },
      ],
    });
    expect(await locationValue(s)).toBe('https://dd2.hosecloud.com/');
    expect(await locationValue(s, OTHER_CREDENTIAL.corporationId)).toBe('https://wx2.ekuaibao.com/');
  });

  test('follows moveEnvironment at once, as after a platform upgrade', async () => {
    const s = await start();
    s.moveEnvironment(CREDENTIAL.corporationId, 'https://app.ekuaibao.com/');
    expect(await locationValue(s)).toBe('https://app.ekuaibao.com/');
    s.moveEnvironment(CREDENTIAL.corporationId, `${s.baseUrl}/dd2`);
    expect(await locationValue(s)).toBe(`${s.baseUrl}/dd2/`);
  });

  test('a missing or empty corpId is a 400 in JSON', async () => {
    const s = await start();
    for (const res of [await lookUp(s), await lookUp(s, '')]) {
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ errorCode: 400, errorMessage: 'corpId is required', errorDetail: null });
    }
  });

  test('an unknown corporation is a 404 in JSON (our choice; the docs are silent)', async () => {
    const s = await start();
    const res = await lookUp(s, 'CORPnobody99');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ errorCode: 404, errorMessage: 'corporation not found', errorDetail: null });
    expect(s.locationOf('CORPnobody99')).toBeUndefined();
    expect(s.counters()).toMatchObject({ location: 1, rejected: 0 });
  });

  test('is GET only, and lives at the root, not under a corporation prefix', async () => {
    const s = await start();
    s.moveEnvironment(CREDENTIAL.corporationId, `${s.baseUrl}/dd2`);
    const wrong = await fetch(`${s.baseUrl}/api/openapi/v2/location?corpId=${CREDENTIAL.corporationId}`, { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const prefixed = await fetch(`${s.baseUrl}/dd2/api/openapi/v2/location?corpId=${CREDENTIAL.corporationId}`);
    expect(prefixed.status).toBe(404);
  });

  test('moveEnvironment refuses an unknown corporation and a URL that is not a prefix', async () => {
    const s = await start();
    expect(() => s.moveEnvironment('CORPnobody99', 'https://app.ekuaibao.com')).toThrow(/invalid environment move/);
    for (const bad of ['app.ekuaibao.com', 'ftp://app.ekuaibao.com', 'https://app.ekuaibao.com/?x=1', 'https://a.com/#x', '']) {
      expect(() => s.moveEnvironment(CREDENTIAL.corporationId, bad)).toThrow(/invalid environment move/);
    }
    expect(() => s.addCredential({ ...OTHER_CREDENTIAL, environmentBaseUrl: 'nope' })).toThrow(/invalid credential/);
    expect(await locationValue(s)).toBe(`${s.baseUrl}/`);
  });

  test('the control API lists and moves prefixes, and refuses bad moves with 400', async () => {
    const s = await start({ credentials: [CREDENTIAL, OTHER_CREDENTIAL] });
    const moved = await control(s, 'POST', 'environments', { corporationId: CREDENTIAL.corporationId, baseUrl: 'https://feishu.ekuaibao.com' });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toEqual({ corporationId: CREDENTIAL.corporationId, location: 'https://feishu.ekuaibao.com/' });
    expect(await locationValue(s)).toBe('https://feishu.ekuaibao.com/');

    const listed = await control(s, 'GET', 'environments');
    expect(await listed.json()).toEqual({
      [CREDENTIAL.corporationId]: 'https://feishu.ekuaibao.com/',
      [OTHER_CREDENTIAL.corporationId]: `${s.baseUrl}/`,
    });

    for (const body of [
      { corporationId: 'CORPnobody99', baseUrl: 'https://app.ekuaibao.com' },
      { corporationId: CREDENTIAL.corporationId, baseUrl: 'not a url' },
      { corporationId: CREDENTIAL.corporationId, baseUrl: 'https://app.ekuaibao.com', extra: 1 },
    ]) {
      const res = await control(s, 'POST', 'environments', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_input' });
    }
    expect(await locationValue(s)).toBe('https://feishu.ekuaibao.com/');
  });

  test('reset keeps moved prefixes, like credentials', async () => {
    const s = await start();
    s.moveEnvironment(CREDENTIAL.corporationId, 'https://app.ekuaibao.com');
    s.reset();
    expect(await locationValue(s)).toBe('https://app.ekuaibao.com/');
  });
});

describe('calls are accepted only at the corporation prefix', () => {
  test('after a move to a path on this server, v1 issue, refresh and the protected call work there only', async () => {
    const s = await start({ credentials: [CREDENTIAL, OTHER_CREDENTIAL] });
    const before = await issueV1(s);
    const prefix = `${s.baseUrl}/dd2`;
    s.moveEnvironment(CREDENTIAL.corporationId, prefix);

    const atOld = await getAccessTokenAt(s.baseUrl);
    expect(atOld.status).toBe(403);
    expect(await atOld.json()).toEqual(KEY_INVALID);
    const issued = await issueV1(s, CREDENTIAL, prefix);

    // A token issued before the move is still a token, but only at the new prefix.
    const oldPlace = await callProtectedAt(s.baseUrl, before.accessToken);
    expect(oldPlace.status).toBe(403);
    expect(await oldPlace.json()).toEqual(API_UNAUTHORIZED);
    expect((await callProtectedAt(prefix, before.accessToken)).status).toBe(200);
    expect((await callProtectedAt(prefix, issued.accessToken)).status).toBe(200);

    const refusedRefresh = await refreshAt(s.baseUrl, issued);
    expect(refusedRefresh.status).toBe(403);
    expect(await refusedRefresh.json()).toEqual(REFRESH_UNAUTHORIZED);
    expect((await refreshAt(prefix, issued)).status).toBe(200);

    // The other corporation still lives at the root, and not under someone else's prefix.
    const other = await issueV1(s, OTHER_CREDENTIAL);
    expect((await callProtectedAt(s.baseUrl, other.accessToken)).status).toBe(200);
    expect((await callProtectedAt(prefix, other.accessToken)).status).toBe(403);
    expect((await getAccessTokenAt(prefix, OTHER_CREDENTIAL)).status).toBe(403);
  });

  test('a path that is nobody’s prefix stays a 404', async () => {
    const s = await start();
    const res = await fetch(`${s.baseUrl}/zz/api/openapi/v1/staffs?accessToken=x`);
    expect(res.status).toBe(404);
    expect(s.counters().protected).toBe(0);
  });

  test('a prefix on another host refuses every environment call here; v3 still issues', async () => {
    const s = await start({ credentials: [{ ...CREDENTIAL, environmentBaseUrl: 'https://app.ekuaibao.com' }] });
    expect((await getAccessTokenAt(s.baseUrl)).status).toBe(403);
    const { accessToken } = await issueV3(s);
    expect(s.isValid(accessToken)).toBe(true);
    expect((await callProtectedAt(s.baseUrl, accessToken)).status).toBe(403);
  });
});

describe('v3 getAccessToken', () => {
  test('answers the documented success envelope', async () => {
    const s = await start();
    const res = await getAccessTokenV3(s);
    expect(res.status).toBe(200);
    const envelope = (await res.json()) as { code: unknown; msg: unknown; data: V3Data };
    expect(Object.keys(envelope).sort()).toEqual(['code', 'data', 'msg']);
    expect(envelope.code).toBe('200');
    expect(envelope.msg).toBe('操作成功');

    const { data } = envelope;
    expect(Object.keys(data).sort()).toEqual(['accessToken', 'corpId', 'expiresTime', 'refreshToken', 'scope']);
    expect(data.corpId).toBe(CREDENTIAL.corporationId);
    expect(data.scope).toBe('tenant');
    expect(typeof data.expiresTime).toBe('number');
    expect(data.expiresTime).toBe(clock + 2 * HOUR_MS);
    expect(typeof data.refreshToken).toBe('string');
    expect(data.refreshToken).toMatch(/^[0-9A-Za-z]{28}$/);
    // JWT-shaped (three base64url parts, header starting `eyJ`), unsigned and saying so.
    expect(data.accessToken).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.fake-signature$/);
    const payload = jwtPayload(data.accessToken);
    expect(payload).toMatchObject({ fake: true, corpId: CREDENTIAL.corporationId, exp: Math.floor(data.expiresTime / 1000) });
  });

  test('issues different tokens each call, and the protected endpoint accepts them', async () => {
    const s = await start();
    const [a, b] = [await issueV3(s), await issueV3(s)];
    expect(a!.accessToken).not.toBe(b!.accessToken);
    for (const { accessToken } of [a!, b!]) {
      expect(s.isValid(accessToken)).toBe(true);
      const res = await callProtectedAt(s.baseUrl, accessToken);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ count: 0, items: [] });
    }
  });

  test.each([
    ['wrong secret', { appKey: CREDENTIAL.appKey, appSecurity: 'nope' }],
    ['unknown key', { appKey: 'nope', appSecurity: CREDENTIAL.appSecurity }],
  ])('refuses a %s with HTTP 200 and the 403 envelope', async (_name, body) => {
    const s = await start();
    const res = await getAccessTokenV3(s, body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(V3_KEY_INVALID);
    expect(s.counters()).toMatchObject({ getAccessTokenV3: 1, getAccessToken: 0, rejected: 1 });
  });

  test.each([
    ['missing appSecurity', JSON.stringify({ appKey: CREDENTIAL.appKey })],
    ['empty appKey', JSON.stringify({ appKey: '', appSecurity: CREDENTIAL.appSecurity })],
    ['empty body', ''],
    ['bad JSON', '{"appKey":'],
    ['a JSON array', '[]'],
  ])('answers %s with HTTP 200 and the 500 system error envelope', async (_name, body) => {
    const s = await start();
    const res = await getAccessTokenV3(s, body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(V3_SYSTEM_ERROR);
    expect(s.counters()).toMatchObject({ getAccessTokenV3: 1, rejected: 0 });
  });

  test('a body not sent as JSON carries no parameters: system error', async () => {
    const s = await start();
    const res = await getAccessTokenV3(s, pair(CREDENTIAL), { headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(V3_SYSTEM_ERROR);
  });

  test('each system error carries its own traceId', async () => {
    const s = await start();
    const ids = new Set<unknown>();
    for (let i = 0; i < 3; i++) ids.add(((await (await getAccessTokenV3(s, '')).json()) as { traceId: unknown }).traceId);
    expect(ids.size).toBe(3);
  });

  test('holds the token back for issueDelayMs, but refuses at once', async () => {
    const s = await start({ issueDelayMs: 250 });
    let started = performance.now();
    await issueV3(s);
    expect(performance.now() - started).toBeGreaterThanOrEqual(245);

    s.configure({ issueDelayMs: 5000 });
    started = performance.now();
    expect(await (await getAccessTokenV3(s, { appKey: 'nope', appSecurity: 'nope' })).json()).toEqual(V3_KEY_INVALID);
    expect(await (await getAccessTokenV3(s, '{')).json()).toEqual(V3_SYSTEM_ERROR);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test('uses tokenLifetimeMs; the token dies at expiresTime', async () => {
    const s = await start({ tokenLifetimeMs: 1000 });
    const { accessToken, expiresTime } = await issueV3(s);
    expect(expiresTime).toBe(clock + 1000);
    clock += 999;
    expect((await callProtectedAt(s.baseUrl, accessToken)).status).toBe(200);
    clock += 1;
    expect((await callProtectedAt(s.baseUrl, accessToken)).status).toBe(403);
  });

  test('is POST only and lives at the root only', async () => {
    const s = await start();
    const wrong = await fetch(`${s.baseUrl}/auth/openApi/v3/getAccessToken`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    s.moveEnvironment(CREDENTIAL.corporationId, `${s.baseUrl}/dd2`);
    expect((await postJson(`${s.baseUrl}/dd2/auth/openApi/v3/getAccessToken`, pair(CREDENTIAL))).status).toBe(404);
    expect(s.counters().getAccessTokenV3).toBe(0);
  });

  test('its refresh token works with the v2 refresh endpoint (our choice; undocumented)', async () => {
    const s = await start();
    const v3 = await issueV3(s);
    const res = await refreshAt(s.baseUrl, v3);
    expect(res.status).toBe(200);
    const { value } = (await res.json()) as { value: V1Token };
    expect(value.corporationId).toBe(CREDENTIAL.corporationId);
    expect((await callProtectedAt(s.baseUrl, value.accessToken)).status).toBe(200);
  });
});

describe('one token lineage per corporation across v1 and v3', () => {
  test('newTokenInvalidatesOld: a v3 token kills an older v1 token of the same corporation only', async () => {
    const s = await start({ newTokenInvalidatesOld: true, credentials: [CREDENTIAL, OTHER_CREDENTIAL] });
    const v1 = await issueV1(s);
    const other = await issueV1(s, OTHER_CREDENTIAL);
    const v3 = await issueV3(s);

    const res = await callProtectedAt(s.baseUrl, v1.accessToken);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(API_UNAUTHORIZED);
    expect((await callProtectedAt(s.baseUrl, v3.accessToken)).status).toBe(200);
    expect((await callProtectedAt(s.baseUrl, other.accessToken)).status).toBe(200);
  });

  test('newTokenInvalidatesOld: a v1 token kills an older v3 token', async () => {
    const s = await start({ newTokenInvalidatesOld: true });
    const v3 = await issueV3(s);
    await issueV1(s);
    expect(s.isValid(v3.accessToken)).toBe(false);
  });

  test('without it, v1 and v3 tokens of one corporation live side by side', async () => {
    const s = await start();
    const v1 = await issueV1(s);
    const v3 = await issueV3(s);
    expect((await callProtectedAt(s.baseUrl, v1.accessToken)).status).toBe(200);
    expect((await callProtectedAt(s.baseUrl, v3.accessToken)).status).toBe(200);
  });
});

describe('counters for the new endpoints', () => {
  test('count calls and the peak of concurrent v3 calls and lookups', async () => {
    const s = await start({ issueDelayMs: 150 });
    await Promise.all(Array.from({ length: 4 }, () => issueV3(s)));
    await issueV3(s);
    await getAccessTokenV3(s, { appKey: 'x', appSecurity: 'y' });
    // The lookup answers at once; a delay fault holds three of them open together.
    s.injectFault({ endpoint: 'location', mode: 'delay', delayMs: 150, times: 3 });
    await Promise.all([lookUp(s, CREDENTIAL.corporationId), lookUp(s, CREDENTIAL.corporationId), lookUp(s, 'nobody')]);
    await lookUp(s);

    expect(s.counters()).toEqual({
      getAccessToken: 0,
      refreshToken: 0,
      protected: 0,
      location: 4,
      getAccessTokenV3: 6,
      rejected: 1,
      inFlightMax: { getAccessToken: 0, refreshToken: 0, getAccessTokenV3: 4, location: 3 },
    });
    const viaControl = await control(s, 'GET', 'counters');
    expect(await viaControl.json()).toEqual(s.counters());

    s.reset();
    expect(s.counters()).toMatchObject({ location: 0, getAccessTokenV3: 0, inFlightMax: { getAccessTokenV3: 0, location: 0 } });
  });
});

describe('faults on the new endpoints', () => {
  test('location: status answers the bare Open API error, 403 counts as rejected', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'location', mode: 'status', status: 503, times: 1 });
    s.injectFault({ endpoint: 'location', mode: 'status', status: 403, times: 1 });
    const unavailable = await lookUp(s, CREDENTIAL.corporationId);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toEqual({ errorCode: 503, errorMessage: 'simulated upstream fault', errorDetail: null });
    const refused = await lookUp(s, CREDENTIAL.corporationId);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual(API_UNAUTHORIZED);
    expect(s.counters()).toMatchObject({ location: 2, rejected: 1 });
    expect(await locationValue(s)).toBe(`${s.baseUrl}/`);
  });

  test('location: malformed can answer the empty-value variant; drop and hang work', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'location', mode: 'malformed', body: '{"value":""}', times: 1 });
    expect(await (await lookUp(s, CREDENTIAL.corporationId)).json()).toEqual({ value: '' });

    s.injectFault({ endpoint: 'location', mode: 'drop', times: 1 });
    await expect(lookUp(s, CREDENTIAL.corporationId)).rejects.toMatchObject(FETCH_FAILED);

    s.injectFault({ endpoint: 'location', mode: 'hang', times: 1 });
    const error = await fetch(`${s.baseUrl}/api/openapi/v2/location?corpId=${CREDENTIAL.corporationId}`, {
      signal: AbortSignal.timeout(200),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(s.counters().location).toBe(3);
  });

  test('v3: an HTTP status fault answers that status with an error envelope and issues no token', async () => {
    const s = await start({ newTokenInvalidatesOld: true });
    const before = await issueV1(s);
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'status', status: 502, times: 1 });
    const res = await getAccessTokenV3(s);
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      code: '502',
      msg: 'simulated upstream fault',
      data: null,
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(s.isValid(before.accessToken)).toBe(true);
  });

  test('v3: status 403 is an HTTP 403 with the refusal envelope, counted as rejected', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'status', status: 403, times: 1 });
    const res = await getAccessTokenV3(s);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(V3_KEY_INVALID);
    expect(s.counters().rejected).toBe(1);
  });

  test('v3: envelope answers HTTP 200 with the code asked for', async () => {
    const s = await start({ newTokenInvalidatesOld: true });
    const before = await issueV1(s);
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'envelope', times: 1 });
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'envelope', code: '403', times: 1 });
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'envelope', code: '429', times: 1 });
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'envelope', code: '500', status: 503, times: 1 });

    const systemError = await getAccessTokenV3(s);
    expect(systemError.status).toBe(200);
    expect(await systemError.json()).toEqual(V3_SYSTEM_ERROR);
    const refused = await getAccessTokenV3(s);
    expect(refused.status).toBe(200);
    expect(await refused.json()).toEqual(V3_KEY_INVALID);
    const other = await getAccessTokenV3(s);
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ code: '429', msg: 'simulated upstream fault', data: null, traceId: expect.any(String) });
    const withStatus = await getAccessTokenV3(s);
    expect(withStatus.status).toBe(503);
    expect(await withStatus.json()).toEqual(V3_SYSTEM_ERROR);

    expect(s.counters()).toMatchObject({ getAccessTokenV3: 4, rejected: 1 });
    expect(s.isValid(before.accessToken)).toBe(true);
    expect((await issueV3(s)).corpId).toBe(CREDENTIAL.corporationId);
  });

  test('v3: delay adds to the issue delay, then issues normally', async () => {
    const s = await start({ issueDelayMs: 100 });
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'delay', delayMs: 150, times: 1 });
    const started = performance.now();
    const { accessToken } = await issueV3(s);
    expect(performance.now() - started).toBeGreaterThanOrEqual(245);
    expect(s.isValid(accessToken)).toBe(true);
  });

  test('v3: malformed, drop and a wildcard fault reach it too', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'malformed', times: 1 });
    const malformed = await getAccessTokenV3(s);
    expect(malformed.status).toBe(200);
    const text = await malformed.text();
    expect(text).toContain('<html>');
    expect(() => JSON.parse(text)).toThrow();

    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'drop', times: 1 });
    await expect(getAccessTokenV3(s)).rejects.toMatchObject(FETCH_FAILED);

    s.injectFault({ endpoint: '*', mode: 'status', status: 504, times: 2 });
    expect((await getAccessTokenV3(s)).status).toBe(504);
    expect((await lookUp(s, CREDENTIAL.corporationId)).status).toBe(504);
    expect((await getAccessTokenV3(s)).status).toBe(200);
  });

  test('faults on one new endpoint leave the others alone', async () => {
    const s = await start();
    s.injectFault({ endpoint: 'location', mode: 'status', status: 500 });
    s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'status', status: 500 });
    expect((await getAccessTokenAt(s.baseUrl)).status).toBe(200);
    expect((await lookUp(s, CREDENTIAL.corporationId)).status).toBe(500);
    s.clearFaults();
    expect(await locationValue(s)).toBe(`${s.baseUrl}/`);
    expect((await getAccessTokenV3(s)).status).toBe(200);
  });

  test('envelope is refused on endpoints without an envelope', async () => {
    const s = await start();
    for (const endpoint of ['getAccessToken', 'location', '*'] as const) {
      expect(() => s.injectFault({ endpoint, mode: 'envelope' })).toThrow(/invalid fault/);
    }
    expect(() => s.injectFault({ endpoint: 'getAccessTokenV3', mode: 'envelope', code: '' })).toThrow(/invalid fault/);
    const res = await control(s, 'POST', 'faults', { endpoint: 'protected', mode: 'envelope', code: '403' });
    expect(res.status).toBe(400);
    const ok = await control(s, 'POST', 'faults', { endpoint: 'getAccessTokenV3', mode: 'envelope', code: '403', times: 1 });
    expect(ok.status).toBe(200);
    expect(await (await getAccessTokenV3(s)).json()).toEqual(V3_KEY_INVALID);
  });
});
