/**
 * Every decision about a tenant's token, as pure functions of what the table shows, this
 * container's credentials and a clock reading. The vendor carries the decisions out; this file
 * answers "why did this caller get this answer / wait / see this error".
 *
 * A token's life (times relative to the upstream's expireTime):
 *
 *   issuedAt                     expireTime − refreshWindow     expireTime − margin    expireTime
 *   |------------- fresh ----------------|------- refresh-due --------|----- expired ----|
 *        served                       served; a refresh runs         never served
 *                                     elsewhere (never in a caller)
 *
 * A token is never served again once it is retired (a caller reported it), in doubt (a lease
 * holder vanished while it may have been replacing it), or issued for an older version of the
 * tenant's secret than one any container has recorded.
 */
import { LEASE_GUARD_MS } from '../../contract/lease-timing';
import type { AuthVersion, CachedToken, RecordedFailure, TenantCredentials, TenantTokenState } from './types';
import type { SupersededReason } from './vendor-events';

export interface TokenPolicySettings {
  /** A token is never served when it has less than this left before the upstream's expireTime. */
  readonly safetyMarginMs: number;
  /** Within this much of the upstream's expireTime the token is refreshed (elsewhere). */
  readonly refreshWindowMs: number;
}

/** Who this container is, as far as the token is concerned. */
export interface Identity {
  /** `credentialFingerprint` of the credentials this container holds. */
  readonly fingerprint: string;
  /** Rank of the secret version this container holds. */
  readonly rank: number;
}

export type TokenCondition =
  | 'fresh'
  | 'refresh-due'
  | 'missing'
  | 'expired'
  | 'retired'
  | 'in-doubt'
  | 'credentials-changed'
  /** Another container recorded a newer secret version than the one this container holds. */
  | 'credentials-behind';

/** Whether the lease is held right now (a lease past its expiry is void, but its trace stays). */
export function leaseIsLive(state: TenantTokenState, now: number): boolean {
  return state.lease !== undefined && state.lease.expiresAt > now;
}

/** A lease that ran out without its holder storing or releasing: the holder vanished mid-call. */
export function leaseWasAbandoned(state: TenantTokenState, now: number): boolean {
  return state.lease !== undefined && state.lease.expiresAt <= now;
}

export function assessToken(
  state: TenantTokenState,
  identity: Identity,
  now: number,
  settings: TokenPolicySettings,
): TokenCondition {
  if (identity.rank < state.credentialRank) return 'credentials-behind';
  const token = state.token;
  if (token === undefined) return 'missing';
  if (token.retiredAt !== undefined) return 'retired';
  if (token.credentialRank > identity.rank) return 'credentials-behind';
  // The newer secret version wins: once recorded, tokens of older versions are never served.
  if (token.credentialRank < Math.max(identity.rank, state.credentialRank)) return 'credentials-changed';
  if (token.fingerprint !== identity.fingerprint) return 'credentials-changed';
  // The holder may have replaced it upstream (and the upstream may kill replaced tokens).
  if (token.doubtedAt !== undefined || leaseWasAbandoned(state, now)) return 'in-doubt';
  if (now >= servableUntil(token, settings)) return 'expired';
  if (now >= token.expireTime - settings.refreshWindowMs) return 'refresh-due';
  return 'fresh';
}

/** The moment until which callers may use `token`; this is the expireTime they are told. */
export function servableUntil(token: Pick<CachedToken, 'expireTime'>, settings: TokenPolicySettings): number {
  return token.expireTime - settings.safetyMarginMs;
}

export function isServable(condition: TokenCondition): boolean {
  return condition === 'fresh' || condition === 'refresh-due';
}

/** How often one container asks for a refresh of one tenant, at most. */
export const REFRESH_TRIGGER_INTERVAL_MS = 2_000;
/** After a failed refresh, callers keep serving the valid token and wait this long before asking again. */
export const REFRESH_RETRY_INTERVAL_MS = 5_000;

