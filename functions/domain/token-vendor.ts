/**
 * The one flow that turns "a token for tenant T, please" into a token:
 *
 *   memory (this container) → table (all containers) → lease → upstream → table → caller
 *
 * The policy (`token-policy.ts`) decides each step; this class carries it out through the ports.
 * Two rules hold everywhere: at most one invocation per tenant talks to the upstream at a time
 * (a lease in the table, and one in-flight promise per tenant inside a container), and a valid
 * token is served rather than an upstream failure.
 */
import { randomUUID } from 'node:crypto';
import {
  TokenRefreshInProgress,
  UpstreamRefreshRejected,
  UpstreamRejectedCredentials,
  UpstreamUnavailable,
  InvalidationRateLimited,
} from './errors';
import { credentialFingerprint } from './fingerprint';
import {
  assessToken,
  backoffDelay,
  canUseRefreshEndpoint,
  invalidationRetryAfterSeconds,
  isServable,
  needsWarming,
  nextStep,
  servableUntil,
  type TokenPolicySettings,
} from './token-policy';
import {
  systemClock,
  type CachedToken,
  type Clock,
  type CredentialSource,
  type IssuedToken,
  type RecordedFailure,
  type TenantCredentials,
  type TenantTokenState,
  type TokenLease,
  type TokenStore,
  type UpstreamAuth,
  type VendedToken,
} from './types';
import { silentEvents, type UpstreamOperation, type VendorEvents } from './vendor-events';

export interface TokenVendorSettings extends TokenPolicySettings {
  /** How long this container trusts a token it has seen without asking the table again. */
  readonly memoryMaxAgeMs: number;
  /** How long a lease lasts; longer than every upstream attempt a holder may start. */
  readonly leaseDurationMs: number;
  /** How long a caller waits for another invocation's upstream call before 503. */
  readonly leaseWaitMs: number;
  /** Everything one request may take; below API Gateway's 29 s integration limit. */
  readonly requestBudgetMs: number;
  readonly upstreamTimeoutMs: number;
  readonly upstreamMaxAttempts: number;
  /** Lifetime asked of the refresh endpoint (`/expireDate`); undefined takes the upstream's 32 days. */
  readonly refreshLifetimeDays?: number;
  /** At most one accepted invalidation per tenant in this interval. */
  readonly invalidationMinIntervalMs: number;
}

