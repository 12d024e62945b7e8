/**
 * The token policy as pure functions of a table state, this container's identity and a clock
 * reading. Every clock value here is a fixed number: T0 is when the token was issued, and the
 * token's upstream expireTime is T0 + 120 min (safety margin 5 min, refresh window 15 min), so:
 *   fresh until T0 + 105 min, refresh-due until T0 + 115 min, expired (never served) from then on.
 */
import { LEASE_GUARD_MS, leaseDurationMs } from '../../contract/lease-timing';
import {
  afterFailedRetire,
  afterFailedStore,
  outdatedBySecret,
  assessToken,
  backoffDelay,
  callerStep,
  holderActsUntil,
  invalidationRetryAfterSeconds,
  isServable,
  leaseIsLive,
  leaseWasAbandoned,
  nextUpstreamOperation,
  POLL_BASE_MS,
  POLL_CAP_MS,
  pollRoundAt,
  readMayEndWait,
  REFRESH_RETRY_INTERVAL_MS,
  REFRESH_TRIGGER_INTERVAL_MS,
  refresherStep,
  sameItem,
  servableUntil,
  waitEndsAt,
  type CallerContext,
  type Identity,
} from '../../functions/domain/token-policy';
import type { CachedToken, TenantTokenState } from '../../functions/domain/types';

const MINUTE = 60_000;
const settings = { safetyMarginMs: 5 * MINUTE, refreshWindowMs: 15 * MINUTE };
const T0 = Date.UTC(2026, 0, 1);
const RANK = 1_700_000_000_000;
const FRESH = T0 + 60 * MINUTE;
const DUE = T0 + 110 * MINUTE;
const LATE = T0 + 116 * MINUTE;

const me: Identity = { fingerprint: 'fp', rank: RANK };
const token: CachedToken = {
  accessToken: 'fake-access',
  refreshToken: 'fake-refresh',
  expireTime: T0 + 120 * MINUTE,
  corporationId: 'fake-corp',
  issuedAt: T0,
  fingerprint: 'fp',
  credentialRank: RANK,
  version: 3,
};
const state = (over: Partial<TenantTokenState> = {}): TenantTokenState => ({
  tenantId: 't',
  version: 3,
  credentialRank: RANK,
  token,
  ...over,
});
const withToken = (over: Partial<CachedToken>, rest: Partial<TenantTokenState> = {}) => state({ token: { ...token, ...over }, ...rest });
const empty: TenantTokenState = { tenantId: 't', version: 0, credentialRank: 0 };
const liveLease = (now: number, owner = 'holder') => ({ owner, expiresAt: now + 1 });
const deadLease = (now: number, owner = 'holder') => ({ owner, expiresAt: now });
const context = (over: Partial<CallerContext> = {}): CallerContext => ({
  credentialsReloaded: false,
  leasesWaitedOn: new Set(),
  // A request that started after every failure in these states, unless a test says otherwise.
  startedAt: Number.POSITIVE_INFINITY,
  leaseWaitMs: 8_000,
  ...over,
});