/** What the caller remembers between steps of one request, and this container between requests. */
export interface CallerContext {
  /** This request already re-read its secret, skipping the cache. */
  readonly credentialsReloaded: boolean;
  /**
   * The newest secret rank the table showed when this request last re-read its secret
   * (`reload-credentials`' `behindRank`). A table that shows a newer one since (the secret was
   * rotated again meanwhile) is worth another read; one that does not is a rollback.
   */
  readonly reloadedForRank?: number;
  /** When this container last asked for a refresh of this tenant. */
  readonly lastTriggeredAt?: number;
  /** Leases whose holders this request has waited on. */
  readonly leasesWaitedOn: ReadonlySet<string>;
  /** When this request started (this container's clock). */
  readonly startedAt: number;
  /** When this request started waiting, if it has. */
  readonly waitStartedAt?: number;
  readonly leaseWaitMs: number;
}

export type CallerStep =
  /** Answer with `token`; if `refreshElsewhere`, first ask (without waiting for it) for a refresh. */
  | { readonly kind: 'serve'; readonly token: CachedToken; readonly refreshElsewhere: boolean; readonly afterFailedRefresh: boolean }
  /**
   * Another container saw a newer secret version: read the secret again, skipping the cache.
   * `behindRank` is the newest rank the table shows (see `CallerContext.reloadedForRank`).
   */
  | { readonly kind: 'reload-credentials'; readonly behindRank: number }
  /** This container's secret is newer than any recorded: record it, so nobody serves older tokens. */
  | { readonly kind: 'record-credentials' }
  /** No servable token and nobody fetching: take the lease and fetch one. */
  | { readonly kind: 'fetch'; readonly markTokenInDoubt: boolean; readonly superseding?: SupersededReason }
  /** No servable token and somebody else holds the lease: wait for their result. */
  | { readonly kind: 'wait'; readonly leaseOwner: string; readonly leaseExpiresAt: number }
  /** Give up with this failure. */
  | { readonly kind: 'fail'; readonly failure: CallerFailure };

export type CallerFailure =
  /** The lease holder this request waited on failed; its waiters share its failure. */
  | { readonly reason: 'holder-failed'; readonly code: RecordedFailure['code'] }
  /** The wait bound passed while somebody else still held the lease. */
  | { readonly reason: 'wait-timed-out'; readonly retryAfterSeconds: number }
  /** Secrets Manager keeps returning an older version than one already recorded (a rollback of AWSCURRENT). */
  | { readonly reason: 'credentials-behind' }
  /** After a report, the only token to be had is the reported one: the upstream issued it again. */
  | { readonly reason: 'reported-token-reissued' };

/** The one decision a caller's request makes on every state it reads. */
export function callerStep(
  state: TenantTokenState,
  identity: Identity,
  now: number,
  settings: TokenPolicySettings,
  context: CallerContext,
): CallerStep {
  const condition = assessToken(state, identity, now, settings);
  if (condition === 'credentials-behind') {
    // Read again after every rotation the table shows (each read gets a newer version, and each
    // needs a newer recorded rank first, so this ends); only a version that stays behind after a
    // read for the newest recorded rank is a rollback.
    const behindRank = Math.max(state.credentialRank, state.token?.credentialRank ?? 0);
    const reloadedForNewest = context.credentialsReloaded && (context.reloadedForRank === undefined || context.reloadedForRank >= behindRank);
    if (!reloadedForNewest) return { kind: 'reload-credentials', behindRank };
    // Still behind after a fresh read: the newer version's token may still be served, and a
    // holder with the newer secret may be fetching one, but this container must not fetch with
    // older credentials.
    const asNewest = assessToken(state, newestIdentity(state, identity), now, settings);
    if (isServable(asNewest)) return serveStep(state, asNewest, now, context);
    if (leaseIsLive(state, now)) return waitStep(state, now, context);
    return { kind: 'fail', failure: { reason: 'credentials-behind' } };
  }
  if (isServable(condition)) return serveStep(state, condition, now, context);

  const live = leaseIsLive(state, now);
  if (!live && heldLeaseFailed(state, context)) {
    return { kind: 'fail', failure: { reason: 'holder-failed', code: state.lastFailure!.code } };
  }
  if (live) {
    if (identity.rank > state.credentialRank && !waitedTooLong(now, context)) return { kind: 'record-credentials' };
    return waitStep(state, now, context);
  }
  const superseding: SupersededReason | undefined =
    condition === 'in-doubt' ? 'in-doubt' : condition === 'credentials-changed' ? 'credentials-changed' : undefined;
  return {
    kind: 'fetch',
    markTokenInDoubt: state.token !== undefined && state.token.doubtedAt === undefined && leaseWasAbandoned(state, now),
    ...(superseding && { superseding }),
  };
}

