/**
 * The seven holes the lineage issue reported, each as a named plan for the simulator. Each one
 * reproduces the situation that broke the promise; `test/sim/lineage.test.ts` runs them with the
 * invariant checker plus the check specific to the hole. Then v3 tenants and looked-up prefixes
 * (issue 13), as named plans too.
 */
import { QUIET_LOCATION, SIM_SETTINGS, V1_CONFIGURED, type SimEvent, type SimPlan } from './plan';

const noFaults = { serverError: 0, throttled: 0, hang: 0, malformed: 0, lostAnswer: 0, refreshRejected: 0, credentialsRejected: 0 };

export function basePlan(overrides: Partial<SimPlan> = {}): SimPlan {
  return {
    seed: 7,
    containers: 3,
    tenants: 1,
    skewsMs: [0, 0, 0],
    secretMaxAgesMs: [0, 0, 0],
    upstream: {
      kill: 'both',
      faults: noFaults,
      refreshOutages: [],
      outages: [],
      issueDelayMs: 800,
      latencyMs: 50,
      tokenLifetimeMs: SIM_SETTINGS.tokenLifetimeMs,
    },
    store: { rates: { throttle: 0, reject: 0, 'lost-answer': 0, 'omit-item': 0 }, writeOutages: [], blipsAfterIssue: [], latencyMs: 5 },
    refresherDelayMs: 200,
    refresherCrash: 0,
    crashesAfterIssue: [],
    crashesAtStoreCall: [],
    events: [],
    tenantConfigs: Array.from({ length: overrides.tenants ?? 1 }, () => V1_CONFIGURED),
    location: QUIET_LOCATION,
    ...overrides,
  };
}

/** Callers on every container, every `everyMs`, from `from` to `to` (simulated ms). */
export function steadyTraffic(from: number, to: number, everyMs: number, containers = 3, tenant = 0): SimEvent[] {
  const events: SimEvent[] = [];
  for (let at = from, i = 0; at < to; at += everyMs, i++) events.push({ kind: 'vend', at, container: i % containers, tenant });
  return events;
}

/** When the first token (issued at about +1 s) enters its refresh window, and leaves its servable one. */
export const FIRST_REFRESH_DUE = SIM_SETTINGS.tokenLifetimeMs - SIM_SETTINGS.refreshWindowMs + 1_000;
export const FIRST_SERVABLE_END = SIM_SETTINGS.tokenLifetimeMs - SIM_SETTINGS.safetyMarginMs;

