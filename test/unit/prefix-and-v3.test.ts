/**
 * Issue 13 in the vendor: which environment prefix a token is fetched at and answered with, and how
 * v3 tenants are renewed. A real `TokenVendor` over the in-memory table, with an upstream and a
 * location API that record what they are asked.
 */
import { TenantMisconfigured, UpstreamUnavailable, VendingError } from '../../functions/domain/errors';
import { TokenVendor, type TokenVendorSettings } from '../../functions/domain/token-vendor';
import type { IssuedToken, LocatedCredentials, PrefixLocator, TenantCredentials, TokenStore, UpstreamAuth } from '../../functions/domain/types';
import { InMemoryTokenStore } from '../../sim/in-memory-token-store';

const MINUTE = 60_000;
const SETTINGS: TokenVendorSettings = {
  safetyMarginMs: 5 * MINUTE,
  refreshWindowMs: 15 * MINUTE,
  leaseDurationMs: 15_500,
  leaseWaitMs: 2_000,
  requestBudgetMs: 20_000,
  upstreamTimeoutMs: 1_000,
  upstreamMaxAttempts: 2,
  invalidationMinIntervalMs: 0,
  refreshTriggerTimeoutMs: 100,
};

interface UpstreamCall {
  readonly operation: 'getAccessToken' | 'refreshToken';
  readonly baseUrl: string;
}