function waitedTooLong(now: number, context: CallerContext): boolean {
  return context.waitStartedAt !== undefined && now >= context.waitStartedAt + context.leaseWaitMs;
}

/** Wait for the live lease's holder, unless this request has waited long enough. */
function waitStep(state: TenantTokenState, now: number, context: CallerContext): CallerStep {
  if (waitedTooLong(now, context)) {
    const retryAfterSeconds = Math.max(1, Math.ceil((state.lease!.expiresAt - now) / 1000));
    return { kind: 'fail', failure: { reason: 'wait-timed-out', retryAfterSeconds } };
  }
  return { kind: 'wait', leaseOwner: state.lease!.owner, leaseExpiresAt: state.lease!.expiresAt };
}

function serveStep(state: TenantTokenState, condition: TokenCondition, now: number, context: CallerContext): CallerStep {
  const token = state.token!;
  const failedRefresh = state.lastFailure !== undefined && state.lastFailure.at >= token.issuedAt;
  const refreshElsewhere =
    condition === 'refresh-due' &&
    !leaseIsLive(state, now) &&
    !(failedRefresh && now < state.lastFailure!.at + REFRESH_RETRY_INTERVAL_MS) &&
    !(context.lastTriggeredAt !== undefined && now < context.lastTriggeredAt + REFRESH_TRIGGER_INTERVAL_MS);
  return { kind: 'serve', token, refreshElsewhere, afterFailedRefresh: condition === 'refresh-due' && failedRefresh };
}

function newestIdentity(state: TenantTokenState, identity: Identity): Identity {
  const token = state.token;
  return token !== undefined && token.credentialRank === state.credentialRank
    ? { fingerprint: token.fingerprint, rank: token.credentialRank }
    : { fingerprint: identity.fingerprint, rank: state.credentialRank };
}

/**
 * A holder failed while this request was alive (it waited on that holder, or the failure was
 * recorded after it started): share the failure rather than repeat the call at once.
 */
function heldLeaseFailed(state: TenantTokenState, context: CallerContext): boolean {
  const failure = state.lastFailure;
  return failure !== undefined && (context.leasesWaitedOn.has(failure.leaseOwner) || failure.at > context.startedAt);
}

export type RefresherStep = { readonly kind: 'refresh' } | { readonly kind: 'reload-credentials' } | { readonly kind: 'skip' };

/**
 * Whether the refresher (the warmer's schedule, or a caller's asynchronous request) refreshes now:
 * only a servable token of the current credentials, due within `horizonMs`, with nobody holding
 * the lease. Tokens that are no longer servable are the callers' to replace: they must wait anyway.
 */
export function refresherStep(
  state: TenantTokenState,
  identity: Identity,
  now: number,
  horizonMs: number,
  settings: TokenPolicySettings,
  credentialsReloaded: boolean,
): RefresherStep {
  const condition = assessToken(state, identity, now, settings);
  if (condition === 'credentials-behind') return credentialsReloaded ? { kind: 'skip' } : { kind: 'reload-credentials' };
  if (!isServable(condition) || leaseIsLive(state, now)) return { kind: 'skip' };
  return state.token!.expireTime - settings.refreshWindowMs <= now + horizonMs ? { kind: 'refresh' } : { kind: 'skip' };
}

export type UpstreamOperationChoice = 'refreshToken' | 'getAccessToken';

/**
 * Which upstream operation the next attempt of a lease holder uses. The refresh endpoint keeps
 * the lineage (docs §2) but only works on a token the upstream still accepts; once it has failed
 * in this lease, for any reason (403, 5xx, timeout, a bad body), getAccessToken takes over, so a
 * refresh-only outage never leaves a tenant without a token.
 */
export function nextUpstreamOperation(
  token: CachedToken | undefined,
  identity: Identity,
  now: number,
  refreshFailedInThisLease: boolean,
  authVersion: AuthVersion = 'v1',
): UpstreamOperationChoice {
  // The docs document no refresh for v3 tokens: they are renewed with getAccessToken only.
  const refreshable =
    authVersion === 'v1' &&
    token !== undefined &&
    token.retiredAt === undefined &&
    token.fingerprint === identity.fingerprint &&
    token.credentialRank === identity.rank &&
    token.refreshToken.length > 0 &&
    now < token.expireTime;
  return refreshable && !refreshFailedInThisLease ? 'refreshToken' : 'getAccessToken';
}