describe('assessToken', () => {
  test('a token is fresh until its refresh window opens', () => {
    expect(assessToken(state(), me, T0, settings)).toBe('fresh');
    expect(assessToken(state(), me, T0 + 105 * MINUTE - 1, settings)).toBe('fresh');
    expect(assessToken(state(), me, T0 + 105 * MINUTE, settings)).toBe('refresh-due');
  });

  test('a token is served until the safety margin and expired inside it', () => {
    expect(assessToken(state(), me, T0 + 115 * MINUTE - 1, settings)).toBe('refresh-due');
    expect(assessToken(state(), me, T0 + 115 * MINUTE, settings)).toBe('expired');
    expect(servableUntil(token, settings)).toBe(T0 + 115 * MINUTE);
  });

  test('no item, or an item without a token, is missing', () => {
    expect(assessToken(empty, { fingerprint: 'fp', rank: 0 }, T0, settings)).toBe('missing');
    expect(assessToken(state({ token: undefined }), me, T0, settings)).toBe('missing');
  });

  test('a retired token is never served, even while it is fresh', () => {
    expect(assessToken(withToken({ retiredAt: T0 + 1 }), me, FRESH, settings)).toBe('retired');
  });

  test('a token marked in doubt is never served, even while it is fresh', () => {
    expect(assessToken(withToken({ doubtedAt: T0 + 1 }), me, FRESH, settings)).toBe('in-doubt');
  });

  test('a lease that ran out without a store or a release puts the token in doubt; a live lease does not', () => {
    expect(assessToken(state({ lease: deadLease(FRESH) }), me, FRESH, settings)).toBe('in-doubt');
    expect(assessToken(state({ lease: liveLease(FRESH) }), me, FRESH, settings)).toBe('fresh');
  });

  test('a token of another appKey or environment is credentials-changed', () => {
    expect(assessToken(state(), { fingerprint: 'other', rank: RANK }, FRESH, settings)).toBe('credentials-changed');
  });

  test('a token of an older secret version than this container holds is credentials-changed', () => {
    expect(assessToken(state(), { fingerprint: 'fp', rank: RANK + 1 }, FRESH, settings)).toBe('credentials-changed');
  });

  test('a token older than the newest version any container recorded is credentials-changed, though it matches this container', () => {
    // This container caught up (rank RANK + 1 = the item's rank); the token is still of RANK.
    const identity = { fingerprint: 'fp', rank: RANK + 1 };
    expect(assessToken(state({ credentialRank: RANK + 1 }), identity, FRESH, settings)).toBe('credentials-changed');
  });

  test('a container whose secret is older than the one recorded is credentials-behind, with or without a token', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    expect(assessToken(state(), behind, FRESH, settings)).toBe('credentials-behind');
    expect(assessToken({ ...empty, credentialRank: RANK }, behind, FRESH, settings)).toBe('credentials-behind');
  });

  test('a token issued for a newer secret than this container holds is credentials-behind, even if the item rank lags', () => {
    expect(assessToken(state({ credentialRank: 0 }), { fingerprint: 'fp', rank: RANK - 1 }, FRESH, settings)).toBe(
      'credentials-behind',
    );
  });

  test('only fresh and refresh-due are servable', () => {
    expect(isServable('fresh')).toBe(true);
    expect(isServable('refresh-due')).toBe(true);
    for (const c of ['missing', 'expired', 'retired', 'in-doubt', 'credentials-changed', 'credentials-behind'] as const) {
      expect(isServable(c)).toBe(false);
    }
  });

  test('a lease is live strictly before its expiry and abandoned from it on', () => {
    const lease = { owner: 'x', expiresAt: T0 + 1000 };
    expect(leaseIsLive(state({ lease }), T0 + 999)).toBe(true);
    expect(leaseWasAbandoned(state({ lease }), T0 + 999)).toBe(false);
    expect(leaseIsLive(state({ lease }), T0 + 1000)).toBe(false);
    expect(leaseWasAbandoned(state({ lease }), T0 + 1000)).toBe(true);
    expect(leaseIsLive(state(), T0)).toBe(false);
    expect(leaseWasAbandoned(state(), T0)).toBe(false);
  });
});

