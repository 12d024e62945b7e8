/**
 * The simulated Ekuaibao auth API: issues tokens, kills older ones as the chosen semantics say,
 * injects the upstream half of the fault alphabet, and keeps its own record of which tokens are
 * alive, which prefix each was issued at, and how many calls per tenant overlapped. The invariant
 * checker trusts this record, not the vendor.
 *
 * A token is issued *at a prefix*: the `baseUrl` of the `LocatedCredentials` it was asked with,
 * and valid only there. v1 calls at a prefix the tenant's environment moved away from are
 * answered as `SimEnvironments` says (served during the grace period, then 403 or 5xx); v3 tokens
 * come from the v3 host, which ignores the prefix. The v3 API has no refresh: a refresh call for a
 * v3 tenant is answered 403 and recorded (the checker fails it).
 */
import { UpstreamRefreshRejected, UpstreamRejectedCredentials, UpstreamUnavailable } from '../functions/domain/errors';
import type { IssuedToken, LocatedCredentials, RefreshOptions, UpstreamAuth } from '../functions/domain/types';
import type { SimEnvironments } from './location';
import type { SimLoop } from './loop';

/** Whether issuing (getAccessToken) or refreshing kills the tenant's older tokens: the docs do not say. */
export type KillSemantics = 'none' | 'on-issue' | 'on-refresh' | 'both';

export interface UpstreamFaultRates {
  /** Probability that a call answers HTTP 5xx. */
  readonly serverError: number;
  /** … HTTP 429. */
  readonly throttled: number;
  /** … never answers (the caller's timeout ends it). */
  readonly hang: number;
  /** … answers a body that is not the documented shape. */
  readonly malformed: number;
  /** … issues the token (killing others as the semantics say) but the answer never arrives. */
  readonly lostAnswer: number;
  /** … the refresh endpoint says 403 although the token is alive. */
  readonly refreshRejected: number;
  /** … getAccessToken says 403 (invalid key) for valid credentials, as a misrouted request would. */
  readonly credentialsRejected: number;
}

export interface UpstreamPlan {
  readonly kill: KillSemantics;
  readonly faults: UpstreamFaultRates;
  /** Windows [from, to) of simulated time in which only the refresh endpoint fails (5xx). */
  readonly refreshOutages: ReadonlyArray<readonly [number, number]>;
  /** Windows in which every upstream call fails (5xx). */
  readonly outages: ReadonlyArray<readonly [number, number]>;
  /** getAccessToken waits this long before it issues (the upstream's deliberate delay). */
  readonly issueDelayMs: number;
  /** Network and processing time of every call, drawn uniformly up to this. */
  readonly latencyMs: number;
  readonly tokenLifetimeMs: number;
}

export interface IssuedRecord {
  readonly tenantId: string;
  readonly accessToken: string;
  /** The prefix it was issued at: the only one it is valid at. */
  readonly baseUrl: string;
  /** v3 tokens: `tenant`. */
  readonly scope?: string;
  readonly expireTime: number;
  /** Issue order across the whole upstream: later tokens supersede earlier ones of the tenant. */
  readonly seq: number;
  readonly rank: number;
  readonly via: 'getAccessToken' | 'refreshToken';
  readonly issuedAt: number;
  alive: boolean;
  killedAt?: number;
  /** When the answer carrying it reached the service; undefined if it never did. */
  deliveredAt?: number;
  /** The lease the tenant's item showed when the call started (the holder's), for the checker. */
  readonly leaseExpiresAt?: number;
  /** The request (or refresher run) whose call obtained it. */
  readonly origin?: string;
}

export interface CallRecord {
  readonly tenantId: string;
  readonly operation: 'getAccessToken' | 'refreshToken';
  /** The prefix it was sent for (`LocatedCredentials.baseUrl`). */
  readonly baseUrl: string;
  readonly startedAt: number;
  endedAt?: number;
  readonly origin?: string;
}

/** Who is calling: the simulator tells the upstream which tenant and request a call belongs to. */
export interface CallContext {
  readonly tenantId: string;
  readonly origin?: string;
  readonly leaseExpiresAt?: number;
}