/**
 * The prefix a refresh is sent to: the one the token was issued at (a refresh is answered where
 * the token lives), else the tenant's configured one (tokens stored before prefixes were recorded).
 */
export function refreshPrefix(token: CachedToken, credentials: TenantCredentials): string {
  return answerPrefix(token, credentials);
}

/**
 * When the location API cannot be reached, the prefix a new token is fetched at: the one an
 * earlier lookup of this lease named (newer than any stored token's: the fallback never goes back
 * to a prefix the tenant has moved away from), else the one the tenant's current token was issued
 * at, if that token is of the same identity (secret). None otherwise: the fetch fails as the
 * lookup did, and is retried.
 */
export function lastKnownPrefix(token: CachedToken | undefined, identity: Identity, lookedUpInThisLease?: string): string | undefined {
  if (lookedUpInThisLease !== undefined) return lookedUpInThisLease;
  return token !== undefined && token.fingerprint === identity.fingerprint ? token.baseUrl : undefined;
}

/**
 * The prefix a caller is told to use a token at: the one it was issued at; for tokens stored
 * before prefixes were recorded, the tenant's configured one. A tenant configured by `corpId`
 * alone has a fingerprint no such token carries, so one of the two is always there.
 */
export function answerPrefix(token: CachedToken, credentials: TenantCredentials): string {
  const prefix = token.baseUrl ?? credentials.baseUrl;
  if (prefix === undefined) throw new Error('a token without a prefix, for a tenant configured without one');
  return prefix;
}

/** An attempt with less time than this left is not worth starting. */
export const MIN_ATTEMPT_MS = 250;

/**
 * The last moment (on this container's clock) at which a lease holder may act: start an attempt,
 * store, or hand a token out. Past it, another container (whose clock may run up to
 * LEASE_GUARD_MS ahead) may already have taken the lease over.
 */
export function holderActsUntil(leaseExpiresAt: number, deadline: number): number {
  return Math.min(leaseExpiresAt - LEASE_GUARD_MS, deadline);
}

/** Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Seconds until another invalidation of the tenant is accepted. */
export function invalidationRetryAfterSeconds(lastInvalidatedAt: number, now: number, minIntervalMs: number): number {
  return Math.max(1, Math.ceil((lastInvalidatedAt + minIntervalMs - now) / 1000));
}

export type RetireOutcome =
  | { readonly kind: 'retired' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'rate-limited'; readonly retryAfterSeconds: number }
  | { readonly kind: 'try-again' };

/**
 * What a failed retire means, read from the item as it is now. A report about a token that is not
 * the current one (or that is already retired, perhaps by this very request's write whose answer
 * was lost) changes nothing: "stale". A current token retired moments ago is rate limited.
 */
export function afterFailedRetire(
  state: TenantTokenState,
  reportedToken: string,
  now: number,
  minIntervalMs: number,
): RetireOutcome {
  const token = state.token;
  if (token === undefined || token.accessToken !== reportedToken || token.retiredAt !== undefined) return { kind: 'stale' };
  if (state.lastInvalidatedAt !== undefined && state.lastInvalidatedAt > now - minIntervalMs) {
    return { kind: 'rate-limited', retryAfterSeconds: invalidationRetryAfterSeconds(state.lastInvalidatedAt, now, minIntervalMs) };
  }
  return { kind: 'try-again' };
}

/**
 * What a caller who reported `reportedToken` rejected is answered, once the report was handled and
 * `vended` is the token a request starting now gets. Never the reported token: the caller has just
 * been told it does not work. It can only come back if the upstream issued the same string again,
 * and then the caller is told to try again rather than handed what it reported.
 */
export function answerToReport(
  reportedToken: string,
  vended: string,
): { readonly kind: 'answer' } | { readonly kind: 'fail'; readonly failure: CallerFailure } {
  return vended === reportedToken ? { kind: 'fail', failure: { reason: 'reported-token-reissued' } } : { kind: 'answer' };
}

/**
 * Whether a container recorded a newer secret version than the one `token` was issued for, while
 * its holder was getting it: then it goes to no caller, stored or not (I2, rotation).
 */
