/**
 * Issue 13, the adapters over real HTTP against the simulator: the v3 getAccessToken (JSON in, an
 * envelope out, failures as HTTP 200 with a code) and the location API (a prefix with a trailing
 * slash), and what each failure becomes. No error names a token, a secret or a URL.
 */
import { DEFAULT_V3_BASE_URL, EkuaibaoClient, EkuaibaoLocator } from '../../functions/adapters/ekuaibao-client';
import { VendingError } from '../../functions/domain/errors';
import type { LocatedCredentials } from '../../functions/domain/types';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';

const CORP = 'FAKEcorpV3000';
const KEY = { appKey: 'fake-v3-app-key', appSecurity: 'fake-v3-app-security-not-real', corporationId: CORP };
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ issueDelayMs: 0, credentials: [KEY] });
});
afterAll(() => sim.close());
afterEach(() => sim.clearFaults());

const signal = () => AbortSignal.timeout(5_000);
const v3 = (): LocatedCredentials => ({ appKey: KEY.appKey, appSecurity: KEY.appSecurity, authVersion: 'v3', corpId: CORP, baseUrl: 'https://dd2.hosecloud.com', rank: 0 });

async function failureOf(promise: Promise<unknown>): Promise<VendingError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VendingError);
  const message = (error as Error).message;
  for (const secret of [KEY.appSecurity, 'eyJ', sim.baseUrl]) expect(message).not.toContain(secret);
  return error as VendingError;
}

describe('v3 getAccessToken', () => {
  const client = () => new EkuaibaoClient({ v3BaseUrl: sim.baseUrl });

  test('maps the envelope: corpId becomes the corporationId, expiresTime the expireTime, scope kept, and the prefix it was asked for', async () => {
    const before = sim.counters().getAccessTokenV3;
    const token = await client().getAccessToken(v3(), signal());
    expect(sim.counters().getAccessTokenV3).toBe(before + 1);
    expect(token.corporationId).toBe(CORP);
    expect(token.expireTime).toBeGreaterThan(Date.now() + 60 * 60_000);
    expect(token.scope).toBe('tenant');
    expect(token.baseUrl).toBe('https://dd2.hosecloud.com');
    expect(token.accessToken.length).toBeGreaterThan(10);
  });

  test('code "403" (HTTP 200) is rejected credentials', async () => {
    const error = await failureOf(client().getAccessToken({ ...v3(), appSecurity: 'fake-wrong-security' }, signal()));
    expect(error.code).toBe('UPSTREAM_REJECTED_CREDENTIALS');
  });

  test.each([
    ['a "500" envelope', { endpoint: 'getAccessTokenV3', mode: 'envelope', code: '500' }],
    ['an HTTP 503', { endpoint: 'getAccessTokenV3', mode: 'status', status: 503 }],
    ['a body that is not JSON', { endpoint: 'getAccessTokenV3', mode: 'malformed' }],
  ] as const)('%s is the upstream being unavailable', async (_, fault) => {
    sim.injectFault(fault);
    const error = await failureOf(client().getAccessToken(v3(), signal()));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
  });

  test('the documented host is the default', () => {
    expect(DEFAULT_V3_BASE_URL).toBe('https://open.hosecloud.com');
  });
});

describe('the location API', () => {
  const locator = () => new EkuaibaoLocator({ baseUrl: sim.baseUrl, allowLoopbackHttp: true });

  test('names the prefix without its trailing slash, and follows a move', async () => {
    expect(sim.locationOf(CORP)).toMatch(/\/$/);
    expect(await locator().locate('acme', CORP, signal())).toBe(sim.baseUrl.replace(/\/$/, ''));
    sim.moveEnvironment(CORP, `${sim.baseUrl}/dd2`);
    try {
      expect(await locator().locate('acme', CORP, signal())).toBe(`${sim.baseUrl}/dd2`);
    } finally {
      sim.moveEnvironment(CORP, sim.baseUrl);
    }
  });

  test('an unknown corporation or an outage is the upstream being unavailable (the last known prefix may stand in)', async () => {
    expect((await failureOf(locator().locate('acme', 'FAKEnobody', signal()))).code).toBe('UPSTREAM_UNAVAILABLE');
    sim.injectFault({ endpoint: 'location', mode: 'status', status: 502 });
    expect((await failureOf(locator().locate('acme', CORP, signal()))).code).toBe('UPSTREAM_UNAVAILABLE');
  });

  test('an answer that is not an https URL is refused like a bad secret', async () => {
    sim.injectFault({ endpoint: 'location', mode: 'malformed', body: '{"value":"ftp://elsewhere.example/"}' });
    expect((await failureOf(locator().locate('acme', CORP, signal()))).code).toBe('TENANT_MISCONFIGURED');
    // In AWS (no loopback allowed) the simulator's own http prefix is refused too.
    const strict = new EkuaibaoLocator({ baseUrl: sim.baseUrl, allowLoopbackHttp: false });
    expect((await failureOf(strict.locate('acme', CORP, signal()))).code).toBe('TENANT_MISCONFIGURED');
  });
});
