/**
 * When to reuse a token, refresh it ahead of time, fetch a new one, or wait for somebody else.
 * Pure functions of the table state, the current credentials and a clock reading: the one place
 * that answers "why did this caller wait?".
 *
 *   issuedAt                       expireTime − refreshWindow   expireTime − margin   expireTime
 *   |------------- fresh ------------------|------ refresh-due -------|---- expired ----|
 *        served as is                  served; one caller refreshes   never served
 */
import type { CachedToken, TenantTokenState } from './types';

export interface TokenPolicySettings {
  /** A token is never served when it has less than this left before the upstream's expireTime. */
  readonly safetyMarginMs: number;
  /** Within this much of the upstream's expireTime a lease holder refreshes the still-valid token. */
  readonly refreshWindowMs: number;
}

export type TokenCondition =
  | 'fresh'
  | 'refresh-due'
  | 'missing'
  | 'expired'
  | 'retired'
  | 'credentials-changed';

export function assessToken(
  token: CachedToken | undefined,
  fingerprint: string,
  now: number,
  settings: TokenPolicySettings,
): TokenCondition {
  if (token === undefined) return 'missing';
  if (token.fingerprint !== fingerprint) return 'credentials-changed';
  if (token.retiredAt !== undefined) return 'retired';
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

export type NextStep =
  /** Serve the token; nothing else to do. */
  | { readonly kind: 'serve'; readonly token: CachedToken }
  /** Serve the token, but first try (without waiting) to take the lease and refresh it. */
  | { readonly kind: 'refresh-ahead'; readonly token: CachedToken }
  /** No servable token and nobody is fetching one: take the lease and call getAccessToken. */
  | { readonly kind: 'fetch' }
  /** No servable token and another invocation holds a live lease: wait for its result. */
  | { readonly kind: 'wait'; readonly leaseExpiresAt: number };

export function nextStep(
  state: TenantTokenState,
  fingerprint: string,
  now: number,
  settings: TokenPolicySettings,
): NextStep {
  const condition = assessToken(state.token, fingerprint, now, settings);
  const leaseHeld = state.lease !== undefined && state.lease.expiresAt > now;
  if (condition === 'fresh') return { kind: 'serve', token: state.token! };
  if (condition === 'refresh-due') {
    // Somebody already refreshes: keep serving the valid token rather than queueing behind it.
    return leaseHeld ? { kind: 'serve', token: state.token! } : { kind: 'refresh-ahead', token: state.token! };
  }
  return leaseHeld ? { kind: 'wait', leaseExpiresAt: state.lease!.expiresAt } : { kind: 'fetch' };
}

/**
 * Whether a refresh may use the refresh endpoint: only a token the upstream still accepts can be
 * refreshed (docs §2), and a retired one was just reported rejected.
 */
export function canUseRefreshEndpoint(token: CachedToken | undefined, fingerprint: string, now: number): boolean {
  return (
    token !== undefined &&
    token.fingerprint === fingerprint &&
    token.retiredAt === undefined &&
    token.refreshToken.length > 0 &&
    now < token.expireTime
  );
}

/**
 * Whether the warmer should refresh this token now: it is valid, belongs to the current
 * credentials, and will enter its refresh window before the warmer runs again.
 */
export function needsWarming(
  token: CachedToken | undefined,
  fingerprint: string,
  now: number,
  horizonMs: number,
  settings: TokenPolicySettings,
): boolean {
  return (
    isServable(assessToken(token, fingerprint, now, settings)) &&
    token!.expireTime - settings.refreshWindowMs <= now + horizonMs
  );
}

/** Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Seconds until another invalidation of the tenant is accepted. */
export function invalidationRetryAfterSeconds(lastInvalidatedAt: number, now: number, minIntervalMs: number): number {
  return Math.max(1, Math.ceil((lastInvalidatedAt + minIntervalMs - now) / 1000));
}