export class SimUpstream {
  readonly issued = new Map<string, IssuedRecord>();
  readonly calls: CallRecord[] = [];
  private readonly inFlight = new Map<string, number>();
  private seq = 0;
  /** Called with the tenant and the origin of every answer that issues a token (delivered or not). */
  onIssue?: (count: number, origin: string | undefined) => void;
  private issues = 0;
  /** I1 breaches, as they happen. */
  readonly overlaps: Array<{ tenantId: string; at: number }> = [];

  constructor(
    private readonly loop: SimLoop,
    private readonly plan: UpstreamPlan,
    private readonly random: () => number,
    /** Each tenant's app: the appKey its credentials must carry, and its auth API. */
    private readonly apps: ReadonlyMap<string, { readonly appKey: string; readonly auth: 'v1' | 'v3' }>,
    private readonly environments: SimEnvironments,
    /** Which answer a v1 call at a prefix the tenant moved away from gets, past the grace period. */
    private readonly staleAnswer: 'forbidden' | 'unavailable' = 'forbidden',
  ) {}

  /** The port for one container; `context` tells which tenant and request each call serves. */
  port(context: (credentials: LocatedCredentials) => CallContext, alive: () => boolean): UpstreamAuth {
    return {
      getAccessToken: (credentials, signal) => this.call('getAccessToken', context(credentials), credentials, undefined, signal, alive),
      refreshToken: (credentials, current, _options: RefreshOptions, signal) =>
        this.call('refreshToken', context(credentials), credentials, current, signal, alive),
    };
  }

  /** Whether the upstream still accepted the token at `at` (for checks after the run). */
  isAliveAt(accessToken: string, at: number): boolean {
    const record = this.issued.get(accessToken);
    return record !== undefined && (record.killedAt === undefined || record.killedAt > at) && at < record.expireTime;
  }

  isAlive(accessToken: string): boolean {
    const record = this.issued.get(accessToken);
    return record !== undefined && record.alive && this.loop.now < record.expireTime;
  }

