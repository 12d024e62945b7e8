/**
 * One simulated run, as data: the fault alphabet chosen for it and the timeline of what callers,
 * operators and the infrastructure do. fast-check generates plans from a seed and, when a run
 * breaks an invariant, shrinks the plan to a shortest one that still breaks it.
 */
import fc from 'fast-check';
import type { StoreFault } from './in-memory-token-store';
import type { LocationPlan } from './location';
import type { KillSemantics, UpstreamPlan } from './upstream';

export type SimEvent =
  /** A caller asks container `container` for tenant `tenant`'s token. */
  | { readonly kind: 'vend'; readonly at: number; readonly container: number; readonly tenant: number }
  /** A caller reports a token rejected: the newest it holds, or an older one. */
  | { readonly kind: 'invalidate'; readonly at: number; readonly container: number; readonly tenant: number; readonly which: 'newest' | 'older' }
  /** The container's process dies at whatever await it is in; a fresh one replaces it. */
  | { readonly kind: 'crash'; readonly at: number; readonly container: number }
  /** The warmer's schedule fires (in a refresher container of its own). */
  | { readonly kind: 'warm'; readonly at: number }
  /** The operator puts a new version of tenant `tenant`'s secret. */
  | { readonly kind: 'rotate'; readonly at: number; readonly tenant: number };

export interface StoreFaultPlan {
  /** Probability of each engine fault per store call. */
  readonly rates: Readonly<Record<StoreFault, number>>;
  /** Windows in which every write fails before it applies (a DynamoDB blip). */
  readonly writeOutages: ReadonlyArray<readonly [number, number]>;
  /** Write outages that start right after the Nth token the upstream issues (the moment a holder stores it). */
  readonly blipsAfterIssue: ReadonlyArray<{ readonly nth: number; readonly durationMs: number }>;
  /** Each leg (request, answer) of a store call takes up to this long. */
  readonly latencyMs: number;
}

/**
 * How a tenant's secret is written: its auth API (`v1`: getAccessToken and refresh at the prefix;
 * `v3`: getAccessToken on the v3 host, never refreshed), and whether it gives `baseUrl`
 * (`configured`) or `corpId`, whose prefix the vendor looks up (`located`, and it may move).
 */
export interface TenantConfig {
  readonly auth: 'v1' | 'v3';
  readonly prefix: 'configured' | 'located';
}

/** The one configuration plans had before v3 and looked-up prefixes. */
export const V1_CONFIGURED: TenantConfig = { auth: 'v1', prefix: 'configured' };

export interface SimPlan {
  readonly seed: number;
  readonly containers: number;
  readonly tenants: number;
  /** Per container (by index), its clock's offset from true time. */
  readonly skewsMs: readonly number[];
  /** Per container, how long it caches a secret. */
  readonly secretMaxAgesMs: readonly number[];
  readonly upstream: UpstreamPlan;
  readonly store: StoreFaultPlan;
  /** How long after a caller's request the refresher invocation starts, at most. */
  readonly refresherDelayMs: number;
  /** The process that obtained the Nth issued token dies this long after the upstream answered. */
  readonly crashesAfterIssue: ReadonlyArray<{ readonly nth: number; readonly afterMs: number }>;
  /**
   * The process that sends the Nth store call dies: while the call is on the wire (`sent`: it
   * still applies), or just as its answer arrives (`answered`). With the crashes above and at
   * random moments, this puts a crash at every kind of await the vendor has.
   */
  readonly crashesAtStoreCall: ReadonlyArray<{ readonly nth: number; readonly when: 'sent' | 'answered' }>;
  /** Probability that a refresher invocation's container dies mid-run. */
  readonly refresherCrash: number;
  readonly events: readonly SimEvent[];
  /** Per tenant (by index), how its secret is written. */
  readonly tenantConfigs: readonly TenantConfig[];
  /** The location API's faults and the platform upgrades that move prefixes. */
  readonly location: LocationPlan;
}

/** Simulated settings: the real policy, scaled so that a run covers several token lifetimes. */
export const SIM_SETTINGS = {
  safetyMarginMs: 60_000,
  refreshWindowMs: 180_000,
  upstreamTimeoutMs: 2_000,
  upstreamMaxAttempts: 2,
  leaseWaitMs: 4_000,
  invalidationMinIntervalMs: 30_000,
  refreshTriggerTimeoutMs: 1_000,
  warmHorizonMs: 120_000,
  tokenLifetimeMs: 600_000,
} as const;

/** How long a run lasts: long enough for two token lifetimes and their refresh windows. */
export const HORIZON_MS = 25 * 60_000;
/** Largest clock offset of a container; the lease tolerates twice this between two containers. */
export const MAX_SKEW_MS = 450;

const window = (maxLengthMs: number) =>
  fc.tuple(fc.integer({ min: 0, max: HORIZON_MS }), fc.integer({ min: 500, max: maxLengthMs })).map(([from, length]) => [from, from + length] as const);

/** A probability in whole percent: 0 often (a fault absent), otherwise up to `max`. */
const rate = (max: number) => fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Math.round(max * 100) }).map((n) => n / 100));

const eventArb = (containers: number, tenants: number): fc.Arbitrary<SimEvent> => {
  const at = fc.integer({ min: 0, max: HORIZON_MS });
  const container = fc.integer({ min: 0, max: containers - 1 });
  const tenant = fc.integer({ min: 0, max: tenants - 1 });
  return fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('vend' as const), at, container, tenant }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), at, container, tenant, which: fc.constantFrom('newest' as const, 'older' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), at, container }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('warm' as const), at }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('rotate' as const), at, tenant }) },
  );
};

