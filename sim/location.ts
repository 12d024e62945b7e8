/**
 * Where each tenant's Open API lives, and the simulated location API that names it.
 *
 * Every tenant has an *environment*: a prefix (`https://tenant0-env0.sim.invalid`) that tokens are
 * issued at and valid at. A tenant whose secret gives `baseUrl` keeps its prefix for the whole
 * run. A tenant whose secret gives `corpId` has its prefix looked up (`PrefixLocator`), and a
 * platform upgrade may *move* it: from then on the location API names a new prefix. The docs do
 * not say what the old prefix does afterwards; the model (drawn per seed, `LocationPlan`): it keeps
 * serving the tenant for a grace period, then answers every v1 call (getAccessToken and refresh)
 * either 403, as the docs say for a prefix of another environment, or 5xx. v3 tokens come from the
 * v3 host, which does not look at the prefix: a v3 token fetched with a stale prefix is issued, and
 * named with that prefix.
 */
import { TenantMisconfigured, UpstreamUnavailable } from '../functions/domain/errors';
import type { PrefixLocator } from '../functions/domain/types';
import { normaliseBaseUrl } from '../functions/adapters/tenant-credentials';
import type { SimLoop } from './loop';

export interface LocationFaultRates {
  /** Probability that a lookup answers HTTP 5xx (the locator throws UpstreamUnavailable). */
  readonly unavailable: number;
  /** … never answers (the attempt's timeout ends it). */
  readonly hang: number;
  /** … names a prefix that is not an https URL (the locator refuses it: TenantMisconfigured). */
  readonly badPrefix: number;
}

export interface LocationPlan {
  readonly faults: LocationFaultRates;
  /** Windows [from, to) in which every lookup fails (5xx). */
  readonly outages: ReadonlyArray<readonly [number, number]>;
  /** Network and processing time of every lookup, drawn uniformly up to this. */
  readonly latencyMs: number;
  /** Platform upgrades: from `at`, tenant `tenant`'s environment has a new prefix (corpId tenants only). */
  readonly moves: ReadonlyArray<{ readonly at: number; readonly tenant: number }>;
  /** How long a moved-from prefix still serves the tenant. */
  readonly graceMs: number;
  /** What a moved-from prefix answers a v1 call past the grace: 403, or 5xx. */
  readonly staleAnswer: 'forbidden' | 'unavailable';
}

/** How a prefix stands for a tenant at a moment. */
export type PrefixStanding =
  /** The tenant's environment is there now. */
  | 'current'
  /** It moved away from there, less than the grace period ago: still served. */
  | 'grace'
  /** It moved away from there longer ago: v1 calls fail. */
  | 'stale'
  /** Never the tenant's prefix. */
  | 'foreign';

interface PrefixSpan {
  readonly prefix: string;
  readonly from: number;
  movedAt?: number;
}

/** Each tenant's prefix over time (true time). */
export class SimEnvironments {
  private readonly spans = new Map<string, PrefixSpan[]>();

  constructor(
    initial: ReadonlyMap<string, string>,
    private readonly graceMs: number,
  ) {
    for (const [tenantId, prefix] of initial) this.spans.set(tenantId, [{ prefix, from: -Infinity }]);
  }

  current(tenantId: string): string {
    const spans = this.spans.get(tenantId)!;
    return spans[spans.length - 1]!.prefix;
  }

  /** A platform upgrade: the tenant's environment is at a new prefix from `now`. */
  move(tenantId: string, now: number): string {
    const spans = this.spans.get(tenantId)!;
    spans[spans.length - 1]!.movedAt = now;
    const prefix = `https://${tenantId}-env${spans.length}.sim.invalid`;
    spans.push({ prefix, from: now });
    return prefix;
  }

  standing(tenantId: string, prefix: string, now: number): PrefixStanding {
    const span = this.spans.get(tenantId)?.find((s) => s.prefix === prefix && s.from <= now);
    if (span === undefined) return 'foreign';
    if (span.movedAt === undefined || now < span.movedAt) return 'current';
    return now < span.movedAt + this.graceMs ? 'grace' : 'stale';
  }

