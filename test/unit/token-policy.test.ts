import {
  assessToken,
  backoffDelay,
  canUseRefreshEndpoint,
  invalidationRetryAfterSeconds,
  needsWarming,
  nextStep,
  servableUntil,
} from '../../functions/domain/token-policy';
import type { CachedToken, TenantTokenState } from '../../functions/domain/types';

const MINUTE = 60_000;
const settings = { safetyMarginMs: 5 * MINUTE, refreshWindowMs: 15 * MINUTE };
const T0 = Date.UTC(2026, 0, 1);
const token: CachedToken = {
  accessToken: 'fake-access',
  refreshToken: 'fake-refresh',
  expireTime: T0 + 120 * MINUTE,
  corporationId: 'corp',
  issuedAt: T0,
  fingerprint: 'fp',
  version: 1,
};
const state = (over: Partial<TenantTokenState> = {}): TenantTokenState => ({ tenantId: 't', version: 1, token, ...over });

describe('assessToken', () => {
  test('a token is fresh until its refresh window', () => {
    expect(assessToken(token, 'fp', T0, settings)).toBe('fresh');
    expect(assessToken(token, 'fp', T0 + 105 * MINUTE - 1, settings)).toBe('fresh');
    expect(assessToken(token, 'fp', T0 + 105 * MINUTE, settings)).toBe('refresh-due');
  });

  test('serves the cached token until the safety margin, never inside it', () => {
    expect(assessToken(token, 'fp', T0 + 115 * MINUTE - 1, settings)).toBe('refresh-due');
    expect(assessToken(token, 'fp', T0 + 115 * MINUTE, settings)).toBe('expired');
    expect(servableUntil(token, settings)).toBe(T0 + 115 * MINUTE);
  });

  test('a token of other credentials, a retired one or none is never served', () => {
    expect(assessToken(token, 'other', T0, settings)).toBe('credentials-changed');
    expect(assessToken({ ...token, retiredAt: T0 }, 'fp', T0, settings)).toBe('retired');
    expect(assessToken(undefined, 'fp', T0, settings)).toBe('missing');
  });
});

describe('nextStep', () => {
  test('serves a fresh token even while somebody holds the lease', () => {
    expect(nextStep(state({ lease: { owner: 'x', expiresAt: T0 + 1000 } }), 'fp', T0, settings).kind).toBe('serve');
  });

  test('refreshes ahead in the window unless somebody already is', () => {
    const inWindow = T0 + 110 * MINUTE;
    expect(nextStep(state(), 'fp', inWindow, settings).kind).toBe('refresh-ahead');
    expect(nextStep(state({ lease: { owner: 'x', expiresAt: inWindow + 1 } }), 'fp', inWindow, settings).kind).toBe('serve');
  });

  test('fetches when nothing is servable and no live lease exists; waits on a live one', () => {
    const late = T0 + 116 * MINUTE;
    expect(nextStep(state(), 'fp', late, settings).kind).toBe('fetch');
    expect(nextStep(state({ lease: { owner: 'x', expiresAt: late + 5 } }), 'fp', late, settings)).toEqual({
      kind: 'wait',
      leaseExpiresAt: late + 5,
    });
    // A lease that ran out blocks nobody.
    expect(nextStep(state({ lease: { owner: 'x', expiresAt: late } }), 'fp', late, settings).kind).toBe('fetch');
    expect(nextStep({ tenantId: 't', version: 0 }, 'fp', T0, settings).kind).toBe('fetch');
  });
});

describe('refresh and warming rules', () => {
  test('the refresh endpoint is used only for a token the upstream still accepts', () => {
    expect(canUseRefreshEndpoint(token, 'fp', token.expireTime - 1)).toBe(true);
    expect(canUseRefreshEndpoint(token, 'fp', token.expireTime)).toBe(false);
    expect(canUseRefreshEndpoint({ ...token, retiredAt: T0 }, 'fp', T0)).toBe(false);
    expect(canUseRefreshEndpoint(token, 'other', T0)).toBe(false);
    expect(canUseRefreshEndpoint(undefined, 'fp', T0)).toBe(false);
  });

  test('warms a valid token that enters its window before the next run', () => {
    const horizon = 6 * MINUTE;
    expect(needsWarming(token, 'fp', T0 + 99 * MINUTE - 1, horizon, settings)).toBe(false);
    expect(needsWarming(token, 'fp', T0 + 99 * MINUTE, horizon, settings)).toBe(true);
    expect(needsWarming(token, 'fp', T0 + 115 * MINUTE, horizon, settings)).toBe(false);
    expect(needsWarming({ ...token, retiredAt: T0 }, 'fp', T0 + 100 * MINUTE, horizon, settings)).toBe(false);
  });
});

describe('timing helpers', () => {
  test('backoff is full jitter under an exponential cap', () => {
    expect(backoffDelay(0, 100, 1000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 1000, () => 0.999)).toBe(799);
    expect(backoffDelay(10, 100, 1000, () => 0.999)).toBe(999);
    expect(backoffDelay(10, 100, 1000, () => 0)).toBe(0);
  });

  test('invalidation Retry-After counts down to the next accepted report', () => {
    expect(invalidationRetryAfterSeconds(T0, T0 + 1000, 30_000)).toBe(29);
    expect(invalidationRetryAfterSeconds(T0, T0 + 29_999, 30_000)).toBe(1);
    expect(invalidationRetryAfterSeconds(T0, T0 + 60_000, 30_000)).toBe(1);
  });
});