export interface TokenVendorDependencies {
  readonly credentials: CredentialSource;
  readonly store: TokenStore;
  readonly upstream: UpstreamAuth;
  readonly settings: TokenVendorSettings;
  readonly clock?: Clock;
  readonly events?: VendorEvents;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type WarmOutcome = 'refreshed' | 'skipped' | 'failed';

type LeaseOutcome =
  | { readonly kind: 'stored'; readonly token: CachedToken }
  | { readonly kind: 'lost'; readonly state: TenantTokenState }
  | { readonly kind: 'failed'; readonly error: unknown };

/** Time kept free at the end of a lease so that no upstream attempt outlives it. */
const LEASE_GUARD_MS = 500;
/** An attempt with less time than this left is not worth starting. */
const MIN_ATTEMPT_MS = 250;
/** Waiters poll the table this often: short, so that they learn of a new token soon after it lands. */
const WAIT_BASE_MS = 25;
const WAIT_CAP_MS = 100;
const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 1000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TokenVendor {
  private readonly credentials: CredentialSource;
  private readonly store: TokenStore;
  private readonly upstream: UpstreamAuth;
  private readonly settings: TokenVendorSettings;
  private readonly clock: Clock;
  private readonly events: VendorEvents;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly memory = new Map<string, { token: CachedToken; seenAt: number }>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();

  constructor(dependencies: TokenVendorDependencies) {
    this.credentials = dependencies.credentials;
    this.store = dependencies.store;
    this.upstream = dependencies.upstream;
    this.settings = dependencies.settings;
    this.clock = dependencies.clock ?? systemClock;
    this.events = dependencies.events ?? silentEvents;
    this.random = dependencies.random ?? Math.random;
    this.sleep = dependencies.sleep ?? defaultSleep;
  }

  /** A token the caller may use until the returned `expireTime`. */
  async vend(tenantId: string): Promise<VendedToken> {
    const credentials = await this.credentials.get(tenantId);
    const fingerprint = credentialFingerprint(credentials);
    const now = this.clock.now();
    const remembered = this.memory.get(tenantId);
    if (
      remembered !== undefined &&
      now - remembered.seenAt < this.settings.memoryMaxAgeMs &&
      assessToken(remembered.token, fingerprint, now, this.settings) === 'fresh'
    ) {
      this.events.cacheHit('memory');
      return this.toVended(tenantId, remembered.token);
    }
    const token = await this.singleFlight(tenantId, () => this.resolve(tenantId, credentials, fingerprint));
    return this.toVended(tenantId, token);
  }

  /**
   * A caller reports `accessToken` rejected. Only the token currently cached is retired, so a late
   * report about an older token changes nothing.
   * @throws InvalidationRateLimited when the tenant's token was retired moments ago.
   */
  async invalidate(tenantId: string, accessToken: string): Promise<'retired' | 'stale'> {
    await this.credentials.get(tenantId);
    if (this.memory.get(tenantId)?.token.accessToken === accessToken) this.memory.delete(tenantId);
    const now = this.clock.now();
    const result = await this.store.retire(tenantId, accessToken, now, this.settings.invalidationMinIntervalMs);
    if (result.outcome === 'rate-limited') {
      throw new InvalidationRateLimited(
        invalidationRetryAfterSeconds(result.lastInvalidatedAt, now, this.settings.invalidationMinIntervalMs),
      );
    }
    return result.outcome;
  }

  /**
   * Refreshes the tenant's token through the lease if it will enter its refresh window within
   * `horizonMs`, so that callers of active tenants never wait on the upstream.
   */
  async warm(tenantId: string, horizonMs: number): Promise<WarmOutcome> {
    const credentials = await this.credentials.get(tenantId);
    const fingerprint = credentialFingerprint(credentials);
    const state = await this.store.read(tenantId, true);
    const now = this.clock.now();
    const leaseHeld = state.lease !== undefined && state.lease.expiresAt > now;
    if (leaseHeld || !needsWarming(state.token, fingerprint, now, horizonMs, this.settings)) return 'skipped';
    const outcome = await this.underLease(tenantId, state, credentials, fingerprint, now + this.settings.requestBudgetMs);
    if (outcome.kind === 'stored') {
      this.remember(tenantId, outcome.token);
      return 'refreshed';
    }
    return outcome.kind === 'lost' ? 'skipped' : 'failed';
  }

  /**
   * Warms every tenant in the table whose token enters its refresh window within `horizonMs`.
   * One tenant's failure (a deleted secret, an upstream error) does not stop the others.
   */
  async warmAll(horizonMs: number, concurrency = 4): Promise<Record<WarmOutcome, number>> {
    const due = await this.store.listExpiringBefore(this.clock.now() + this.settings.refreshWindowMs + horizonMs);
    const counts: Record<WarmOutcome, number> = { refreshed: 0, skipped: 0, failed: 0 };
    const queue = [...due];
    const worker = async () => {
      for (let tenantId = queue.shift(); tenantId !== undefined; tenantId = queue.shift()) {
        let outcome: WarmOutcome;
        try {
          outcome = await this.warm(tenantId, horizonMs);
        } catch (error) {
          this.events.notice('could not warm tenant', { tenantId, error: errorName(error) });
          outcome = 'failed';
        }
        counts[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    return counts;
  }

  private async resolve(tenantId: string, credentials: TenantCredentials, fingerprint: string): Promise<CachedToken> {
    const deadline = this.clock.now() + this.settings.requestBudgetMs;
    let state = await this.store.read(tenantId, false);
    let waitStartedAt: number | undefined;
    let waitAttempt = 0;
    const leasesWaitedOn = new Set<string>();
    for (;;) {
      const now = this.clock.now();
      if (now >= deadline) throw new TokenRefreshInProgress(1);
      const step = nextStep(state, fingerprint, now, this.settings);
      switch (step.kind) {
        case 'serve':
          if (waitStartedAt === undefined) this.events.cacheHit('table');
          else this.events.leaseWait('served', now - waitStartedAt);
          return this.remember(tenantId, step.token);

        case 'refresh-ahead': {
          const outcome = await this.underLease(tenantId, state, credentials, fingerprint, deadline);
          if (outcome.kind === 'stored') return this.remember(tenantId, outcome.token);
          if (outcome.kind === 'lost') {
            state = outcome.state;
            continue;
          }
          // The refresh failed but the old token is still good: callers never see this failure.
          if (isServable(assessToken(step.token, fingerprint, this.clock.now(), this.settings))) {
            this.events.servedStale();
            return this.remember(tenantId, step.token);
          }
          throw outcome.error;
        }

        case 'fetch': {
          const outcome = await this.underLease(tenantId, state, credentials, fingerprint, deadline);
          if (outcome.kind === 'stored') return this.remember(tenantId, outcome.token);
          if (outcome.kind === 'failed') throw outcome.error;
          state = outcome.state;
          continue;
        }

        case 'wait': {
          waitStartedAt ??= now;
          if (state.lease !== undefined) leasesWaitedOn.add(state.lease.owner);
          const waitDeadline = Math.min(waitStartedAt + this.settings.leaseWaitMs, deadline);
          if (now >= waitDeadline) {
            this.events.leaseWait('timed-out', now - waitStartedAt);
            throw new TokenRefreshInProgress(Math.max(1, Math.ceil((step.leaseExpiresAt - now) / 1000)));
          }
          const delay = WAIT_BASE_MS + backoffDelay(waitAttempt++, WAIT_BASE_MS, WAIT_CAP_MS, this.random);
          await this.sleep(Math.min(delay, waitDeadline - now));
          state = await this.store.read(tenantId, true);
          // The holder we waited on gave up: share its failure rather than repeat its call, unless
          // somebody else has taken over (then keep waiting) or a token has landed (then serve it).
          if (state.lastFailure !== undefined && leasesWaitedOn.has(state.lastFailure.leaseOwner)) {
            const stepNow = nextStep(state, fingerprint, this.clock.now(), this.settings);
            if (stepNow.kind === 'fetch') {
              this.events.leaseWait('failed', this.clock.now() - waitStartedAt);
              throw failureAsError(state.lastFailure);
            }
          }
          continue;
        }
      }
    }
  }

  /**
   * Takes the tenant's lease (only if the table still holds what `state` shows), asks the
   * upstream for a token, stores it and releases the lease in the same write.
   */
  private async underLease(
    tenantId: string,
    state: TenantTokenState,
    credentials: TenantCredentials,
    fingerprint: string,
    deadline: number,
  ): Promise<LeaseOutcome> {
    const now = this.clock.now();
    const lease: TokenLease = { owner: randomUUID(), expiresAt: now + this.settings.leaseDurationMs };
    const acquired = await this.store.acquireLease(tenantId, state, lease, now);
    if (!acquired.acquired) return { kind: 'lost', state: acquired.state };

    let issued: IssuedToken;
    try {
      issued = await this.callUpstream(credentials, fingerprint, acquired.state.token, lease, deadline);
    } catch (error) {
      const failure: RecordedFailure = {
        code: error instanceof UpstreamRejectedCredentials ? 'UPSTREAM_REJECTED_CREDENTIALS' : 'UPSTREAM_UNAVAILABLE',
        at: this.clock.now(),
        leaseOwner: lease.owner,
      };
      try {
        await this.store.releaseLease(tenantId, lease.owner, failure);
      } catch (releaseError) {
        // The lease then simply runs out; waiters stop at their own bound.
        this.events.notice('could not release lease', { tenantId, error: errorName(releaseError) });
      }
      return { kind: 'failed', error };
    }

    const stored = await this.store.storeToken(tenantId, lease.owner, {
      ...issued,
      issuedAt: this.clock.now(),
      fingerprint,
    });
    if (stored?.token === undefined) {
      // Our lease ran out and somebody else took over; their token (or their wait) wins.
      this.events.notice('lease lost before the token was stored', { tenantId });
      return { kind: 'lost', state: await this.store.read(tenantId, true) };
    }
    return { kind: 'stored', token: stored.token };
  }

  /**
   * Refreshes the current token when the upstream still accepts it, else gets a new one; retries
   * transient failures with jittered backoff, never past the lease or the request's deadline.
   */
  private async callUpstream(
    credentials: TenantCredentials,
    fingerprint: string,
    current: CachedToken | undefined,
    lease: TokenLease,
    deadline: number,
  ): Promise<IssuedToken> {
    let useRefresh = canUseRefreshEndpoint(current, fingerprint, this.clock.now());
    let lastError: unknown = new UpstreamUnavailable('no time left to call it');
    for (let attempt = 0; attempt < this.settings.upstreamMaxAttempts; ) {
      const now = this.clock.now();
      const remaining = Math.min(lease.expiresAt - LEASE_GUARD_MS, deadline) - now;
      if (remaining < MIN_ATTEMPT_MS) break;
      const operation: UpstreamOperation = useRefresh ? 'refreshToken' : 'getAccessToken';
      const signal = AbortSignal.timeout(Math.min(this.settings.upstreamTimeoutMs, remaining));
      let issued: IssuedToken;
      try {
        issued = useRefresh
          ? await this.upstream.refreshToken(
              credentials,
              current!,
              { lifetimeDays: this.settings.refreshLifetimeDays },
              signal,
            )
          : await this.upstream.getAccessToken(credentials, signal);
      } catch (error) {
        this.events.upstreamCall(operation, 'failed', this.clock.now() - now);
        if (error instanceof UpstreamRefreshRejected) {
          // Expired or revoked at the upstream: the documented way out is a new getAccessToken.
          useRefresh = false;
          lastError = error;
          continue;
        }
        if (!(error instanceof UpstreamUnavailable)) throw error;
        lastError = error;
        attempt++;
        if (attempt < this.settings.upstreamMaxAttempts) {
          await this.sleep(backoffDelay(attempt, RETRY_BASE_MS, RETRY_CAP_MS, this.random));
        }
        continue;
      }
      this.events.upstreamCall(operation, 'ok', this.clock.now() - now);
      if (servableUntil(issued, this.settings) <= this.clock.now()) {
        // Asking again would get the same short lifetime; the operator must fix the margin.
        throw new UpstreamUnavailable('it issued a token that expires within the safety margin');
      }
      return issued;
    }
    throw lastError instanceof UpstreamRefreshRejected ? new UpstreamUnavailable('refresh was refused') : lastError;
  }

  private singleFlight(tenantId: string, resolve: () => Promise<CachedToken>): Promise<CachedToken> {
    let pending = this.inFlight.get(tenantId);
    if (pending === undefined) {
      pending = resolve().finally(() => this.inFlight.delete(tenantId));
      this.inFlight.set(tenantId, pending);
    }
    return pending;
  }

  private remember(tenantId: string, token: CachedToken): CachedToken {
    this.memory.set(tenantId, { token, seenAt: this.clock.now() });
    return token;
  }

  private toVended(tenantId: string, token: CachedToken): VendedToken {
    return {
      tenantId,
      accessToken: token.accessToken,
      corporationId: token.corporationId,
      expireTime: servableUntil(token, this.settings),
    };
  }
}

function failureAsError(failure: RecordedFailure): Error {
  return failure.code === 'UPSTREAM_REJECTED_CREDENTIALS'
    ? new UpstreamRejectedCredentials()
    : new UpstreamUnavailable('the request that was fetching this token failed');
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