/** Bursts: several callers at nearly the same moment, where the interleavings are. */
const burstArb = (containers: number, tenants: number): fc.Arbitrary<SimEvent[]> =>
  fc
    .tuple(fc.integer({ min: 0, max: HORIZON_MS }), fc.array(eventArb(containers, tenants), { minLength: 2, maxLength: 8 }))
    .map(([at, events]) => events.map((event, i) => ({ ...event, at: at + ((event.at + i) % 300) })));

const tenantConfigArb: fc.Arbitrary<TenantConfig> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(V1_CONFIGURED) },
  { weight: 2, arbitrary: fc.constant<TenantConfig>({ auth: 'v1', prefix: 'located' }) },
  { weight: 1, arbitrary: fc.constant<TenantConfig>({ auth: 'v3', prefix: 'configured' }) },
  { weight: 1, arbitrary: fc.constant<TenantConfig>({ auth: 'v3', prefix: 'located' }) },
);

export const planArb: fc.Arbitrary<SimPlan> = fc
  .record({ containers: fc.integer({ min: 1, max: 4 }), tenants: fc.integer({ min: 1, max: 2 }) })
  .chain(({ containers, tenants }) =>
    fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      containers: fc.constant(containers),
      tenants: fc.constant(tenants),
      skewsMs: fc.array(fc.integer({ min: -MAX_SKEW_MS, max: MAX_SKEW_MS }), { minLength: containers, maxLength: containers }),
      secretMaxAgesMs: fc.array(fc.constantFrom(0, 5_000, 60_000, 300_000), { minLength: containers, maxLength: containers }),
      upstream: fc.record({
        kill: fc.constantFrom<KillSemantics>('none', 'on-issue', 'on-refresh', 'both'),
        faults: fc.record({
          serverError: rate(0.3),
          throttled: rate(0.1),
          hang: rate(0.1),
          malformed: rate(0.1),
          lostAnswer: rate(0.1),
          refreshRejected: rate(0.2),
          credentialsRejected: rate(0.05),
        }),
        refreshOutages: fc.array(window(240_000), { maxLength: 2 }),
        outages: fc.array(window(60_000), { maxLength: 1 }),
        issueDelayMs: fc.integer({ min: 0, max: 1_500 }),
        latencyMs: fc.integer({ min: 1, max: 200 }),
        tokenLifetimeMs: fc.constant(SIM_SETTINGS.tokenLifetimeMs),
      }),
      store: fc.record({
        rates: fc.record({
          throttle: rate(0.1),
          reject: rate(0.1),
          'lost-answer': rate(0.1),
          'omit-item': fc.constantFrom(0, 1),
        }),
        writeOutages: fc.array(window(3_000), { maxLength: 2 }),
        blipsAfterIssue: fc.array(
          fc.record({ nth: fc.integer({ min: 1, max: 6 }), durationMs: fc.integer({ min: 100, max: 20_000 }) }),
          { maxLength: 2 },
        ),
        latencyMs: fc.integer({ min: 1, max: 25 }),
      }),
      refresherDelayMs: fc.integer({ min: 0, max: 2_000 }),
      refresherCrash: rate(0.2),
      crashesAtStoreCall: fc.array(
        fc.record({ nth: fc.integer({ min: 1, max: 400 }), when: fc.constantFrom('sent' as const, 'answered' as const) }),
        { maxLength: 3 },
      ),
      crashesAfterIssue: fc.array(fc.record({ nth: fc.integer({ min: 1, max: 6 }), afterMs: fc.integer({ min: 0, max: 300 }) }), {
        maxLength: 2,
      }),
      events: fc
        .tuple(
          fc.array(eventArb(containers, tenants), { minLength: 10, maxLength: 80 }),
          fc.array(burstArb(containers, tenants), { maxLength: 4 }),
        )
        .map(([single, bursts]) => [...single, ...bursts.flat()].sort((a, b) => a.at - b.at)),
      // Drawn after everything above, so that a seed's other fields are what they were before
      // these existed (a regression seed keeps its plan: see `asV1Configured`).
      tenantConfigs: fc.array(tenantConfigArb, { minLength: tenants, maxLength: tenants }),
      location: fc.record({
        faults: fc.record({ unavailable: rate(0.3), hang: rate(0.05), badPrefix: rate(0.03) }),
        outages: fc.array(window(120_000), { maxLength: 1 }),
        latencyMs: fc.integer({ min: 1, max: 200 }),
        moves: fc.array(fc.record({ at: fc.integer({ min: 0, max: HORIZON_MS }), tenant: fc.integer({ min: 0, max: tenants - 1 }) }), {
          maxLength: 3,
        }),
        graceMs: fc.constantFrom(0, 2_000, 60_000, 900_000),
        staleAnswer: fc.constantFrom('forbidden' as const, 'unavailable' as const),
      }),
    }),
  );

/** A location API without faults or moves. */
export const QUIET_LOCATION: LocationPlan = {
  faults: { unavailable: 0, hang: 0, badPrefix: 0 },
  outages: [],
  latencyMs: 20,
  moves: [],
  graceMs: 60_000,
  staleAnswer: 'forbidden',
};

/** The plan with every tenant as plans had them before v3 and looked-up prefixes: it runs as it did then. */
export function asV1Configured(plan: SimPlan): SimPlan {
  return { ...plan, tenantConfigs: plan.tenantConfigs.map(() => V1_CONFIGURED), location: QUIET_LOCATION };
}