  private call(
    operation: 'getAccessToken' | 'refreshToken',
    context: CallContext,
    credentials: LocatedCredentials,
    current: IssuedToken | undefined,
    signal: AbortSignal,
    alive: () => boolean,
  ): Promise<IssuedToken> {
    const { tenantId } = context;
    const { baseUrl } = credentials;
    const record: CallRecord = {
      tenantId,
      operation,
      baseUrl,
      startedAt: this.loop.now,
      ...(context.origin && { origin: context.origin }),
    };
    this.calls.push(record);
    const overlapping = (this.inFlight.get(tenantId) ?? 0) + 1;
    this.inFlight.set(tenantId, overlapping);
    if (overlapping > 1) this.overlaps.push({ tenantId, at: this.loop.now });

    return new Promise<IssuedToken>((resolve, reject) => {
      let settled = false;
      const end = () => {
        if (record.endedAt !== undefined) return false;
        record.endedAt = this.loop.now;
        this.inFlight.set(tenantId, (this.inFlight.get(tenantId) ?? 1) - 1);
        return true;
      };
      // The caller gives up: the call is over for it (the connection is closed).
      const onAbort = () => {
        if (!end()) return;
        if (!settled && alive()) {
          settled = true;
          reject(new UpstreamUnavailable('it did not answer in time'));
        }
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });

      const answer = (outcome: () => IssuedToken) => {
        if (signal.aborted || !end()) return;
        signal.removeEventListener('abort', onAbort);
        if (!alive()) return; // a crashed container never sees the answer
        settled = true;
        try {
          resolve(outcome());
        } catch (error) {
          reject(error);
        }
      };

      const latency = Math.floor(this.random() * this.plan.latencyMs);
      const delay = latency + (operation === 'getAccessToken' ? this.plan.issueDelayMs : 0);
      this.loop.schedule(delay, () => {
        const fault = this.drawFault(operation);
        switch (fault) {
          case 'hang':
            return; // only the abort ends it
          case 'server-error':
            return answer(() => {
              throw new UpstreamUnavailable('it answered HTTP 500');
            });
          case 'throttled':
            return answer(() => {
              throw new UpstreamUnavailable('it answered HTTP 429', 10);
            });
          case 'malformed':
            return answer(() => {
              throw new UpstreamUnavailable('it answered with a body that is not JSON');
            });
          case 'refresh-rejected':
            return answer(() => {
              throw new UpstreamRefreshRejected();
            });
          case 'credentials-rejected':
            return answer(() => {
              throw new UpstreamRejectedCredentials();
            });
        }
        const app = this.apps.get(tenantId)!;
        if (app.appKey !== credentials.appKey) {
          return answer(() => {
            throw new UpstreamRejectedCredentials();
          });
        }
        // The v3 API has no refresh endpoint; the v1 one does not know v3 tokens.
        if (operation === 'refreshToken' && app.auth === 'v3') {
          return answer(() => {
            throw new UpstreamRefreshRejected();
          });
        }
        // v1 calls go to the prefix: one the tenant's environment is not at (any more) refuses them.
        const standing = this.environments.standing(tenantId, baseUrl, this.loop.now);
        if (app.auth === 'v1' && (standing === 'foreign' || standing === 'stale')) {
          return answer(() => {
            if (standing === 'stale' && this.staleAnswer === 'unavailable') throw new UpstreamUnavailable('it answered HTTP 502');
            if (operation === 'refreshToken') throw new UpstreamRefreshRejected();
            throw new UpstreamRejectedCredentials();
          });
        }
        if (operation === 'refreshToken' && (current === undefined || !this.isAlive(current.accessToken) || this.issued.get(current.accessToken)!.baseUrl !== baseUrl)) {
          return answer(() => {
            throw new UpstreamRefreshRejected();
          });
        }
        const token = this.issue(operation, context, credentials.rank, current, baseUrl, app.auth === 'v3' ? 'tenant' : undefined);
        this.onIssue?.(++this.issues, context.origin);
        if (fault === 'lost-answer') return; // issued (and killed whatever it kills), answer lost
        answer(() => {
          token.deliveredAt = this.loop.now;
          return {
            accessToken: token.accessToken,
            refreshToken: `refresh-of-${token.accessToken}`,
            expireTime: token.expireTime,
            corporationId: 'FAKEcorp0001',
            baseUrl: token.baseUrl,
            ...(token.scope !== undefined && { scope: token.scope }),
          };
        });
      });
    });
  }

  private drawFault(operation: 'getAccessToken' | 'refreshToken'): string | undefined {
    const now = this.loop.now;
    if (this.plan.outages.some(([from, to]) => now >= from && now < to)) return 'server-error';
    if (operation === 'refreshToken' && this.plan.refreshOutages.some(([from, to]) => now >= from && now < to)) return 'server-error';
    const f = this.plan.faults;
    const r = this.random();
    const table: Array<[string, number]> = [
      ['server-error', f.serverError],
      ['throttled', f.throttled],
      ['hang', f.hang],
      ['malformed', f.malformed],
      ['lost-answer', f.lostAnswer],
      ['refresh-rejected', operation === 'refreshToken' ? f.refreshRejected : 0],
      ['credentials-rejected', operation === 'getAccessToken' ? f.credentialsRejected : 0],
    ];
    let acc = 0;
    for (const [name, p] of table) {
      acc += p;
      if (r < acc) return name;
    }
    return undefined;
  }

  private issue(
    operation: 'getAccessToken' | 'refreshToken',
    context: CallContext,
    rank: number,
    current: IssuedToken | undefined,
    baseUrl: string,
    scope: string | undefined,
  ): IssuedRecord {
    const now = this.loop.now;
    const kills =
      (operation === 'getAccessToken' && (this.plan.kill === 'on-issue' || this.plan.kill === 'both')) ||
      (operation === 'refreshToken' && (this.plan.kill === 'on-refresh' || this.plan.kill === 'both'));
    if (kills) {
      for (const record of this.issued.values()) {
        if (record.tenantId !== context.tenantId || !record.alive) continue;
        // A refresh kills the token it refreshes; a new issue kills them all.
        if (operation === 'refreshToken' && record.accessToken !== current?.accessToken) continue;
        record.alive = false;
        record.killedAt = now;
      }
    }
    const seq = ++this.seq;
    const record: IssuedRecord = {
      tenantId: context.tenantId,
      accessToken: `fake-${context.tenantId}-${seq}`,
      baseUrl,
      ...(scope !== undefined && { scope }),
      expireTime: now + this.plan.tokenLifetimeMs,
      seq,
      rank,
      via: operation,
      issuedAt: now,
      alive: true,
      ...(context.leaseExpiresAt !== undefined && { leaseExpiresAt: context.leaseExpiresAt }),
      ...(context.origin && { origin: context.origin }),
    };
    this.issued.set(record.accessToken, record);
    return record;
  }
}
