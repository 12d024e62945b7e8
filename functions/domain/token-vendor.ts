/**
 * The one flow that turns "a token for tenant T, please" into a token:
 *
 *   table (strongly consistent read) → policy → serve | wait | lease → upstream → table → caller
 *
 * `token-policy.ts` makes every decision; this class carries them out through the ports and shows
 * the policy each new state. Three rules hold everywhere: at most one invocation per tenant talks
 * to the upstream at a time (a lease in the table); a caller is never handed a token that was
 * retired or replaced before its request started (every request reads the table, no token cache
 * in memory); and while a servable token exists, callers get it from one table read and never
 * wait on the upstream: refreshes run elsewhere (`RefreshTrigger`).
 */
import {
  DependencyUnavailable,
  InvalidationRateLimited,
  isTransientDependencyError,
  TenantMisconfigured,
  TokenRefreshInProgress,
  UpstreamRefreshRejected,
  UpstreamRejectedCredentials,
  UpstreamUnavailable,
} from './errors';
import { credentialFingerprint } from './fingerprint';
import {
  afterFailedRetire,
  afterFailedStore,
  answerPrefix,
  answerToReport,
  lastKnownPrefix,
  outdatedBySecret,
  backoffDelay,
  callerStep,
  DEPENDENCY_RETRY_BASE_MS,
  DEPENDENCY_RETRY_CAP_MS,
  holderActsUntil,
  MIN_ATTEMPT_MS,
  nextUpstreamOperation,
  pollRoundAt,
  readMayEndWait,
  refresherStep,
  refreshPrefix,
  servableUntil,
  UPSTREAM_RETRY_BASE_MS,
  WAIT_BASE_MS,
  WAIT_CAP_MS,
  waitEndsAt,
  type CallerFailure,
  type Identity,
  type TokenPolicySettings,
} from './token-policy';
import { UPSTREAM_RETRY_CAP_MS } from '../../contract/lease-timing';
import {
  systemClock,
  systemTimers,
  type CachedToken,
  type Clock,
  type CredentialSource,
  type IssuedToken,
  type LocatedCredentials,
  type PrefixLocator,
  type RefreshTrigger,
  type TenantCredentials,
  type TenantTokenState,
  type Timers,
  type TokenLease,
  type TokenStore,
  type UpstreamAuth,
  type VendedToken,
  type WriteResult,
} from './types';
import { silentEvents, type VendorEvents } from './vendor-events';

export interface TokenVendorSettings extends TokenPolicySettings {
  /** How long a lease lasts (`leaseDurationMs` in lease-timing.ts). */
  readonly leaseDurationMs: number;
  /** How long a caller waits for another invocation's upstream call before 503. */
  readonly leaseWaitMs: number;
  /** Everything one request may take; below API Gateway's 29 s integration limit. */
  readonly requestBudgetMs: number;
  readonly upstreamTimeoutMs: number;
  /** Upstream attempts per lease, refresh and getAccessToken together (a 403 from refresh does not count). */
  readonly upstreamMaxAttempts: number;
  /** Lifetime asked of the refresh endpoint (`/expireDate`); undefined takes the upstream's 32 days. */
  readonly refreshLifetimeDays?: number;
  /** At most one accepted invalidation per tenant in this interval. */
  readonly invalidationMinIntervalMs: number;
  /** How long a caller waits for the refresh trigger to hand its request over. */
  readonly refreshTriggerTimeoutMs: number;
}

export interface TokenVendorDependencies {
  readonly credentials: CredentialSource;
  readonly store: TokenStore;
  readonly upstream: UpstreamAuth;
  /**
   * Looks up the environment prefix of tenants whose secret gives `corpId` instead of `baseUrl`.
   * Without one, such tenants get TENANT_MISCONFIGURED.
   */
  readonly locator?: PrefixLocator;
  /** Where refreshes of refresh-due tokens run; without one, callers never trigger refreshes. */
  readonly refresher?: RefreshTrigger;
  readonly settings: TokenVendorSettings;
  readonly clock?: Clock;
  readonly timers?: Timers;
  readonly events?: VendorEvents;
  readonly random?: () => number;
  /** Lease owner ids; unique per call. */
  readonly newId?: () => string;
}

export type WarmOutcome = 'refreshed' | 'skipped' | 'failed';

/** Whether a report retired the current token, or was about a token that was no longer current. */
export type InvalidationOutcome = 'retired' | 'stale';

/** What an invalidation answers: the token to use instead of the reported one. */
export interface InvalidationAnswer {
  readonly outcome: InvalidationOutcome;
  readonly token: VendedToken;
}

