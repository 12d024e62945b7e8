/** The shapes the vendor works with, and the ports its adapters implement. No AWS here. */

/** Which auth API a tenant's app uses (`authVersion` in its secret). */
export type AuthVersion = 'v1' | 'v3';

export interface TenantCredentials {
  readonly appKey: string;
  readonly appSecurity: string;
  /**
   * The tenant's environment prefix (`https://dd2.hosecloud.com`), without a trailing slash: the
   * secret's `baseUrl`, or the default one. Undefined when the secret gives `corpId` instead: the
   * prefix is then looked up (`PrefixLocator`) whenever a token is fetched with getAccessToken.
   */
  readonly baseUrl?: string;
  /** The enterprise id, for the prefix lookup. */
  readonly corpId?: string;
  /** `v1`: getAccessToken and refresh at the prefix; `v3`: getAccessToken on the v3 host, no refresh. */
  readonly authVersion: AuthVersion;
  /**
   * Orders the versions of the tenant's secret: higher is newer. Secrets Manager: the version's
   * `CreatedDate` in ms; a fixed map (local mode, tests): 0. Tokens remember the rank they were
   * issued for, so that a container whose secret cache is older never replaces a newer one's token.
   */
  readonly rank: number;
}

/** Credentials with the prefix the upstream call is for: what the upstream adapter is given. */
export type LocatedCredentials = TenantCredentials & { readonly baseUrl: string };

/** What the upstream returns from getAccessToken and refreshToken. */
export interface IssuedToken {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Millisecond epoch at which the upstream stops accepting the token. */
  readonly expireTime: number;
  readonly corporationId: string;
  /**
   * The environment prefix the token is valid for (no trailing slash). Tokens stored before
   * prefixes were recorded have none: their tenant's configured prefix applies.
   */
  readonly baseUrl?: string;
  /** v3 only: `tenant` or `platform`. */
  readonly scope?: string;
}

/** A token as the table keeps it. */
export interface CachedToken extends IssuedToken {
  /** When this vendor received it (ms epoch). */
  readonly issuedAt: number;
  /** Hash of the appKey and baseUrl it was issued for: a rotated secret never gets an old tenant's token. */
  readonly fingerprint: string;
  /** The rank of the secret version it was issued for (see `TenantCredentials.rank`). */
  readonly credentialRank: number;
  /** Increases with every token stored for the tenant. */
  readonly version: number;
  /** Set when a caller reported this token rejected: it is never served again. */
  readonly retiredAt?: number;
  /**
   * Set when a lease holder vanished while it may have been replacing this token (its lease ran
   * out without a store or a release): the upstream may already have killed it, so it is never
   * served again, though the refresh endpoint may still be tried with it.
   */
  readonly doubtedAt?: number;
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
  /** Present while held, and after its holder vanished (then `expiresAt` is in the past). */
  readonly lease?: TokenLease;
  readonly lastFailure?: RecordedFailure;
  readonly lastInvalidatedAt?: number;
  /** The newest secret version rank any container has recorded for the tenant; 0 when none. */
  readonly credentialRank: number;
  /** Monotonic per item (bumped by every stored token), 0 when the item does not exist. */
  readonly version: number;
}