describe('callerStep: serving', () => {
  test('serves a fresh token without asking for a refresh', () => {
    expect(callerStep(state(), me, FRESH, settings, context())).toEqual({
      kind: 'serve',
      token,
      refreshElsewhere: false,
      afterFailedRefresh: false,
    });
  });

  test('serves a fresh token at once even while somebody holds the lease', () => {
    const step = callerStep(state({ lease: liveLease(FRESH) }), me, FRESH, settings, context());
    expect(step).toMatchObject({ kind: 'serve', refreshElsewhere: false });
  });

  test('serves a refresh-due token at once and asks for a refresh elsewhere', () => {
    expect(callerStep(state(), me, DUE, settings, context())).toEqual({
      kind: 'serve',
      token,
      refreshElsewhere: true,
      afterFailedRefresh: false,
    });
  });

  test('does not ask for a refresh while a live lease shows somebody refreshing already', () => {
    const step = callerStep(state({ lease: liveLease(DUE) }), me, DUE, settings, context());
    expect(step).toMatchObject({ kind: 'serve', refreshElsewhere: false });
  });

  test('after a failed refresh, keeps serving and waits REFRESH_RETRY_INTERVAL_MS before asking again', () => {
    const failedAt = DUE - 1000;
    const failed = state({ lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: failedAt, leaseOwner: 'refresher' } });
    expect(callerStep(failed, me, failedAt + REFRESH_RETRY_INTERVAL_MS - 1, settings, context())).toEqual({
      kind: 'serve',
      token,
      refreshElsewhere: false,
      afterFailedRefresh: true,
    });
    expect(callerStep(failed, me, failedAt + REFRESH_RETRY_INTERVAL_MS, settings, context())).toEqual({
      kind: 'serve',
      token,
      refreshElsewhere: true,
      afterFailedRefresh: true,
    });
  });

  test('a failure recorded before the token was issued is not a failed refresh of it', () => {
    const old = state({ lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: T0 - 1, leaseOwner: 'someone' } });
    expect(callerStep(old, me, DUE, settings, context())).toMatchObject({ refreshElsewhere: true, afterFailedRefresh: false });
  });

  test('a fresh token after a failure is not reported as served after a failed refresh', () => {
    const failed = state({ lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: FRESH - 1, leaseOwner: 'refresher' } });
    expect(callerStep(failed, me, FRESH, settings, context())).toMatchObject({ refreshElsewhere: false, afterFailedRefresh: false });
  });

  test('one container asks for a refresh at most once per REFRESH_TRIGGER_INTERVAL_MS', () => {
    const triggered = context({ lastTriggeredAt: DUE });
    expect(callerStep(state(), me, DUE + REFRESH_TRIGGER_INTERVAL_MS - 1, settings, triggered)).toMatchObject({
      kind: 'serve',
      refreshElsewhere: false,
    });
    expect(callerStep(state(), me, DUE + REFRESH_TRIGGER_INTERVAL_MS, settings, triggered)).toMatchObject({
      kind: 'serve',
      refreshElsewhere: true,
    });
  });
});

describe('callerStep: credentials', () => {
  test('another container recorded a newer secret: re-read the secret, skipping the cache', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    expect(callerStep(state(), behind, FRESH, settings, context())).toEqual({ kind: 'reload-credentials', behindRank: RANK });
  });

  test('rotated again while the request re-read its secret: the table shows a newer rank than the one it read for, so read again', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    const newer = state({ credentialRank: RANK + 5 });
    // Reloaded for RANK; the table now shows RANK + 5: another read, not a failure.
    expect(callerStep(newer, behind, LATE, settings, context({ credentialsReloaded: true, reloadedForRank: RANK }))).toEqual({
      kind: 'reload-credentials',
      behindRank: RANK + 5,
    });
    // Reloaded for the newest rank and still behind: a rollback, as before.
    expect(callerStep(newer, behind, LATE, settings, context({ credentialsReloaded: true, reloadedForRank: RANK + 5 }))).toEqual({
      kind: 'fail',
      failure: { reason: 'credentials-behind' },
    });
  });

  test('still behind after a fresh read: serves the newer version’s servable token, never fetches with old credentials', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    expect(callerStep(state(), behind, DUE, settings, context({ credentialsReloaded: true }))).toEqual({
      kind: 'serve',
      token,
      refreshElsewhere: true,
      afterFailedRefresh: false,
    });
  });

  test('still behind after a fresh read and no servable token of the newer version: fail credentials-behind', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    const reloaded = context({ credentialsReloaded: true });
    expect(callerStep(state(), behind, LATE, settings, reloaded)).toEqual({ kind: 'fail', failure: { reason: 'credentials-behind' } });
    // The item's rank was raised past the token's: the token is of an older version than recorded.
    expect(callerStep(state({ credentialRank: RANK + 1 }), me, FRESH, settings, reloaded)).toEqual({
      kind: 'fail',
      failure: { reason: 'credentials-behind' },
    });
    expect(callerStep({ ...empty, credentialRank: RANK }, behind, FRESH, settings, reloaded)).toEqual({
      kind: 'fail',
      failure: { reason: 'credentials-behind' },
    });
  });

  test('this container holds a newer secret than recorded while somebody holds the lease: record it', () => {
    const newer = { fingerprint: 'fp', rank: RANK + 1 };
    expect(callerStep(state({ lease: liveLease(FRESH) }), newer, FRESH, settings, context())).toEqual({ kind: 'record-credentials' });
  });

  test('a newer secret than recorded with nobody holding the lease: fetch, superseding the older token', () => {
    const newer = { fingerprint: 'fp', rank: RANK + 1 };
    expect(callerStep(state(), newer, FRESH, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
      superseding: 'credentials-changed',
    });
  });

  test('a token of another appKey is replaced, not served', () => {
    expect(callerStep(state(), { fingerprint: 'other', rank: RANK }, FRESH, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
      superseding: 'credentials-changed',
    });
  });
});

