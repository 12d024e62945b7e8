/** The shapes the vendor works with, and the ports its adapters implement. No AWS here. */

export interface TenantCredentials {
  readonly appKey: string;
  readonly appSecurity: string;
  /** Without a trailing slash. */
  readonly baseUrl: string;
}

/** What the upstream returns from getAccessToken and refreshToken. */
export interface IssuedToken {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Millisecond epoch at which the upstream stops accepting the token. */
  readonly expireTime: number;
  readonly corporationId: string;
}

/** A token as the cache keeps it. */
export interface CachedToken extends IssuedToken {
  /** When this vendor received it (ms epoch). */
  readonly issuedAt: number;
  /** Hash of the appKey and baseUrl it was issued for: a rotated secret never gets an old tenant's token. */
  readonly fingerprint: string;
  /** Increases with every token stored for the tenant; what compare-and-swap writes compare. */
  readonly version: number;
  /** Set when a caller reported this token rejected: it is never served again. */
  readonly retiredAt?: number;
}

/** Who is talking to the upstream for a tenant right now, across all containers. */
export interface TokenLease {
  /** Unique per acquisition, so a stale holder can never act on a later lease. */
  readonly owner: string;
  /** ms epoch; past it the lease is void and anyone may take over. */
  readonly expiresAt: number;
}

/** The last upstream failure a lease holder recorded, so that its waiters need not repeat the call. */
export interface RecordedFailure {
  readonly code: 'UPSTREAM_REJECTED_CREDENTIALS' | 'UPSTREAM_UNAVAILABLE';
  readonly at: number;
  /** The lease whose holder failed: only the waiters of that lease give up because of it. */
  readonly leaseOwner: string;
}

/** Everything the table holds about one tenant. */
export interface TenantTokenState {
  readonly tenantId: string;
  readonly token?: CachedToken;
  readonly lease?: TokenLease;
  readonly lastFailure?: RecordedFailure;
  readonly lastInvalidatedAt?: number;
  /** Monotonic per item, 0 when the item does not exist; guards lease acquisition. */
  readonly version: number;
}

/** What a caller receives. */
export interface VendedToken {
  readonly tenantId: string;
  readonly accessToken: string;
  readonly corporationId: string;
  /** Upstream expireTime minus the safety margin: the caller must not use the token after it. */
  readonly expireTime: number;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Port: where tenant credentials come from (Secrets Manager in AWS, a file locally). */
export interface CredentialSource {
  /** @throws TenantNotFound, TenantMisconfigured */
  get(tenantId: string): Promise<TenantCredentials>;
}

export interface RefreshOptions {
  /** Whole days for the `/expireDate` variant; undefined uses the upstream default (32 days). */
  readonly lifetimeDays?: number;
}

/** Port: the Ekuaibao auth API. */
export interface UpstreamAuth {
  /** @throws UpstreamRejectedCredentials, UpstreamUnavailable */
  getAccessToken(credentials: TenantCredentials, signal: AbortSignal): Promise<IssuedToken>;
  /** @throws UpstreamRefreshRejected, UpstreamUnavailable */
  refreshToken(
    credentials: TenantCredentials,
    current: IssuedToken,
    options: RefreshOptions,
    signal: AbortSignal,
  ): Promise<IssuedToken>;
}

export type AcquireResult =
  | { readonly acquired: true; readonly state: TenantTokenState }
  | { readonly acquired: false; readonly state: TenantTokenState };

export type RetireResult =
  | { readonly outcome: 'retired' | 'stale' }
  | { readonly outcome: 'rate-limited'; readonly lastInvalidatedAt: number };

/** Port: the shared token table. Every write is conditional; none of them decides anything. */
export interface TokenStore {
  read(tenantId: string, consistent: boolean): Promise<TenantTokenState>;
  /**
   * Takes the lease if the item is still as `seen` shows it (same version) and nobody holds a live
   * lease. On failure returns the state that won, so the loser needs no second read.
   */
  acquireLease(tenantId: string, seen: TenantTokenState, lease: TokenLease, now: number): Promise<AcquireResult>;
  /** Stores a new token and releases the lease, only while `owner` still holds it. */
  storeToken(
    tenantId: string,
    owner: string,
    token: Omit<CachedToken, 'version'>,
  ): Promise<TenantTokenState | undefined>;
  /** Releases the lease after a failed upstream call, recording the failure for waiters. */
  releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<void>;
  /** Retires `accessToken` only if it is the current token and the last retirement is older than `minIntervalMs`. */
  retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<RetireResult>;
  /** Tenants whose token's upstream expireTime is before `before` (for the warmer). */
  listExpiringBefore(before: number): Promise<string[]>;
}