  /** When the tenant's environment moved away from `prefix`, if it did. */
  movedFrom(tenantId: string, prefix: string): number | undefined {
    return this.spans.get(tenantId)?.find((s) => s.prefix === prefix)?.movedAt;
  }
}

export interface LookupRecord {
  readonly tenantId: string;
  readonly container: string;
  /** The request (or refresher) whose lease holder looked up. */
  readonly origin?: string;
  readonly startedAt: number;
  /** When its answer reached the vendor; undefined if it never did (hang, crash). */
  answeredAt?: number;
  /** What the vendor was told. */
  outcome?: 'located' | 'unavailable' | 'bad-prefix';
  /** The prefix named, for `located`. */
  prefix?: string;
}

/** The location API (docs §6), in simulated time, and the `PrefixLocator` each container gets. */
export class SimLocationApi {
  readonly lookups: LookupRecord[] = [];

  constructor(
    private readonly loop: SimLoop,
    /** With absolute outage windows. */
    private readonly plan: LocationPlan,
    private readonly random: () => number,
    private readonly environments: SimEnvironments,
    /** Which tenant each corpId is. */
    private readonly corpIds: ReadonlyMap<string, string>,
    /** For the trace. */
    private readonly log: (line: string) => void = () => {},
  ) {}

  /**
   * One container's locator: the HTTP call (latency, faults, nothing answered to the dead), then
   * what `EkuaibaoLocator` does with the answer (`normaliseBaseUrl`: https only, trailing slash
   * dropped; anything else is TenantMisconfigured).
   */
  port(container: string, origin: () => string | undefined, alive: () => boolean): PrefixLocator {
    return {
      locate: (tenantId, corpId, signal) =>
        new Promise<string>((resolve, reject) => {
          const record: LookupRecord = { tenantId, container, startedAt: this.loop.now, ...(origin() && { origin: origin()! }) };
          this.lookups.push(record);
          let settled = false;
          const settle = (outcome: NonNullable<LookupRecord['outcome']>, prefix?: string) => {
            if (settled || !alive()) return;
            settled = true;
            signal.removeEventListener('abort', onAbort);
            record.answeredAt = this.loop.now;
            record.outcome = outcome;
            this.log(`${container} lookup of ${tenantId}: ${outcome}${prefix ? ` ${prefix}` : ''}`);
            if (outcome === 'located') {
              record.prefix = prefix!;
              resolve(prefix!);
            } else if (outcome === 'bad-prefix') {
              reject(new TenantMisconfigured(tenantId, 'the location API named a prefix that is not an https URL (check corpId)'));
            } else {
              reject(new UpstreamUnavailable('the location API answered HTTP 503'));
            }
          };
          const onAbort = () => settle('unavailable');
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });

          this.loop.schedule(Math.floor(this.random() * this.plan.latencyMs), () => {
            const fault = this.drawFault();
            if (fault === 'hang') return; // only the abort ends it
            if (fault === 'unavailable' || this.corpIds.get(corpId) !== tenantId) return settle('unavailable');
            const named = fault === 'bad-prefix' ? `http://${tenantId}.sim.invalid/` : `${this.environments.current(tenantId)}/`;
            const prefix = normaliseBaseUrl(named, false);
            if (prefix === undefined) return settle('bad-prefix');
            settle('located', prefix);
          });
        }),
    };
  }

  private drawFault(): 'unavailable' | 'hang' | 'bad-prefix' | undefined {
    const now = this.loop.now;
    if (this.plan.outages.some(([from, to]) => now >= from && now < to)) return 'unavailable';
    const f = this.plan.faults;
    const r = this.random();
    if (r < f.unavailable) return 'unavailable';
    if (r < f.unavailable + f.hang) return 'hang';
    if (r < f.unavailable + f.hang + f.badPrefix) return 'bad-prefix';
    return undefined;
  }
}