describe('callerStep: no servable token', () => {
  test('fetches when there is no token and nobody holds the lease', () => {
    expect(callerStep(empty, { fingerprint: 'fp', rank: 0 }, T0, settings, context())).toEqual({ kind: 'fetch', markTokenInDoubt: false });
  });

  test('fetches an expired or retired token’s replacement without superseding anything', () => {
    expect(callerStep(state(), me, LATE, settings, context())).toEqual({ kind: 'fetch', markTokenInDoubt: false });
    expect(callerStep(withToken({ retiredAt: T0 + 1 }), me, FRESH, settings, context())).toEqual({ kind: 'fetch', markTokenInDoubt: false });
  });

  test('a lease abandoned by its holder: fetch and mark the token in doubt', () => {
    expect(callerStep(state({ lease: deadLease(FRESH) }), me, FRESH, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: true,
      superseding: 'in-doubt',
    });
  });

  test('a token already in doubt is not marked again; an abandoned lease over no token marks nothing', () => {
    expect(callerStep(withToken({ doubtedAt: T0 }, { lease: deadLease(FRESH) }), me, FRESH, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
      superseding: 'in-doubt',
    });
    expect(callerStep(withToken({ doubtedAt: T0 }), me, FRESH, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
      superseding: 'in-doubt',
    });
    expect(callerStep({ ...empty, lease: deadLease(T0) }, { fingerprint: 'fp', rank: 0 }, T0, settings, context())).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
    });
  });

  test('waits on a live lease, naming its owner and expiry', () => {
    const lease = { owner: 'holder', expiresAt: LATE + 5_000 };
    expect(callerStep(state({ lease }), me, LATE, settings, context())).toEqual({
      kind: 'wait',
      leaseOwner: 'holder',
      leaseExpiresAt: LATE + 5_000,
    });
  });

  test('the holder this request waited on failed: share its failure instead of repeating the call', () => {
    const waited = context({ leasesWaitedOn: new Set(['holder']), waitStartedAt: LATE - 100 });
    for (const code of ['UPSTREAM_UNAVAILABLE', 'UPSTREAM_REJECTED_CREDENTIALS'] as const) {
      const released = state({ lastFailure: { code, at: LATE - 1, leaseOwner: 'holder' } });
      expect(callerStep(released, me, LATE, settings, waited)).toEqual({ kind: 'fail', failure: { reason: 'holder-failed', code } });
    }
  });

  test('a failure recorded after this request started is shared too, although it never waited on that lease', () => {
    const released = state({ lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: LATE - 1, leaseOwner: 'other-holder' } });
    expect(callerStep(released, me, LATE, settings, context({ startedAt: LATE - 2 }))).toEqual({
      kind: 'fail',
      failure: { reason: 'holder-failed', code: 'UPSTREAM_UNAVAILABLE' },
    });
    expect(callerStep(released, me, LATE, settings, context({ startedAt: LATE - 1 }))).toEqual({ kind: 'fetch', markTokenInDoubt: false });
  });

  test('a failure of a lease this request never waited on, recorded before it started, does not stop it: it fetches', () => {
    const released = state({ lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: LATE - 1, leaseOwner: 'earlier-holder' } });
    expect(callerStep(released, me, LATE, settings, context({ leasesWaitedOn: new Set(['holder']) }))).toEqual({
      kind: 'fetch',
      markTokenInDoubt: false,
    });
  });

  test('a failure of the lease waited on does not stop the request while a new lease is live: it waits on that one', () => {
    const next = state({
      lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: LATE - 1, leaseOwner: 'holder' },
      lease: { owner: 'next-holder', expiresAt: LATE + 1000 },
    });
    expect(callerStep(next, me, LATE, settings, context({ leasesWaitedOn: new Set(['holder']), waitStartedAt: LATE - 10 }))).toEqual({
      kind: 'wait',
      leaseOwner: 'next-holder',
      leaseExpiresAt: LATE + 1000,
    });
  });

  test('gives up once it has waited leaseWaitMs while the lease is still held, with Retry-After until the lease ends', () => {
    const lease = { owner: 'holder', expiresAt: LATE + 8_000 + 2_500 };
    const waiting = context({ waitStartedAt: LATE, leaseWaitMs: 8_000, leasesWaitedOn: new Set(['holder']) });
    expect(callerStep(state({ lease }), me, LATE + 8_000 - 1, settings, waiting).kind).toBe('wait');
    expect(callerStep(state({ lease }), me, LATE + 8_000, settings, waiting)).toEqual({
      kind: 'fail',
      failure: { reason: 'wait-timed-out', retryAfterSeconds: 3 },
    });
  });

  test('a timed-out wait asks for at least one second', () => {
    const lease = { owner: 'holder', expiresAt: LATE + 8_000 + 10 };
    const waiting = context({ waitStartedAt: LATE, leaseWaitMs: 8_000 });
    expect(callerStep(state({ lease }), me, LATE + 8_000, settings, waiting)).toEqual({
      kind: 'fail',
      failure: { reason: 'wait-timed-out', retryAfterSeconds: 1 },
    });
  });
});