/** How one lease ended. */
type LeaseOutcome =
  /** The new token is in the table. */
  | { readonly kind: 'stored'; readonly token: CachedToken }
  /**
   * The table kept failing: the token was not stored. It goes to the requests of this container
   * that waited for this lease (they started before it existed), and to nobody else.
   */
  | { readonly kind: 'unstored'; readonly token: CachedToken }
  /** Somebody else won the lease, or ours ran out: look at the table again. */
  | { readonly kind: 'lost' }
  | { readonly kind: 'failed'; readonly error: unknown };

/** A lease of this container that ended, with the first read number sent after it ended. */
type SettledLease = LeaseOutcome & { readonly readsFrom: number };

/** A request waiting in a tenant's shared poll (`pollRoundAt`). */
interface PollWaiter {
  /** `waitEndsAt`: it looks at the first read answered from then on, whatever it shows. */
  readonly endsAt: number;
  readonly wake: (answer: PollAnswer) => void;
}

/**
 * The waiters of a poll that decided to wait on the same read (`seen`): most of a crowd, since
 * they shared that read. A round weighs its read once per group, not once per waiter.
 */
interface PollGroup {
  readonly seen: TenantTokenState;
  readonly waiters: PollWaiter[];
  /** The earliest `endsAt` among them. */
  endsAt: number;
}

/**
 * What a poll round hands a waiter: the round's read, which was sent after the waiter joined, and
 * its number. Without a state the read failed: the waiter reads again itself (from that number on),
 * with its own retries and deadline.
 */
interface PollAnswer {
  readonly readsFrom: number;
  readonly state?: TenantTokenState;
}

/** A tenant's shared poll in this container: one read per round for all of its waiters. */
interface TenantPoll {
  /** Waiters for the next round's read, by the read they waited on (none of them joined before a read now in flight). */
  waiting: Map<TenantTokenState, PollGroup>;
  /** When the next round fires, if scheduled; it is not while a round's read is in flight. */
  at?: number;
  /** The scheduled round's timer; the timer of a round since brought forward finds another here and does nothing. */
  timer?: object;
  /** Rounds so far, for the backoff. */
  rounds: number;
  reading: boolean;
}