export const HOLES: Record<string, SimPlan> = {
  /** 1. DynamoDB fails the write that stores a fresh token (a refresh that killed the old one). */
  'store fails after the upstream answered': basePlan({
    upstream: { ...basePlan().upstream, kill: 'on-refresh' },
    // Token 1 is the first fetch; token 2 is the refresh: DynamoDB fails for longer than a lease.
    store: { ...basePlan().store, blipsAfterIssue: [{ nth: 1, durationMs: 1_500 }, { nth: 2, durationMs: 20_000 }] },
    events: [...steadyTraffic(0, FIRST_SERVABLE_END + 120_000, 7_000)],
  }),
  /** 2. Only the refresh endpoint fails, through the token's whole refresh window. */
  'refresh endpoint down while getAccessToken works': basePlan({
    upstream: { ...basePlan().upstream, refreshOutages: [[FIRST_REFRESH_DUE - 60_000, FIRST_SERVABLE_END + 600_000]] },
    events: steadyTraffic(0, FIRST_SERVABLE_END + 200_000, 5_000),
  }),
  /** 3. Refresh-ahead during an upstream outage: callers must not wait on the upstream. */
  'refresh-ahead during an outage': basePlan({
    upstream: { ...basePlan().upstream, outages: [[FIRST_REFRESH_DUE - 10_000, FIRST_REFRESH_DUE + 90_000]] },
    events: steadyTraffic(0, FIRST_REFRESH_DUE + 100_000, 3_000),
  }),
  /** 4. Secret rotation while containers' secret caches differ in age. */
  'rotation with secret caches of different ages': basePlan({
    secretMaxAgesMs: [0, 300_000, 60_000],
    events: ([...steadyTraffic(0, 400_000, 2_000), { kind: 'rotate', at: 100_000, tenant: 0 }] as SimEvent[]).sort((a, b) => a.at - b.at),
  }),
  /** 5. A refresh, then an invalidation: no container may hand out the superseded or retired token. */
  'refresh and invalidation seen by every container': basePlan({
    events: ([
      ...steadyTraffic(0, FIRST_REFRESH_DUE + 60_000, 1_000),
      { kind: 'invalidate', at: FIRST_REFRESH_DUE + 20_000, container: 1, tenant: 0, which: 'newest' },
      { kind: 'invalidate', at: FIRST_REFRESH_DUE + 20_100, container: 2, tenant: 0, which: 'older' },
    ] as SimEvent[]).sort((a, b) => a.at - b.at),
  }),
  /** 6. An invalidation that lands between a caller's read and its answer, inside the refresh window. */
  'invalidation racing a refresh-due read': basePlan({
    store: { ...basePlan().store, latencyMs: 40 },
    events: ([
      ...steadyTraffic(FIRST_REFRESH_DUE + 1_000, FIRST_REFRESH_DUE + 1_200, 10),
      { kind: 'vend', at: 0, container: 0, tenant: 0 },
      { kind: 'vend', at: FIRST_REFRESH_DUE - 10_000, container: 0, tenant: 0 },
      { kind: 'invalidate', at: FIRST_REFRESH_DUE + 1_030, container: 0, tenant: 0, which: 'newest' },
      ...steadyTraffic(FIRST_REFRESH_DUE + 1_100, FIRST_REFRESH_DUE + 8_000, 50),
    ] as SimEvent[]).sort((a, b) => a.at - b.at),
  }),
  /** 7. dynalite: failed conditional writes come back without the item; several containers race. */
  'conditional failures without the item': basePlan({
    containers: 4,
    skewsMs: [0, 0, 0, 0],
    secretMaxAgesMs: [0, 0, 0, 0],
    // Every container reads "no token" before any lease lands, so all four race for it.
    store: { ...basePlan().store, latencyMs: 20, rates: { throttle: 0, reject: 0, 'lost-answer': 0, 'omit-item': 1 } },
    events: [
      ...[0, 1, 2, 3].flatMap((container) => Array.from({ length: 5 }, () => ({ kind: 'vend' as const, at: 0, container, tenant: 0 }))),
      ...steadyTraffic(1_000, 30_000, 500, 4),
    ],
  }),
};

/** v3 tenants and looked-up prefixes (issue 13): the situations the seeded runs reach only sometimes. */
export const PREFIX_PLANS: Record<string, SimPlan> = {
  /** A v3 tenant through two refresh windows: renewed by getAccessToken alone, elsewhere than in callers. */
  'a v3 tenant through its refresh windows': basePlan({
    tenantConfigs: [{ auth: 'v3', prefix: 'located' }],
    events: steadyTraffic(0, 2 * SIM_SETTINGS.tokenLifetimeMs, 5_000),
  }),
  /**
   * The prefix moves (no grace: the old one answers 403 at once), and the location API is down
   * when the refresh is due: the refresh at the token's prefix is refused, the fallback
   * getAccessToken goes to the last known prefix and is refused too; once the location API is
   * back, the token comes from the new prefix.
   */
  'the prefix moves, then the location API fails': basePlan({
    tenantConfigs: [{ auth: 'v1', prefix: 'located' }],
    location: {
      ...QUIET_LOCATION,
      moves: [{ at: 100_000, tenant: 0 }],
      graceMs: 0,
      staleAnswer: 'forbidden',
      outages: [[FIRST_REFRESH_DUE - 10_000, FIRST_REFRESH_DUE + 30_000]],
    },
    events: steadyTraffic(0, FIRST_SERVABLE_END + 120_000, 3_000),
  }),
  /** The location API names a prefix that is not https: callers are told the tenant is misconfigured. */
  'the location API names a bad prefix': basePlan({
    tenantConfigs: [{ auth: 'v1', prefix: 'located' }],
    location: { ...QUIET_LOCATION, faults: { unavailable: 0, hang: 0, badPrefix: 1 } },
    events: steadyTraffic(0, 20_000, 500),
  }),
};