export function outdatedBySecret(state: TenantTokenState | undefined, token: Pick<CachedToken, 'credentialRank'>): boolean {
  return state !== undefined && state.credentialRank > token.credentialRank;
}

export type StoreOutcome = 'stored' | 'retry' | 'lost';

/**
 * What a holder's failed or unanswered store means, read from the item: the token landed (a
 * write whose answer was lost), the lease is still ours (retry the write), or somebody else took
 * over (our token is not the lineage's any more). No item at all is a question: retry.
 */
export function afterFailedStore(state: TenantTokenState | undefined, owner: string, accessToken: string): StoreOutcome {
  if (state === undefined) return 'retry';
  if (state.token?.accessToken === accessToken) return 'stored';
  return state.lease?.owner === owner ? 'retry' : 'lost';
}

/** Retries of one DynamoDB or Secrets Manager call after a transient failure. */
export const DEPENDENCY_RETRY_BASE_MS = 25;
export const DEPENDENCY_RETRY_CAP_MS = 400;
/** After a lost lease race or a retire that must be tried again: a short jittered pause. */
export const WAIT_BASE_MS = 25;
export const WAIT_CAP_MS = 100;

/**
 * A container's waiters of one tenant poll the table together, every 10 to 30 ms: short, so that
 * they learn of a new token soon after it lands. One read per container per round serves them all,
 * whatever their number, so this costs at most one strongly consistent read per 10 ms per waiting
 * container and tenant (about 50 a second), and only while somebody waits.
 */
export const POLL_BASE_MS = 10;
export const POLL_CAP_MS = 20;

/**
 * The moment a waiting request must decide by: its lease-wait bound or its request deadline,
 * whichever comes first. A read sent by then is looked at then, and the policy serves, takes over
 * an expired lease, or gives up with `wait-timed-out`.
 */
export function waitEndsAt(waitStartedAt: number, leaseWaitMs: number, deadline: number): number {
  return Math.min(deadline, waitStartedAt + leaseWaitMs);
}

/**
 * When a container's shared poll of a tenant sends its next read.
 *
 * A container's requests that wait for another container's lease holder poll together: one read
 * per round, sent when the round fires, answers every waiter that joined before it was sent, and
 * none that joined while it was in flight (a read sent before a waiter saw its own state may show
 * an older one; README, I2 and I4): those wait for the next round. Hundreds of waiters polling
 * each on their own schedule cost a timer, a wake-up and often a read each per round, and each
 * learned of the new token on its own, up to a whole backoff late; together they learn of it at once.
 *
 * A round opens (`scheduledAt` undefined) with full-jitter backoff on the poll's round count; a
 * waiter that joins never pushes it back, and brings it forward to its own `endsAt`
 * (`waitEndsAt`), so that every waiter still reads at its own bound and decides then.
 */
export function pollRoundAt(
  scheduledAt: number | undefined,
  now: number,
  round: number,
  endsAt: number,
  random: () => number,
): number {
  const cadence = scheduledAt ?? now + POLL_BASE_MS + backoffDelay(round, POLL_BASE_MS, POLL_CAP_MS, random);
  return Math.max(now, Math.min(cadence, endsAt));
}

/**
 * Whether a poll round's read `next` (answered at `now`) may end the wait of a waiter that decided
 * to wait on `seen`: then the waiter wakes and looks at it; else it stays in the poll for the next
 * round without waking (besides, every waiter looks at the first read answered at or after its own
 * `waitEndsAt`).
 *
 * A waiter waits only while the lease is live and its wait has not ended, and on an unchanged item
 * `callerStep` changes its answer only when one of those two ends: a token that is not servable
 * never becomes servable by time alone, and everything else it weighs is in the item or fixed for
 * the request. So on an unchanged item with a live lease its step would be 'wait' again. A changed
 * item, or a lease that ran out (the waiter takes over), may end the wait.
 */
export function readMayEndWait(seen: TenantTokenState, next: TenantTokenState, now: number): boolean {
  return !leaseIsLive(next, now) || !sameItem(seen, next);
}

/** Whether two reads of a tenant's item show the same item, attribute for attribute. */
export function sameItem(a: TenantTokenState, b: TenantTokenState): boolean {
  return a === b || sameValue(a, b);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keysA = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const keysB = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Between upstream attempts of one holder. */
export const UPSTREAM_RETRY_BASE_MS = 200;