let fallbackIds = 0;
const defaultNewId = () =>
  globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${(fallbackIds++).toString(36)}-${Math.random().toString(36).slice(2)}`;

/**
 * Vends one token lineage per tenant.
 *
 * @example
 * const vendor = new TokenVendor({ credentials, store, upstream, refresher, settings });
 * const { accessToken, expireTime } = await vendor.vend('acme');
 * // Ekuaibao answered 403: report the token, and use the one that comes back.
 * const { token: replacement } = await vendor.invalidate('acme', accessToken);
 */
export class TokenVendor {
  private readonly credentials: CredentialSource;
  private readonly store: TokenStore;
  private readonly upstream: UpstreamAuth;
  private readonly locator: PrefixLocator | undefined;
  private readonly refresher: RefreshTrigger | undefined;
  private readonly settings: TokenVendorSettings;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly events: VendorEvents;
  private readonly random: () => number;
  private readonly newId: () => string;
  /** Reads in flight per tenant, numbered in the order they were sent. */
  private readonly reads = new Map<string, { readonly seq: number; readonly promise: Promise<TenantTokenState> }>();
  private readSeq = 0;
  /** The lease this container holds per tenant, if any: its other requests join it. */
  private readonly fetches = new Map<string, Promise<SettledLease>>();
  /**
   * Each tenant's shared poll: this container's requests that wait for another container's lease
   * holder share one read per round, and wake only when it may change what they do.
   */
  private readonly polls = new Map<string, TenantPoll>();
  /** One timer per moment that requests wait until (`sleepUntil`). */
  private readonly alarms = new Map<number, Promise<void>>();
  private readonly lastTriggeredAt = new Map<string, number>();

  constructor(dependencies: TokenVendorDependencies) {
    this.credentials = dependencies.credentials;
    this.store = dependencies.store;
    this.upstream = dependencies.upstream;
    this.locator = dependencies.locator;
    this.refresher = dependencies.refresher;
    this.settings = dependencies.settings;
    this.clock = dependencies.clock ?? systemClock;
    this.timers = dependencies.timers ?? systemTimers;
    this.events = dependencies.events ?? silentEvents;
    this.random = dependencies.random ?? Math.random;
    this.newId = dependencies.newId ?? defaultNewId;
  }

  /** A token the caller may use until the returned `expireTime`. */
  async vend(tenantId: string): Promise<VendedToken> {
    const startedAt = this.clock.now();
    return this.vendUntil(tenantId, startedAt, startedAt + this.settings.requestBudgetMs);
  }

  /** `vend` for a request that started at `startedAt` and must be answered by `deadline`. */
  private async vendUntil(tenantId: string, startedAt: number, deadline: number): Promise<VendedToken> {
    // Only reads sent after this moment may answer this request (README, I2 and I4). Requests
    // that wait take later reads still: the one after their container's lease ended, or their
    // poll round's, which a crowd of waiters shares.
    const startedFrom = this.readSeq + 1;
    let notBefore = startedFrom;
    let credentials = await this.dependency('GetSecretValue', deadline, () => this.credentials.get(tenantId));
    let identity = identityOf(credentials);
    let state = await this.readTable(tenantId, notBefore, deadline);
    let credentialsReloaded = false;
    let reloadedForRank: number | undefined;
    let waitStartedAt: number | undefined;
    let waitAttempt = 0;
    let supersedingReported = false;
    const leasesWaitedOn = new Set<string>();

    for (;;) {
      const now = this.clock.now();
      if (now >= deadline) throw new TokenRefreshInProgress(1);
      const step = callerStep(state, identity, now, this.settings, {
        credentialsReloaded,
        ...(reloadedForRank !== undefined && { reloadedForRank }),
        lastTriggeredAt: this.lastTriggeredAt.get(tenantId),
        leasesWaitedOn,
        startedAt,
        waitStartedAt,
        leaseWaitMs: this.settings.leaseWaitMs,
      });
      switch (step.kind) {
        case 'serve':
          if (step.refreshElsewhere) await this.triggerRefresh(tenantId);
          if (step.afterFailedRefresh) this.events.servedStale();
          if (waitStartedAt === undefined) this.events.cacheHit();
          else this.events.leaseWait('served', now - waitStartedAt);
          return this.toVended(tenantId, step.token, credentials);

        case 'reload-credentials':
          credentialsReloaded = true;
          reloadedForRank = step.behindRank;
          credentials = await this.dependency('GetSecretValue', deadline, () => this.credentials.get(tenantId, { fresh: true }));
          identity = identityOf(credentials);
          continue;

        case 'record-credentials': {
          const result = await this.write('recordCredentialRank', deadline, () =>
            this.store.recordCredentialRank(tenantId, identity.rank),
          );
          notBefore = this.readSeq + 1;
          state = result?.ok ? result.state : await this.readTable(tenantId, notBefore, deadline);
          continue;
        }

        case 'fetch': {
          if (step.superseding && !supersedingReported) {
            supersedingReported = true;
            this.events.lineageSuperseded(step.superseding);
          }
          const local = this.fetches.get(tenantId);
          if (local !== undefined) {
            // This container already holds the lease: wait for it like any other waiter.
            waitStartedAt ??= now;
            const outcome = await this.waitFor(local, waitStartedAt, deadline);
            if (outcome === undefined) {
              this.events.leaseWait('timed-out', this.clock.now() - waitStartedAt);
              throw new TokenRefreshInProgress(1);
            }
            if (outcome.kind === 'unstored') return this.toVended(tenantId, outcome.token, credentials);
            if (outcome.kind === 'failed') throw outcome.error;
            // A token another request stored may have been retired since: read it again, sharing
            // the read with every other request that waited on the same lease.
            notBefore = outcome.readsFrom;
          } else {
            const outcome = await this.fetchUnderLease(tenantId, state, credentials, identity, step.markTokenInDoubt, deadline);
            if (outcome.kind === 'stored' || outcome.kind === 'unstored') return this.toVended(tenantId, outcome.token, credentials);
            if (outcome.kind === 'failed') throw outcome.error;
            // Lost: the read must show what won, so it is sent after the loss.
            await this.pause(waitAttempt++, deadline);
            notBefore = this.readSeq + 1;
          }
          state = await this.readTable(tenantId, notBefore, deadline);
          continue;
        }

        case 'wait': {
          waitStartedAt ??= now;
          leasesWaitedOn.add(step.leaseOwner);
          const local = this.fetches.get(tenantId);
          if (local !== undefined) {
            const outcome = await this.waitFor(local, waitStartedAt, deadline);
            if (outcome?.kind === 'unstored') return this.toVended(tenantId, outcome.token, credentials);
            notBefore = outcome?.readsFrom ?? startedFrom;
          } else {
            // The holder is elsewhere: poll for its result together with every other request of
            // this container that waits for the tenant.
            const answer = await this.poll(tenantId, state, waitEndsAt(waitStartedAt, this.settings.leaseWaitMs, deadline));
            notBefore = answer.readsFrom;
            if (answer.state !== undefined) {
              state = answer.state;
              continue;
            }
          }
          state = await this.readTable(tenantId, notBefore, deadline);
          continue;
        }

        case 'fail':
          if (waitStartedAt !== undefined) {
            this.events.leaseWait(step.failure.reason === 'wait-timed-out' ? 'timed-out' : 'failed', now - waitStartedAt);
          }
          throw failureAsError(step.failure, tenantId);
      }
    }
  }

  /**
   * A caller reports `accessToken` rejected, and is answered with the token to use instead: the
   * replacement when the reported token was current (retired here, and a new one obtained through
   * the same lease as every other caller's), or the current token when the report was stale. Only
   * the token currently stored is retired, so a late report about an older token changes nothing.
   * The answer is never the reported token.
   * @throws InvalidationRateLimited when the tenant's token was retired moments ago.
   */
  async invalidate(tenantId: string, accessToken: string): Promise<InvalidationAnswer> {
    const deadline = this.clock.now() + this.settings.requestBudgetMs;
    const outcome = await this.retire(tenantId, accessToken, deadline);
    // The replacement is vended as a request that starts now, after the retire: its reads are sent
    // after the retire was answered, so they cannot show the reported token as current.
    const token = await this.vendUntil(tenantId, this.clock.now(), deadline);
    const answer = answerToReport(accessToken, token.accessToken);
    if (answer.kind === 'fail') throw failureAsError(answer.failure, tenantId);
    return { outcome, token };
  }

  private async retire(tenantId: string, accessToken: string, deadline: number): Promise<InvalidationOutcome> {
    await this.dependency('GetSecretValue', deadline, () => this.credentials.get(tenantId));
    for (let attempt = 0; ; attempt++) {
      const now = this.clock.now();
      if (now >= deadline) throw new DependencyUnavailable('DynamoDB');
      const result = await this.write('retire', deadline, () =>
        this.store.retire(tenantId, accessToken, now, this.settings.invalidationMinIntervalMs),
      );
      if (result?.ok) return 'retired';
      // A lost answer, or a failure that did not say why: the item tells.
      const state = result?.state ?? (await this.readTable(tenantId, this.readSeq + 1, deadline));
      const outcome = afterFailedRetire(state, accessToken, this.clock.now(), this.settings.invalidationMinIntervalMs);
      if (outcome.kind === 'stale') return 'stale';
      if (outcome.kind === 'rate-limited') throw new InvalidationRateLimited(outcome.retryAfterSeconds);
      await this.pause(attempt, deadline);
    }
  }

  /**
   * Refreshes the tenant's token through the lease if it will enter its refresh window within
   * `horizonMs` (0: if it is in it now). Run by the warmer's schedule and by callers' refresh
   * requests, never inside a caller's request.
   */
  async refresh(tenantId: string, horizonMs = 0): Promise<WarmOutcome> {
    const deadline = this.clock.now() + this.settings.requestBudgetMs;
    let credentials = await this.dependency('GetSecretValue', deadline, () => this.credentials.get(tenantId));
    let reloaded = false;
    for (;;) {
      const identity = identityOf(credentials);
      const state = await this.readTable(tenantId, this.readSeq + 1, deadline);
      const step = refresherStep(state, identity, this.clock.now(), horizonMs, this.settings, reloaded);
      if (step.kind === 'skip') return 'skipped';
      if (step.kind === 'reload-credentials') {
        reloaded = true;
        credentials = await this.dependency('GetSecretValue', deadline, () => this.credentials.get(tenantId, { fresh: true }));
        continue;
      }
      const outcome = await this.underLease(tenantId, state, credentials, identity, false, deadline, false);
      if (outcome.kind === 'stored') return 'refreshed';
      return outcome.kind === 'lost' ? 'skipped' : 'failed';
    }
  }

  /**
   * Refreshes every tenant in the table whose token enters its refresh window within `horizonMs`.
   * One tenant's failure (a deleted secret, an upstream error) does not stop the others.
   */
  async warmAll(horizonMs: number, concurrency = 4): Promise<Record<WarmOutcome, number>> {
    const deadline = this.clock.now() + this.settings.requestBudgetMs;
    const due = await this.dependency('Scan', deadline, () =>
      this.store.listExpiringBefore(this.clock.now() + this.settings.refreshWindowMs + horizonMs),
    );
    const counts: Record<WarmOutcome, number> = { refreshed: 0, skipped: 0, failed: 0 };
    const queue = [...due];
    const worker = async () => {
      for (let tenantId = queue.shift(); tenantId !== undefined; tenantId = queue.shift()) {
        let outcome: WarmOutcome;
        try {
          outcome = await this.refresh(tenantId, horizonMs);
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

  /** One lease per tenant per container: the container's other requests join it. */
  private fetchUnderLease(
    tenantId: string,
    state: TenantTokenState,
    credentials: TenantCredentials,
    identity: Identity,
    markTokenInDoubt: boolean,
    deadline: number,
  ): Promise<SettledLease> {
    const pending = this.underLease(tenantId, state, credentials, identity, markTokenInDoubt, deadline, true)
      .then((outcome) => ({ ...outcome, readsFrom: this.readSeq + 1 }))
      .finally(() => this.fetches.delete(tenantId));
    this.fetches.set(tenantId, pending);
    return pending;
  }

  /**
   * Takes the tenant's lease (only if the table still holds what `state` shows), asks the
   * upstream for a token, and stores it, releasing the lease in the same write.
   *
   * @param handOut whether a caller waits for this token: then, if the table keeps failing, the
   *   token is still handed to that caller (and to nobody else) before the lease runs out.
   */
  private async underLease(
    tenantId: string,
    state: TenantTokenState,
    credentials: TenantCredentials,
    identity: Identity,
    markTokenInDoubt: boolean,
    deadline: number,
    handOut: boolean,
  ): Promise<LeaseOutcome> {
    const acquiredAt = this.clock.now();
    const lease: TokenLease = { owner: this.newId(), expiresAt: acquiredAt + this.settings.leaseDurationMs };
    const actUntil = holderActsUntil(lease.expiresAt, deadline);
    const request = {
      lease,
      seenVersion: state.version,
      now: acquiredAt,
      credentialRank: Math.max(identity.rank, state.credentialRank),
      markTokenInDoubt,
      keepItemUntil: Math.max(lease.expiresAt, state.token?.expireTime ?? 0),
    };
    const acquired = await this.write('acquireLease', actUntil, () => this.store.acquireLease(tenantId, request));
    // The engine sent the item that won: lost, no need to read it again.
    if (acquired !== undefined && !acquired.ok && acquired.state !== undefined) return { kind: 'lost' };
    if (!acquired?.ok) {
      // The answer never came, or came without the item: the lease is ours only if the item says so.
      const now = await this.readTable(tenantId, this.readSeq + 1, deadline);
      if (now.lease?.owner !== lease.owner) return { kind: 'lost' };
    }

    let issued: IssuedToken;
    try {
      issued = await this.callUpstream(tenantId, credentials, identity, state.token, actUntil);
    } catch (error) {
      await this.release(tenantId, lease.owner, error, actUntil);
      return { kind: 'failed', error };
    }
    const token: Omit<CachedToken, 'version'> = {
      ...issued,
      issuedAt: this.clock.now(),
      fingerprint: identity.fingerprint,
      credentialRank: identity.rank,
    };
    return this.storeIssued(tenantId, lease.owner, token, actUntil, handOut);
  }

  /**
   * Stores the holder's new token, retrying while the table fails and the lease lasts. A write
   * whose answer was lost may have landed: the item tells.
   */
  private async storeIssued(
    tenantId: string,
    owner: string,
    token: Omit<CachedToken, 'version'>,
    actUntil: number,
    handOut: boolean,
  ): Promise<LeaseOutcome> {
    // A newer secret version recorded meanwhile (seen in any answer) keeps the token from callers.
    let outdated = false;
    for (let attempt = 0; this.clock.now() < actUntil; attempt++) {
      const result = await this.write('storeToken', actUntil, () => this.store.storeToken(tenantId, owner, token));
      outdated ||= outdatedBySecret(result?.state, token);
      if (result?.ok) return outdated ? { kind: 'lost' } : { kind: 'stored', token: result.state.token! };
      let state = result?.state;
      if (state === undefined) {
        try {
          state = await this.store.read(tenantId);
        } catch (error) {
          if (!isTransientDependencyError(error)) throw error;
        }
      }
      outdated ||= outdatedBySecret(state, token);
      const outcome = afterFailedStore(state, owner, token.accessToken);
      if (outcome === 'stored') return outdated ? { kind: 'lost' } : { kind: 'stored', token: state!.token! };
      if (outcome === 'lost') {
        this.events.notice('lease lost before the token was stored', { tenantId });
        return { kind: 'lost' };
      }
      const delay = backoffDelay(attempt, DEPENDENCY_RETRY_BASE_MS, DEPENDENCY_RETRY_CAP_MS, this.random);
      if (this.clock.now() + delay >= actUntil) break;
      await this.timers.sleep(delay);
    }
    // Nobody waits for it (or it may go to nobody): the token is dropped, and the lease runs out,
    // leaving the old token in doubt.
    if (!handOut || outdated) return { kind: 'failed', error: new DependencyUnavailable('DynamoDB') };
    this.events.handedOutUnstored();
    return { kind: 'unstored', token: { ...token, version: 0 } };
  }

  private async release(tenantId: string, owner: string, error: unknown, actUntil: number): Promise<void> {
    const failure = {
      code: error instanceof UpstreamRejectedCredentials ? ('UPSTREAM_REJECTED_CREDENTIALS' as const) : ('UPSTREAM_UNAVAILABLE' as const),
      at: this.clock.now(),
      leaseOwner: owner,
    };
    try {
      // A failed condition means the lease already moved on: nothing left to release.
      await this.write('releaseLease', actUntil, () => this.store.releaseLease(tenantId, owner, failure));
    } catch (releaseError) {
      // The lease then simply runs out, and the token it covered is treated as in doubt.
      this.events.notice('could not release lease', { tenantId, error: errorName(releaseError) });
    }
  }

  /**
   * Refreshes the current token while the upstream still accepts it, else gets a new one; retries
   * transient failures with jittered backoff, never past the moment the holder must stop acting.
   */
  private async callUpstream(
    tenantId: string,
    credentials: TenantCredentials,
    identity: Identity,
    current: CachedToken | undefined,
    actUntil: number,
  ): Promise<IssuedToken> {
    let refreshFailed = false;
    /** The prefix this lease's last successful lookup named. */
    const located: { prefix?: string } = {};
    let lastError: unknown = new UpstreamUnavailable('no time left to call it');
    for (let attempt = 0; attempt < this.settings.upstreamMaxAttempts; ) {
      const startedAt = this.clock.now();
      const remaining = actUntil - startedAt;
      if (remaining < MIN_ATTEMPT_MS) break;
      const operation = nextUpstreamOperation(current, identity, startedAt, refreshFailed, credentials.authVersion);
      if (operation === 'getAccessToken' && refreshFailed) this.events.refreshFellBack();
      const signal = this.timers.abortAfter(Math.min(this.settings.upstreamTimeoutMs, remaining));
      let issued: IssuedToken;
      try {
        // A refresh goes to the prefix the token lives at; a new token to the prefix looked up now.
        issued =
          operation === 'refreshToken'
            ? await this.upstream.refreshToken(
                { ...credentials, baseUrl: refreshPrefix(current!, credentials) },
                current!,
                { lifetimeDays: this.settings.refreshLifetimeDays },
                signal,
              )
            : await this.upstream.getAccessToken(await this.locate(tenantId, credentials, identity, current, located, signal), signal);
      } catch (error) {
        this.events.upstreamCall(operation, 'failed', this.clock.now() - startedAt);
        // Rejected credentials (403 from getAccessToken) and unknown errors end the lease's attempts.
        if (!(error instanceof UpstreamUnavailable) && !(error instanceof UpstreamRefreshRejected)) throw error;
        lastError = error;
        if (operation === 'refreshToken') refreshFailed = true;
        // A 403 from refresh is an answer, not an outage: go straight to getAccessToken.
        if (error instanceof UpstreamRefreshRejected) continue;
        attempt++;
        if (attempt < this.settings.upstreamMaxAttempts) {
          await this.timers.sleep(backoffDelay(attempt, UPSTREAM_RETRY_BASE_MS, UPSTREAM_RETRY_CAP_MS, this.random));
        }
        continue;
      }
      this.events.upstreamCall(operation, 'ok', this.clock.now() - startedAt);
      if (servableUntil(issued, this.settings) <= this.clock.now()) {
        // Asking again would get the same short lifetime; the operator must fix the margin.
        throw new UpstreamUnavailable('it issued a token that expires within the safety margin');
      }
      return issued;
    }
    throw lastError instanceof UpstreamRefreshRejected ? new UpstreamUnavailable('refresh was refused') : lastError;
  }

  /**
   * The credentials with the prefix to fetch a new token at: the secret's, or the one the location
   * API names now, or (when the lookup fails) the one the tenant's current token was issued at.
   */
  private async locate(
    tenantId: string,
    credentials: TenantCredentials,
    identity: Identity,
    current: CachedToken | undefined,
    located: { prefix?: string },
    signal: AbortSignal,
  ): Promise<LocatedCredentials> {
    if (credentials.baseUrl !== undefined) return { ...credentials, baseUrl: credentials.baseUrl };
    if (this.locator === undefined || credentials.corpId === undefined) {
      throw new TenantMisconfigured(tenantId, 'the secret gives corpId, but no location service is configured');
    }
    try {
      located.prefix = await this.locator.locate(tenantId, credentials.corpId, signal);
      return { ...credentials, baseUrl: located.prefix };
    } catch (error) {
      const lastKnown = lastKnownPrefix(current, identity, located.prefix);
      if (!(error instanceof UpstreamUnavailable) || lastKnown === undefined) throw error;
      this.events.notice('prefix lookup failed, using the last known prefix', { tenantId, error: errorName(error) });
      return { ...credentials, baseUrl: lastKnown };
    }
  }

  /** Asks for a refresh elsewhere; never fails the caller, never waits long. */
  private async triggerRefresh(tenantId: string): Promise<void> {
    if (this.refresher === undefined) return;
    this.lastTriggeredAt.set(tenantId, this.clock.now());
    let timedOut = false;
    try {
      await Promise.race([
        this.refresher.requestRefresh(tenantId),
        this.timers.sleep(this.settings.refreshTriggerTimeoutMs).then(() => {
          timedOut = true;
        }),
      ]);
      this.events.refreshTriggered(timedOut ? 'failed' : 'sent');
    } catch (error) {
      this.events.refreshTriggered('failed');
      this.events.notice('could not request a refresh', { tenantId, error: errorName(error) });
    }
  }

  /**
   * A strongly consistent read of the tenant's item, shared by this container's requests that
   * started before it was sent (`notBefore`: the first read number a request accepts), and
   * retried on transient failures.
   */
  private readTable(tenantId: string, notBefore: number, deadline: number): Promise<TenantTokenState> {
    return this.dependency('GetItem', deadline, () => this.sharedRead(tenantId, notBefore));
  }

  /** One read attempt: the one in flight if it is number `notBefore` or later, else a new one. */
  private sharedRead(tenantId: string, notBefore: number): Promise<TenantTokenState> {
    const pending = this.reads.get(tenantId);
    if (pending !== undefined && pending.seq >= notBefore) return pending.promise;
    const seq = ++this.readSeq;
    const promise = this.store.read(tenantId).finally(() => {
      if (this.reads.get(tenantId)?.seq === seq) this.reads.delete(tenantId);
    });
    this.reads.set(tenantId, { seq, promise });
    return promise;
  }

  /** A conditional write; a transient failure comes back as `undefined` (outcome unknown: read). */
  private async write(operation: string, deadline: number, send: () => Promise<WriteResult>): Promise<WriteResult | undefined> {
    if (this.clock.now() >= deadline) return undefined;
    try {
      return await send();
    } catch (error) {
      if (!isTransientDependencyError(error)) throw error;
      this.events.storeRetried(operation);
      return undefined;
    }
  }

  /** Retries a call that changes nothing (a read) while it fails transiently and time is left. */
  private async dependency<T>(operation: string, deadline: number, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isTransientDependencyError(error)) throw error;
        const delay = backoffDelay(attempt, DEPENDENCY_RETRY_BASE_MS, DEPENDENCY_RETRY_CAP_MS, this.random) + 1;
        if (this.clock.now() + delay >= deadline) throw error;
        this.events.storeRetried(operation);
        await this.timers.sleep(delay);
      }
    }
  }

  /**
   * Waits in the tenant's shared poll until a round's read may change what this request does
   * (`readMayEndWait`), and hands that read over. A waiter joining while a round's read is in
   * flight waits for the next round: only reads sent after it joined answer it.
   */
  private poll(tenantId: string, seen: TenantTokenState, endsAt: number): Promise<PollAnswer> {
    let poll = this.polls.get(tenantId);
    if (poll === undefined) {
      poll = { waiting: new Map(), rounds: 0, reading: false };
      this.polls.set(tenantId, poll);
    }
    const joined = poll;
    return new Promise((wake) => {
      mergeGroup(joined.waiting, { seen, waiters: [{ endsAt, wake }], endsAt });
      // While a read is in flight, the next round is scheduled when it is answered.
      if (!joined.reading) this.schedulePollRound(tenantId, joined, endsAt);
    });
  }

  private schedulePollRound(tenantId: string, poll: TenantPoll, endsAt: number): void {
    const now = this.clock.now();
    const at = pollRoundAt(poll.at, now, poll.rounds, endsAt, this.random);
    if (poll.at !== undefined && at >= poll.at) return;
    poll.at = at;
    const timer = {};
    poll.timer = timer;
    void this.timers.sleep(at - now).then(() => {
      if (poll.timer === timer) void this.pollRound(tenantId, poll);
    });
  }

  /** One round: one read, sent now, for every waiter that joined before; each looks at it if it must. */
  private async pollRound(tenantId: string, poll: TenantPoll): Promise<void> {
    const round = poll.waiting;
    poll.waiting = new Map();
    poll.at = undefined;
    poll.timer = undefined;
    poll.reading = true;
    poll.rounds++;
    const readsFrom = this.readSeq + 1;
    let state: TenantTokenState | undefined;
    try {
      state = await this.sharedRead(tenantId, readsFrom);
    } catch {
      // Each waiter reads again itself, retrying within its own deadline.
      state = undefined;
    }
    poll.reading = false;
    const now = this.clock.now();
    const answer: PollAnswer = { readsFrom, ...(state && { state }) };
    for (const group of round.values()) {
      if (state === undefined || readMayEndWait(group.seen, state, now)) {
        for (const waiter of group.waiters) waiter.wake(answer);
        continue;
      }
      if (now < group.endsAt) {
        // Nothing that may end their wait: the whole group stays, at no cost per waiter.
        mergeGroup(poll.waiting, group);
        continue;
      }
      const staying: PollGroup = { seen: group.seen, waiters: [], endsAt: Number.POSITIVE_INFINITY };
      for (const waiter of group.waiters) {
        if (now >= waiter.endsAt) waiter.wake(answer);
        else {
          staying.waiters.push(waiter);
          staying.endsAt = Math.min(staying.endsAt, waiter.endsAt);
        }
      }
      if (staying.waiters.length > 0) mergeGroup(poll.waiting, staying);
    }
    if (poll.waiting.size === 0) {
      this.polls.delete(tenantId);
      return;
    }
    let endsAt = Number.POSITIVE_INFINITY;
    for (const group of poll.waiting.values()) endsAt = Math.min(endsAt, group.endsAt);
    this.schedulePollRound(tenantId, poll, endsAt);
  }

  /** Waits for this container's own lease holder, but no longer than the wait bound. */
  private async waitFor(local: Promise<SettledLease>, waitStartedAt: number, deadline: number): Promise<SettledLease | undefined> {
    const until = waitEndsAt(waitStartedAt, this.settings.leaseWaitMs, deadline);
    if (until <= this.clock.now()) return undefined;
    return Promise.race([local, this.sleepUntil(until).then(() => undefined)]);
  }

  /**
   * Resolves at `until` (this container's clock). The requests that join a lease together start
   * waiting in the same millisecond, so they share one timer instead of arming hundreds.
   */
  private sleepUntil(until: number): Promise<void> {
    let alarm = this.alarms.get(until);
    if (alarm === undefined) {
      alarm = this.timers.sleep(until - this.clock.now()).then(() => {
        this.alarms.delete(until);
      });
      this.alarms.set(until, alarm);
    }
    return alarm;
  }

  private async pause(attempt: number, until: number): Promise<void> {
    const delay = WAIT_BASE_MS + backoffDelay(attempt, WAIT_BASE_MS, WAIT_CAP_MS, this.random);
    await this.timers.sleep(Math.max(0, Math.min(delay, until - this.clock.now())));
  }

  private toVended(tenantId: string, token: CachedToken, credentials: TenantCredentials): VendedToken {
    return {
      tenantId,
      accessToken: token.accessToken,
      corporationId: token.corporationId,
      expireTime: servableUntil(token, this.settings),
      baseUrl: answerPrefix(token, credentials),
      ...(token.scope !== undefined && { scope: token.scope }),
    };
  }
}

/** Adds `group` to the poll's groups: as it is, or into the group that waited on the same read. */
function mergeGroup(groups: Map<TenantTokenState, PollGroup>, group: PollGroup): void {
  const same = groups.get(group.seen);
  if (same === undefined) {
    groups.set(group.seen, group);
    return;
  }
  for (const waiter of group.waiters) same.waiters.push(waiter);
  same.endsAt = Math.min(same.endsAt, group.endsAt);
}

function identityOf(credentials: TenantCredentials): Identity {
  return { fingerprint: credentialFingerprint(credentials), rank: credentials.rank };
}

function failureAsError(failure: CallerFailure, tenantId: string): Error {
  switch (failure.reason) {
    case 'holder-failed':
      return failure.code === 'UPSTREAM_REJECTED_CREDENTIALS'
        ? new UpstreamRejectedCredentials()
        : new UpstreamUnavailable('the request that was fetching this token failed');
    case 'wait-timed-out':
      return new TokenRefreshInProgress(failure.retryAfterSeconds);
    case 'reported-token-reissued':
      return new UpstreamUnavailable('the upstream issued the reported token again; try again shortly', 1);
    case 'credentials-behind':
      return new TenantMisconfigured(
        tenantId,
        'the secret\'s current version is older than one already used; put the intended values as a new version',
      );
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