function world(credentials: TenantCredentials, options: { lifetimeMs?: number; legacyItems?: boolean; failNextGet?: () => boolean } = {}) {
  const calls: UpstreamCall[] = [];
  const lookups: string[] = [];
  /** The lookup's answers, in order; the last one repeats. */
  let located: Array<string | Error> = ['https://dd2.hosecloud.com'];
  let n = 0;
  const issue = (c: LocatedCredentials): IssuedToken => ({
    accessToken: `fake-token-${++n}`,
    refreshToken: `fake-refresh-${n}`,
    expireTime: Date.now() + (options.lifetimeMs ?? 2 * 60 * MINUTE),
    corporationId: 'FAKEcorp0001',
    baseUrl: c.baseUrl,
    ...(c.authVersion === 'v3' && { scope: 'tenant' }),
  });
  const upstream: UpstreamAuth = {
    getAccessToken: async (c) => {
      calls.push({ operation: 'getAccessToken', baseUrl: c.baseUrl });
      if (options.failNextGet?.()) throw new UpstreamUnavailable('it did not answer in time');
      return issue(c);
    },
    refreshToken: async (c) => {
      calls.push({ operation: 'refreshToken', baseUrl: c.baseUrl });
      return issue(c);
    },
  };
  const locator: PrefixLocator = {
    locate: async (_tenantId, corpId) => {
      lookups.push(corpId);
      const answer = located.length > 1 ? located.shift()! : located[0]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  const store = new InMemoryTokenStore();
  // Items written before the prefix was recorded: reads show tokens without one.
  const legacy: TokenStore = Object.assign(Object.create(store) as TokenStore, {
    read: async (tenantId: string) => {
      const state = await store.read(tenantId);
      if (state.token === undefined) return state;
      const { baseUrl: _dropped, ...token } = state.token;
      return { ...state, token };
    },
  });
  const vendor = new TokenVendor({
    credentials: { get: async () => credentials },
    store: options.legacyItems ? legacy : store,
    upstream,
    locator,
    settings: SETTINGS,
  });
  return {
    vendor,
    store,
    calls,
    lookups,
    locateTo: (...answers: Array<string | Error>) => {
      located = answers;
    },
  };
}

const V1_BY_CORP: TenantCredentials = { appKey: 'fake-key', appSecurity: 'fake-security', corpId: 'FAKEcorp0001', authVersion: 'v1', rank: 0 };
const V1_BY_URL: TenantCredentials = { appKey: 'fake-key', appSecurity: 'fake-security', baseUrl: 'https://wx2.ekuaibao.com', authVersion: 'v1', rank: 0 };
const V3_BY_CORP: TenantCredentials = { ...V1_BY_CORP, authVersion: 'v3' };

test('a tenant configured by corpId gets its token at the looked-up prefix, and is told that prefix', async () => {
  const w = world(V1_BY_CORP);
  const token = await w.vendor.vend('acme');
  expect(w.lookups).toEqual(['FAKEcorp0001']);
  expect(w.calls).toEqual([{ operation: 'getAccessToken', baseUrl: 'https://dd2.hosecloud.com' }]);
  expect(token.baseUrl).toBe('https://dd2.hosecloud.com');
  expect(w.store.snapshot('acme').token?.baseUrl).toBe('https://dd2.hosecloud.com');
  // Served from the table afterwards: no lookup, the stored prefix.
  expect((await w.vendor.vend('acme')).baseUrl).toBe('https://dd2.hosecloud.com');
  expect(w.lookups).toHaveLength(1);
});

test('when the prefix moves, the next getAccessToken looks it up again and callers are told the new one', async () => {
  const w = world(V1_BY_CORP);
  const first = await w.vendor.vend('acme');
  w.locateTo('https://ddenterprise.ekuaibao.com');
  const answer = await w.vendor.invalidate('acme', first.accessToken);
  expect(answer.token.baseUrl).toBe('https://ddenterprise.ekuaibao.com');
  expect(w.calls.at(-1)).toEqual({ operation: 'getAccessToken', baseUrl: 'https://ddenterprise.ekuaibao.com' });
});

test('a failed lookup falls back to the prefix of the tenant’s current token; with none, the fetch fails and is retried', async () => {
  const w = world(V1_BY_CORP);
  const first = await w.vendor.vend('acme');
  w.locateTo(new UpstreamUnavailable('the location API answered HTTP 503'));
  const answer = await w.vendor.invalidate('acme', first.accessToken);
  expect(answer.token.baseUrl).toBe('https://dd2.hosecloud.com');
  expect(w.calls.at(-1)).toEqual({ operation: 'getAccessToken', baseUrl: 'https://dd2.hosecloud.com' });

  const fresh = world(V1_BY_CORP);
  fresh.locateTo(new UpstreamUnavailable('the location API answered HTTP 503'));
  await expect(fresh.vendor.vend('acme')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  expect(fresh.calls).toEqual([]);
  expect(fresh.lookups).toHaveLength(2); // both attempts of the lease tried the lookup
});

test('within one lease, a failed lookup falls back to the prefix an earlier lookup of the lease named, never back to the token’s older one', async () => {
  let failGet = false;
  const w = world(V1_BY_CORP, {
    failNextGet: () => {
      const fail = failGet;
      failGet = false;
      return fail;
    },
  });
  const first = await w.vendor.vend('acme'); // at dd2
  // The tenant moved: the first attempt's lookup names the new prefix and its call times out; the
  // second attempt's lookup fails.
  w.locateTo('https://feishu.ekuaibao.com', new UpstreamUnavailable('the location API answered HTTP 503'));
  failGet = true;
  const answer = await w.vendor.invalidate('acme', first.accessToken);
  expect(answer.token.baseUrl).toBe('https://feishu.ekuaibao.com');
  expect(w.calls.slice(-2)).toEqual([
    { operation: 'getAccessToken', baseUrl: 'https://feishu.ekuaibao.com' },
    { operation: 'getAccessToken', baseUrl: 'https://feishu.ekuaibao.com' },
  ]);
});

test('a lookup answer that is not an https URL is refused like a bad secret, and no fallback hides it', async () => {
  const w = world(V1_BY_CORP);
  const first = await w.vendor.vend('acme');
  w.locateTo(new TenantMisconfigured('acme', 'the location API named a prefix that is not an https URL (check corpId)'));
  const failure = await w.vendor.invalidate('acme', first.accessToken).catch((e: unknown) => e);
  expect(failure).toBeInstanceOf(VendingError);
  expect((failure as VendingError).code).toBe('TENANT_MISCONFIGURED');
});

test('a refresh goes to the prefix the token lives at, without a lookup', async () => {
  const w = world(V1_BY_CORP, { lifetimeMs: 10 * MINUTE }); // inside the refresh window at once
  await w.vendor.vend('acme');
  w.locateTo('https://feishu.ekuaibao.com');
  expect(await w.vendor.refresh('acme')).toBe('refreshed');
  expect(w.calls).toEqual([
    { operation: 'getAccessToken', baseUrl: 'https://dd2.hosecloud.com' },
    { operation: 'refreshToken', baseUrl: 'https://dd2.hosecloud.com' },
  ]);
  expect(w.lookups).toHaveLength(1);
});

test('a secret with baseUrl is never looked up', async () => {
  const w = world(V1_BY_URL);
  expect((await w.vendor.vend('acme')).baseUrl).toBe('https://wx2.ekuaibao.com');
  expect(w.lookups).toEqual([]);
});

test('v3 tokens are renewed with getAccessToken only, through the same lease, and carry their scope', async () => {
  const w = world(V3_BY_CORP, { lifetimeMs: 10 * MINUTE });
  const token = await w.vendor.vend('acme');
  expect(token.scope).toBe('tenant');
  expect(await w.vendor.refresh('acme')).toBe('refreshed');
  expect(w.calls.map((c) => c.operation)).toEqual(['getAccessToken', 'getAccessToken']);
  expect(w.calls.every((c) => c.baseUrl === 'https://dd2.hosecloud.com')).toBe(true);
});

test('a token stored before prefixes were recorded is answered with the tenant’s configured prefix', async () => {
  const w = world(V1_BY_URL, { legacyItems: true });
  await w.vendor.vend('acme');
  // Served from the table: the item's token has no prefix, so the secret's applies.
  expect((await w.vendor.vend('acme')).baseUrl).toBe('https://wx2.ekuaibao.com');
  expect(w.calls).toHaveLength(1);
});