describe('refresherStep', () => {
  const horizon = 6 * MINUTE;

  test('refreshes a servable token entering its window within the horizon, and not earlier', () => {
    expect(refresherStep(state(), me, T0 + 99 * MINUTE - 1, horizon, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(state(), me, T0 + 99 * MINUTE, horizon, settings, false)).toEqual({ kind: 'refresh' });
    expect(refresherStep(state(), me, DUE, 0, settings, false)).toEqual({ kind: 'refresh' });
    expect(refresherStep(state(), me, T0 + 105 * MINUTE - 1, 0, settings, false)).toEqual({ kind: 'skip' });
  });

  test('skips while somebody holds the lease', () => {
    expect(refresherStep(state({ lease: liveLease(DUE) }), me, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
  });

  test('leaves tokens that are no longer servable to the callers', () => {
    expect(refresherStep(state(), me, LATE, horizon, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(withToken({ retiredAt: T0 }), me, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(withToken({ doubtedAt: T0 }), me, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(state({ lease: deadLease(DUE) }), me, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(empty, me, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
    expect(refresherStep(state(), { fingerprint: 'other', rank: RANK }, DUE, 0, settings, false)).toEqual({ kind: 'skip' });
  });

  test('re-reads a secret older than the recorded one once, then skips', () => {
    const behind = { fingerprint: 'fp', rank: RANK - 1 };
    expect(refresherStep(state(), behind, DUE, 0, settings, false)).toEqual({ kind: 'reload-credentials' });
    expect(refresherStep(state(), behind, DUE, 0, settings, true)).toEqual({ kind: 'skip' });
  });
});

describe('nextUpstreamOperation', () => {
  test('a holder tries the refresh endpoint first while the upstream still accepts the token', () => {
    expect(nextUpstreamOperation(token, me, DUE, false)).toBe('refreshToken');
    expect(nextUpstreamOperation(token, me, token.expireTime - 1, false)).toBe('refreshToken');
  });

  test('once the refresh failed in this lease, the next attempt is getAccessToken', () => {
    expect(nextUpstreamOperation(token, me, DUE, true)).toBe('getAccessToken');
  });

  test('a token in doubt may still be refreshed', () => {
    expect(nextUpstreamOperation({ ...token, doubtedAt: T0 }, me, DUE, false)).toBe('refreshToken');
  });

  test('getAccessToken for no token, an expired, retired or refresh-less token, or one of other credentials', () => {
    expect(nextUpstreamOperation(undefined, me, DUE, false)).toBe('getAccessToken');
    expect(nextUpstreamOperation(token, me, token.expireTime, false)).toBe('getAccessToken');
    expect(nextUpstreamOperation({ ...token, retiredAt: T0 }, me, DUE, false)).toBe('getAccessToken');
    expect(nextUpstreamOperation({ ...token, refreshToken: '' }, me, DUE, false)).toBe('getAccessToken');
    expect(nextUpstreamOperation(token, { fingerprint: 'other', rank: RANK }, DUE, false)).toBe('getAccessToken');
    expect(nextUpstreamOperation(token, { fingerprint: 'fp', rank: RANK + 1 }, DUE, false)).toBe('getAccessToken');
  });
});

describe('afterFailedRetire', () => {
  const interval = 30_000;

  test('a report about a token that is not the current one is stale', () => {
    expect(afterFailedRetire(state(), 'fake-other', FRESH, interval)).toEqual({ kind: 'stale' });
    expect(afterFailedRetire(empty, 'fake-access', FRESH, interval)).toEqual({ kind: 'stale' });
  });

  test('a report about a token already retired is stale (perhaps this request’s own write, answer lost)', () => {
    expect(afterFailedRetire(withToken({ retiredAt: FRESH - 1 }, { lastInvalidatedAt: FRESH - 1 }), 'fake-access', FRESH, interval)).toEqual({
      kind: 'stale',
    });
  });

  test('a current token while the last retirement is recent is rate limited until the interval passes', () => {
    const recent = state({ lastInvalidatedAt: FRESH - 10_000 });
    expect(afterFailedRetire(recent, 'fake-access', FRESH, interval)).toEqual({ kind: 'rate-limited', retryAfterSeconds: 20 });
    expect(afterFailedRetire(recent, 'fake-access', FRESH + 20_000 - 1, interval)).toEqual({ kind: 'rate-limited', retryAfterSeconds: 1 });
  });

  test('a current, unretired token with no recent retirement: try again', () => {
    expect(afterFailedRetire(state(), 'fake-access', FRESH, interval)).toEqual({ kind: 'try-again' });
    expect(afterFailedRetire(state({ lastInvalidatedAt: FRESH - interval }), 'fake-access', FRESH, interval)).toEqual({ kind: 'try-again' });
  });
});

describe('lease timing', () => {
  test('a holder stops acting LEASE_GUARD_MS before its lease ends, or at its request deadline if sooner', () => {
    expect(holderActsUntil(T0 + 15_500, T0 + 25_000)).toBe(T0 + 15_500 - LEASE_GUARD_MS);
    expect(holderActsUntil(T0 + 15_500, T0 + 5_000)).toBe(T0 + 5_000);
  });

  test('the lease covers every attempt, the backoffs between them, the store phase, the guard and slack', () => {
    // 2 × 5 s + 1 × 1 s backoff cap + 3 s store + 1 s guard + 0.5 s slack.
    expect(leaseDurationMs({ upstreamTimeoutMs: 5_000, upstreamMaxAttempts: 2 })).toBe(15_500);
    expect(leaseDurationMs({ upstreamTimeoutMs: 1_000, upstreamMaxAttempts: 1 })).toBe(5_500);
  });

  test('backoff is full jitter under an exponential cap', () => {
    expect(backoffDelay(0, 100, 1000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 1000, () => 0.999)).toBe(799);
    expect(backoffDelay(10, 100, 1000, () => 0.999)).toBe(999);
    expect(backoffDelay(10, 100, 1000, () => 0)).toBe(0);
  });

  test('invalidation Retry-After counts down to the next accepted report, at least 1 s', () => {
    expect(invalidationRetryAfterSeconds(T0, T0 + 1000, 30_000)).toBe(29);
    expect(invalidationRetryAfterSeconds(T0, T0 + 29_999, 30_000)).toBe(1);
    expect(invalidationRetryAfterSeconds(T0, T0 + 60_000, 30_000)).toBe(1);
  });
});

describe('outdatedBySecret', () => {
  test('a token goes to no caller once a newer secret version than its own was recorded', () => {
    expect(outdatedBySecret(state({ credentialRank: RANK + 1 }), { credentialRank: RANK })).toBe(true);
    expect(outdatedBySecret(state({ credentialRank: RANK }), { credentialRank: RANK })).toBe(false);
    expect(outdatedBySecret(undefined, { credentialRank: RANK })).toBe(false);
  });
});

describe('afterFailedStore', () => {
  test('no item in the answer is a question: retry', () => {
    expect(afterFailedStore(undefined, 'me', 'new-token')).toBe('retry');
  });
  test('the item holds our token: a write whose answer was lost landed', () => {
    expect(afterFailedStore(withToken({ accessToken: 'new-token' }), 'me', 'new-token')).toBe('stored');
  });
  test('the lease is still ours: retry the write', () => {
    expect(afterFailedStore(state({ lease: { owner: 'me', expiresAt: 1 } }), 'me', 'new-token')).toBe('retry');
  });
  test('somebody else holds the lease, or nobody: lost', () => {
    expect(afterFailedStore(state({ lease: { owner: 'other', expiresAt: 1 } }), 'me', 'new-token')).toBe('lost');
    expect(afterFailedStore(state(), 'me', 'new-token')).toBe('lost');
  });
});

describe('the shared poll', () => {
  const NOW = FRESH;

  test('a waiter decides by its lease-wait bound or its request deadline, whichever comes first', () => {
    expect(waitEndsAt(NOW, 8_000, NOW + 20_000)).toBe(NOW + 8_000);
    expect(waitEndsAt(NOW, 8_000, NOW + 3_000)).toBe(NOW + 3_000);
  });

  test('a round opens with full-jitter backoff on the poll’s round count', () => {
    const far = NOW + 60_000;
    expect(pollRoundAt(undefined, NOW, 0, far, () => 0)).toBe(NOW + POLL_BASE_MS);
    expect(pollRoundAt(undefined, NOW, 0, far, () => 0.999)).toBe(NOW + POLL_BASE_MS + Math.floor(0.999 * Math.min(POLL_CAP_MS, POLL_BASE_MS)));
    expect(pollRoundAt(undefined, NOW, 10, far, () => 0.999)).toBe(NOW + POLL_BASE_MS + Math.floor(0.999 * POLL_CAP_MS));
  });

  test('a joiner never pushes a round back, and brings it forward to its own end, never before now', () => {
    const never = () => {
      throw new Error('no jitter drawn for an open round');
    };
    expect(pollRoundAt(NOW + 40, NOW, 3, NOW + 60_000, never)).toBe(NOW + 40);
    expect(pollRoundAt(NOW + 40, NOW, 3, NOW + 15, never)).toBe(NOW + 15);
    expect(pollRoundAt(undefined, NOW, 0, NOW + 5, () => 0.5)).toBe(NOW + 5);
    expect(pollRoundAt(NOW + 40, NOW, 0, NOW - 100, never)).toBe(NOW);
  });

  test('two reads of the same item are the same item, whatever objects carry them', () => {
    const a = state({ lease: liveLease(NOW), lastFailure: { code: 'UPSTREAM_UNAVAILABLE', at: NOW - 5, leaseOwner: 'x' } });
    expect(sameItem(a, structuredClone(a))).toBe(true);
    expect(sameItem(a, { ...a, token: undefined })).toBe(false);
    expect(sameItem(state({ lease: liveLease(NOW) }), state({ lease: liveLease(NOW + 1) }))).toBe(false);
    expect(sameItem(withToken({ retiredAt: NOW }), state())).toBe(false);
    // An attribute set to undefined is an attribute the item does not have.
    expect(sameItem({ ...empty, lastInvalidatedAt: undefined }, empty)).toBe(true);
  });

  test('an unchanged item with a live lease leaves the waiters asleep; a change or a lease that ran out wakes them', () => {
    const seen = state({ token: undefined, lease: { owner: 'holder', expiresAt: NOW + 1_000 } });
    expect(readMayEndWait(seen, structuredClone(seen), NOW)).toBe(false);
    expect(readMayEndWait(seen, structuredClone(seen), NOW + 1_000)).toBe(true);
    expect(readMayEndWait(seen, state({ lease: undefined, version: 4 }), NOW)).toBe(true);
    expect(readMayEndWait(seen, { ...seen, lease: { owner: 'other', expiresAt: NOW + 1_000 } }, NOW)).toBe(true);
    expect(readMayEndWait(seen, { ...seen, credentialRank: RANK + 1 }, NOW)).toBe(true);
  });

  test('the waiters it leaves asleep would have waited again: callerStep on an unchanged item before their end', () => {
    // Every combination of item, identity and request below on which callerStep says 'wait' at
    // `decidedAt`: at every later moment before the wait ends at which readMayEndWait says the
    // unchanged item need not wake the waiter, callerStep says 'wait' for the same holder.
    const at = T0 + 100 * MINUTE;
    const tokens: Array<CachedToken | undefined> = [
      undefined,
      { ...token, expireTime: at + 20 * MINUTE },
      { ...token, expireTime: at + 11 * MINUTE },
      { ...token, expireTime: at + 5 * MINUTE + 50 },
      { ...token, retiredAt: at - 1 },
      { ...token, doubtedAt: at - 1 },
      { ...token, fingerprint: 'other-fp' },
      { ...token, credentialRank: RANK - 1 },
      { ...token, credentialRank: RANK + 1 },
    ];
    const leases = [undefined, { owner: 'holder', expiresAt: at + 30 }, { owner: 'holder', expiresAt: at + 5_000 }, { owner: 'holder', expiresAt: at }];
    const failures = [undefined, { code: 'UPSTREAM_UNAVAILABLE' as const, at: at - 10, leaseOwner: 'holder' }, { code: 'UPSTREAM_UNAVAILABLE' as const, at: at - 10, leaseOwner: 'gone' }];
    const identities: Identity[] = [me, { fingerprint: 'fp', rank: RANK - 1 }, { fingerprint: 'fp', rank: RANK + 1 }];
    const contexts: CallerContext[] = [
      context({ startedAt: at - 100, waitStartedAt: at - 50 }),
      context({ startedAt: at - 100, waitStartedAt: at - 50, credentialsReloaded: true }),
      context({ startedAt: at - 20, leasesWaitedOn: new Set(['gone']), waitStartedAt: at - 7_990 }),
      context({ startedAt: at - 100 }),
    ];
    let checked = 0;
    for (const t of tokens)
      for (const lease of leases)
        for (const lastFailure of failures)
          for (const credentialRank of [RANK - 1, RANK, RANK + 1])
            for (const identity of identities)
              for (const ctx of contexts) {
                const seen: TenantTokenState = { tenantId: 't', version: 3, credentialRank, ...(t && { token: t }), ...(lease && { lease }), ...(lastFailure && { lastFailure }) };
                const first = callerStep(seen, identity, at, settings, ctx);
                if (first.kind !== 'wait') continue;
                const waiting = { ...ctx, waitStartedAt: ctx.waitStartedAt ?? at, leasesWaitedOn: new Set([...ctx.leasesWaitedOn, first.leaseOwner]) };
                const endsAt = waitEndsAt(waiting.waitStartedAt, waiting.leaseWaitMs, Number.POSITIVE_INFINITY);
                for (const later of [at + 1, at + 29, at + 30, at + 31, at + 4_999, at + 5_000, at + 10 * MINUTE, endsAt - 1]) {
                  if (later >= endsAt || readMayEndWait(seen, structuredClone(seen), later)) continue;
                  checked++;
                  expect(callerStep(structuredClone(seen), identity, later, settings, waiting)).toEqual(first);
                }
              }
    expect(checked).toBeGreaterThan(100);
  });
});