/** What a caller receives. */
export interface VendedToken {
  readonly tenantId: string;
  readonly accessToken: string;
  readonly corporationId: string;
  /** Upstream expireTime minus the safety margin: the caller must not use the token after it. */
  readonly expireTime: number;
  /** The environment prefix to call the Open API at with this token, without a trailing slash. */
  readonly baseUrl: string;
  /** v3 tokens: `tenant` or `platform`. */
  readonly scope?: string;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** How the vendor waits: real timers in AWS, simulated time in the fault simulator. */
export interface Timers {
  sleep(ms: number): Promise<void>;
  /** A signal that aborts after `ms` (an upstream call's timeout). */
  abortAfter(ms: number): AbortSignal;
}

export const systemTimers: Timers = {
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  abortAfter: (ms) => AbortSignal.timeout(ms),
};

export interface CredentialReadOptions {
  /** Skip any cache: another container has seen a newer version of the secret. */
  readonly fresh?: boolean;
}

/** Port: where tenant credentials come from (Secrets Manager in AWS, a file locally). */
export interface CredentialSource {
  /** @throws TenantNotFound, TenantMisconfigured, DependencyThrottled, DependencyUnavailable */
  get(tenantId: string, options?: CredentialReadOptions): Promise<TenantCredentials>;
}

export interface RefreshOptions {
  /** Whole days for the `/expireDate` variant; undefined uses the upstream default (32 days). */
  readonly lifetimeDays?: number;
}

/** Port: the Ekuaibao auth API. */
export interface UpstreamAuth {
  /** @throws UpstreamRejectedCredentials, UpstreamUnavailable */
  getAccessToken(credentials: LocatedCredentials, signal: AbortSignal): Promise<IssuedToken>;
  /** @throws UpstreamRefreshRejected, UpstreamUnavailable */
  refreshToken(
    credentials: LocatedCredentials,
    current: IssuedToken,
    options: RefreshOptions,
    signal: AbortSignal,
  ): Promise<IssuedToken>;
}

/** Port: the Ekuaibao location API, which names an enterprise's current environment prefix. */
export interface PrefixLocator {
  /**
   * The prefix of `corpId`'s environment, without a trailing slash.
   * @throws TenantMisconfigured (an answer that is not an https URL), UpstreamUnavailable
   */
  locate(tenantId: string, corpId: string, signal: AbortSignal): Promise<string>;
}

/**
 * Port: starts a refresh of one tenant's token somewhere that may keep working after the caller
 * has been answered (an asynchronous Lambda invocation in AWS; a background task locally).
 * Resolves once the request to refresh has been handed over, not when the refresh is done.
 */
export interface RefreshTrigger {
  requestRefresh(tenantId: string): Promise<void>;
}

/**
 * What a conditional write tells its caller: the item after a success, or the item that made it
 * fail when the engine returns one. DynamoDB returns it (`ReturnValuesOnConditionCheckFailure`);
 * dynalite does not, and then `state` is undefined: a question ("read again"), never an empty item.
 */
export type WriteResult =
  | { readonly ok: true; readonly state: TenantTokenState }
  | { readonly ok: false; readonly state?: TenantTokenState };

export interface LeaseRequest {
  readonly lease: TokenLease;
  /** The item's `version` the decision was made on: the lease is taken only if it is unchanged. */
  readonly seenVersion: number;
  readonly now: number;
  /** Written as the item's credential rank (the caller passes the larger of the seen and its own). */
  readonly credentialRank: number;
  /** Marks the current token as in doubt (its last holder vanished mid-replacement). */
  readonly markTokenInDoubt: boolean;
  /** The item must not expire (DynamoDB TTL) before this: the later of the lease's end and the seen token's expiry. */
  readonly keepItemUntil: number;
}

/**
 * Port: the shared token table. Every read is strongly consistent; every write is one
 * conditional write; none of them decides anything, and none of them retries. Transient engine
 * failures are thrown as `DependencyThrottled` or `DependencyUnavailable`; such a write may or may
 * not have been applied (a timeout after commit), which the caller finds out by reading.
 */
export interface TokenStore {
  read(tenantId: string): Promise<TenantTokenState>;
  /**
   * Takes the lease if the item's version is `seenVersion` (or the item does not exist) and nobody
   * holds a live lease (`leaseExpiresAt <= now`). Leaves the version as it is.
   */
  acquireLease(tenantId: string, request: LeaseRequest): Promise<WriteResult>;
  /**
   * Stores a new token and releases the lease, only while `owner` still holds it (a lease that ran
   * out but that nobody took over still counts). Bumps the version; clears retiredAt, doubtedAt and
   * the recorded failure.
   */
  storeToken(tenantId: string, owner: string, token: Omit<CachedToken, 'version' | 'retiredAt' | 'doubtedAt'>): Promise<WriteResult>;
  /** Releases the lease after a failed upstream call, only while `owner` holds it, recording the failure. */
  releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<WriteResult>;
  /**
   * Retires `accessToken` only if it is the current token, not already retired, and the last
   * retirement is at least `minIntervalMs` old. Sets `retiredAt` and `lastInvalidatedAt` to `now`.
   */
  retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<WriteResult>;
  /** Raises the item's credential rank to `rank` if it is lower (creating the item if needed). */
  recordCredentialRank(tenantId: string, rank: number): Promise<WriteResult>;
  /** Tenants whose token's upstream expireTime is before `before` (for the warmer). */
  listExpiringBefore(before: number): Promise<string[]>;
}
