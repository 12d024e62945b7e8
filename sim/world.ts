/**
 * Runs one plan: N containers, each a real `TokenVendor` with its own clock (skewed), its own
 * secret cache and its own in-flight state, over one in-memory table (DynamoDB's conditional-write
 * semantics, proven by the conformance test), one simulated upstream and one simulated location
 * API, all in simulated time. Each tenant's secret is written as its `TenantConfig` says.
 * Refresh requests and the warmer run in refresher containers of their own, as Lambda runs them.
 * It returns what happened; `checker.ts` judges it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { leaseDurationMs } from '../contract/lease-timing';
import { TokenVendor, type TokenVendorSettings } from '../functions/domain/token-vendor';
import type {
  Clock,
  CredentialSource,
  RefreshTrigger,
  TenantCredentials,
  TenantTokenState,
  Timers,
  TokenStore,
  VendedToken,
} from '../functions/domain/types';
import { VendingError } from '../functions/domain/errors';
import { InMemoryTokenStore, type StoreFault, type StoreOperation } from './in-memory-token-store';
import { SimEnvironments, SimLocationApi } from './location';
import { seededRandom, SimLoop } from './loop';
import { HORIZON_MS, MAX_SKEW_MS, SIM_SETTINGS, type SimPlan, type TenantConfig } from './plan';
import { SimUpstream } from './upstream';

export const SIM_START = Date.UTC(2026, 10, 25, 8, 0, 0);

export const VENDOR_SETTINGS: TokenVendorSettings = {
  safetyMarginMs: SIM_SETTINGS.safetyMarginMs,
  refreshWindowMs: SIM_SETTINGS.refreshWindowMs,
  leaseDurationMs: leaseDurationMs(SIM_SETTINGS),
  leaseWaitMs: SIM_SETTINGS.leaseWaitMs,
  requestBudgetMs: SIM_SETTINGS.leaseWaitMs + leaseDurationMs(SIM_SETTINGS) + 2_000,
  upstreamTimeoutMs: SIM_SETTINGS.upstreamTimeoutMs,
  upstreamMaxAttempts: SIM_SETTINGS.upstreamMaxAttempts,
  invalidationMinIntervalMs: SIM_SETTINGS.invalidationMinIntervalMs,
  refreshTriggerTimeoutMs: SIM_SETTINGS.refreshTriggerTimeoutMs,
};

/** What one caller request did, as the world saw it (true time). */
export interface RequestRecord {
  readonly id: string;
  readonly kind: 'vend' | 'invalidate';
  readonly tenantId: string;
  readonly container: string;
  readonly startedAt: number;
  endedAt?: number;
  /** The token reported, for invalidate. */
  readonly reported?: string;
  /** The token answered (for invalidate: the one to use instead of the reported one). */
  token?: string;
  answer?: VendedToken;
  outcome?: 'retired' | 'stale';
  errorCode?: string;
  /** Its container died before it was answered. */
  crashed: boolean;
  /** Store faults injected into its own calls. */
  storeFaults: number;
}

/** Changes to the table, as they were applied (true time). */
export type StoreChange =
  | { readonly kind: 'stored'; readonly at: number; readonly tenantId: string; readonly accessToken: string }
  | { readonly kind: 'retired'; readonly at: number; readonly tenantId: string; readonly accessToken: string }
  | { readonly kind: 'rank'; readonly at: number; readonly tenantId: string; readonly rank: number };

/** A tenant as the world set it up. */
export interface SimTenant {
  readonly config: TenantConfig;
  /** The secret's `baseUrl`, for `configured` tenants. */
  readonly baseUrl?: string;
  /** The secret's `corpId`, for `located` tenants. */
  readonly corpId?: string;
}

export interface SimHistory {
  readonly plan: SimPlan;
  readonly tenants: ReadonlyMap<string, SimTenant>;
  readonly requests: RequestRecord[];
  readonly changes: StoreChange[];
  readonly upstream: SimUpstream;
  /** Every prefix lookup and what it named. */
  readonly location: SimLocationApi;
  /** Where each tenant's environment was, when. */
  readonly environments: SimEnvironments;
  readonly store: InMemoryTokenStore;
  /** The tenant's item as it was at true time `at` (after every call applied by then). */
  stateAt(tenantId: string, at: number): TenantTokenState;
  /** Every state the tenant's item went through from `from` to `to`, with when it began. */
  statesBetween(tenantId: string, from: number, to: number): Array<{ readonly at: number; readonly state: TenantTokenState }>;
  /** Per tenant, the rank of the secret version current at each moment: [from, rank]. */
  readonly secretVersions: Map<string, Array<{ readonly from: number; readonly rank: number }>>;
  /** Store calls sent, per operation: a lost race must not turn into a storm of writes. */
  readonly storeCalls: Map<string, number>;
  /** The loop stopped before everything settled (a runaway run). */
  readonly runaway: boolean;
  readonly trace: string[];
}

/** What the world calls on a container's vendor (a planted bug may wrap the real one). */
export type SimVendor = Pick<TokenVendor, 'vend' | 'invalidate' | 'refresh' | 'warmAll'>;

/** What a planted bug may look at: the world as it is now. */
export interface PlantView {
  /** The prefix the location API names for the tenant now (its environment's current one). */
  currentPrefix(tenantId: string): string;
  readonly tenants: ReadonlyMap<string, SimTenant>;
}

export interface WorldOptions {
  readonly trace?: boolean;
  /** Replaces the in-memory store (a planted bug, in tests). */
  readonly storeFactory?: (faults: ConstructorParameters<typeof InMemoryTokenStore>[0]) => InMemoryTokenStore;
  /** Wraps every container's vendor (a planted bug, in tests). */
  readonly wrapVendor?: (vendor: TokenVendor, world: PlantView) => SimVendor;
  /** Wraps every container's secret source (a planted bug, in tests). */
  readonly wrapCredentials?: (source: CredentialSource) => CredentialSource;
}

interface Container {
  readonly name: string;
  alive: boolean;
  readonly vendor: SimVendor;
}

const context = new AsyncLocalStorage<RequestRecord>();
const MAX_STEPS = 400_000;

export const tenantName = (index: number) => `tenant${index}`;

export async function runPlan(plan: SimPlan, options: WorldOptions = {}): Promise<SimHistory> {
  const loop = new SimLoop(SIM_START);
  const random = seededRandom(plan.seed);
  const trace: string[] = [];
  const log = (line: string) => {
    if (options.trace) trace.push(`${String(loop.now - SIM_START).padStart(8)} ms  ${line}`);
  };
  const requests: RequestRecord[] = [];
  const changes: StoreChange[] = [];

  const tenants = Array.from({ length: plan.tenants }, (_, i) => tenantName(i));
  const appKeys = new Map(tenants.map((t) => [t, `fake-app-key-${t}`]));
  // A configured tenant's prefix never moves; a located one starts at env0 and moves as planned.
  const simTenants = new Map<string, SimTenant>(
    tenants.map((t, i) => {
      const config = plan.tenantConfigs[i] ?? { auth: 'v1', prefix: 'configured' };
      return [t, config.prefix === 'configured' ? { config, baseUrl: `https://${t}.sim.invalid` } : { config, corpId: `FAKEcorp${i}` }];
    }),
  );
  const environments = new SimEnvironments(
    new Map(tenants.map((t) => [t, simTenants.get(t)!.baseUrl ?? `https://${t}-env0.sim.invalid`])),
    plan.location.graceMs,
  );
  const secretVersions = new Map(tenants.map((t) => [t, [{ from: SIM_START - 3_600_000, rank: SIM_START - 3_600_000 }]]));
  const currentSecret = (tenantId: string): TenantCredentials => {
    const versions = secretVersions.get(tenantId)!;
    const { rank } = versions[versions.length - 1]!;
    const { config, baseUrl, corpId } = simTenants.get(tenantId)!;
    return {
      appKey: appKeys.get(tenantId)!,
      appSecurity: `fake-app-security-${rank}`,
      ...(baseUrl !== undefined && { baseUrl }),
      ...(corpId !== undefined && { corpId }),
      authVersion: config.auth,
      rank,
    };
  };

  const blips: Array<readonly [number, number]> = [];
  const storeCalls = new Map<string, number>();
  // The fault injector decides per call; the write-outage windows fail every write before it applies.
  const faultDraw = (operation: StoreOperation): StoreFault | undefined => {
    const now = loop.now;
    const isWrite = operation !== 'read' && operation !== 'listExpiringBefore';
    if (isWrite && plan.store.writeOutages.some(([from, to]) => now >= SIM_START + from && now < SIM_START + to)) return 'reject';
    if (isWrite && blips.some(([from, to]) => now >= from && now < to)) return 'reject';
    for (const fault of ['throttle', 'reject', 'lost-answer'] as const) {
      if (random() < plan.store.rates[fault]) return fault;
    }
    return plan.store.rates['omit-item'] >= 1 ? 'omit-item' : undefined;
  };
  const store =
    options.storeFactory?.({ faults: { before: (op) => faultDraw(op) } }) ??
    new InMemoryTokenStore({ faults: { before: (op) => faultDraw(op) } });
  const upstream = new SimUpstream(
    loop,
    {
      ...plan.upstream,
      refreshOutages: plan.upstream.refreshOutages.map(([a, b]) => [SIM_START + a, SIM_START + b] as const),
      outages: plan.upstream.outages.map(([a, b]) => [SIM_START + a, SIM_START + b] as const),
    },
    random,
    new Map(tenants.map((t) => [t, { appKey: appKeys.get(t)!, auth: simTenants.get(t)!.config.auth }])),
    environments,
    plan.location.staleAnswer,
  );
  const location = new SimLocationApi(
    loop,
    { ...plan.location, outages: plan.location.outages.map(([a, b]) => [SIM_START + a, SIM_START + b] as const) },
    random,
    environments,
    new Map([...simTenants].flatMap(([t, { corpId }]) => (corpId === undefined ? [] : [[corpId, t] as const]))),
    log,
  );
  const plantView: PlantView = { currentPrefix: (tenantId) => environments.current(tenantId), tenants: simTenants };

  let storeCallCount = 0;
  /** The store as one container reaches it: latency both ways, nothing answered to the dead. */
  const storeFor = (alive: () => boolean, crashCaller: () => void): TokenStore => {
    const leg = () => 1 + Math.floor(random() * plan.store.latencyMs);
    const via = <A extends unknown[], R>(operation: StoreOperation, call: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        new Promise<R>((resolve, reject) => {
          storeCalls.set(operation, (storeCalls.get(operation) ?? 0) + 1);
          const nth = ++storeCallCount;
          const crash = plan.crashesAtStoreCall.find((c) => c.nth === nth);
          const request = context.getStore();
          if (crash?.when === 'sent') crashCaller();
          loop.schedule(leg(), () => {
            const before = snapshotAll();
            const settle = (deliver: () => void) =>
              loop.schedule(leg(), () => {
                if (crash?.when === 'answered') crashCaller();
                if (alive()) deliver();
              });
            call(...args).then(
              (value) => {
                recordChanges(before);
                settle(() => resolve(value));
              },
              (error) => {
                recordChanges(before);
                if (request && error instanceof VendingError) request.storeFaults++;
                log(`store ${operation} failed: ${(error as Error).name}`);
                settle(() => reject(error));
              },
            );
          });
        });
    return {
      read: via('read', (t: string) => store.read(t)),
      acquireLease: via('acquireLease', (t, r) => store.acquireLease(t, r)),
      storeToken: via('storeToken', (t, o, k) => store.storeToken(t, o, k)),
      releaseLease: via('releaseLease', (t, o, f) => store.releaseLease(t, o, f)),
      retire: via('retire', (t, a, n, m) => store.retire(t, a, n, m)),
      recordCredentialRank: via('recordCredentialRank', (t, r) => store.recordCredentialRank(t, r)),
      listExpiringBefore: via('listExpiringBefore', (b) => store.listExpiringBefore(b)),
    };
  };

  // What the table holds before and after each applied call, turned into the change history.
  const snapshotAll = () => new Map(tenants.map((t) => [t, store.snapshot(t)]));
  const timeline = new Map(tenants.map((t) => [t, [{ at: -Infinity, state: store.snapshot(t) }]]));
  const stateAt = (tenantId: string, at: number): TenantTokenState => {
    const entries = timeline.get(tenantId)!;
    let found = entries[0]!.state;
    for (const entry of entries) if (entry.at <= at) found = entry.state;
    return found;
  };
  const statesBetween = (tenantId: string, from: number, to: number) => [
    { at: from, state: stateAt(tenantId, from) },
    ...timeline.get(tenantId)!.filter((entry) => entry.at > from && entry.at <= to),
  ];
  const recordChanges = (before: Map<string, ReturnType<InMemoryTokenStore['snapshot']>>) => {
    for (const t of tenants) {
      const was = before.get(t)!;
      const is = store.snapshot(t);
      if (is.token && is.token.accessToken !== was.token?.accessToken) {
        changes.push({ kind: 'stored', at: loop.now, tenantId: t, accessToken: is.token.accessToken });
        log(`table ${t}: stored ${is.token.accessToken}`);
      }
      if (is.token?.retiredAt !== undefined && was.token?.retiredAt === undefined) {
        changes.push({ kind: 'retired', at: loop.now, tenantId: t, accessToken: is.token.accessToken });
        log(`table ${t}: retired ${is.token.accessToken}`);
      }
      if (is.credentialRank > was.credentialRank) changes.push({ kind: 'rank', at: loop.now, tenantId: t, rank: is.credentialRank });
      if (JSON.stringify(is) !== JSON.stringify(was)) timeline.get(t)!.push({ at: loop.now, state: is });
    }
  };

  const timersFor = (alive: () => boolean): Timers => ({
    sleep: (ms) => new Promise((resolve) => loop.schedule(ms, () => alive() && resolve())),
    abortAfter: (ms) => {
      const controller = new AbortController();
      loop.schedule(ms, () => controller.abort(new DOMException('timed out', 'TimeoutError')));
      return controller.signal;
    },
  });

  /** A container's secret cache over the simulated Secrets Manager. */
  const credentialsFor = (maxAgeMs: number, clock: Clock, alive: () => boolean): CredentialSource => {
    const cache = new Map<string, { credentials: TenantCredentials; readAt: number }>();
    return {
      get: (tenantId, readOptions = {}) =>
        new Promise((resolve) => {
          const cached = cache.get(tenantId);
          if (cached && !readOptions.fresh && clock.now() - cached.readAt < maxAgeMs) return resolve(cached.credentials);
          loop.schedule(1 + Math.floor(random() * 10), () => {
            const credentials = currentSecret(tenantId);
            cache.set(tenantId, { credentials, readAt: clock.now() });
            if (alive()) resolve(credentials);
          });
        }),
    };
  };

  let ids = 0;
  const newContainer = (name: string, skewMs: number, secretMaxAgeMs: number, refresher: RefreshTrigger | undefined): Container => {
    const container: Container = { name, alive: true, vendor: undefined as unknown as TokenVendor };
    const alive = () => container.alive;
    const clock: Clock = { now: () => loop.now + skewMs };
    const tenantOf = (credentials: TenantCredentials) => [...appKeys].find(([, key]) => key === credentials.appKey)![0];
    const secrets = credentialsFor(secretMaxAgeMs, clock, alive);
    const vendor = new TokenVendor({
      credentials: options.wrapCredentials?.(secrets) ?? secrets,
      store: storeFor(alive, () => crashByName(name)),
      locator: location.port(name, () => context.getStore()?.id ?? name, alive),
      upstream: upstream.port(
        (credentials) => {
          const tenantId = tenantOf(credentials);
          const lease = store.snapshot(tenantId).lease;
          return { tenantId, origin: context.getStore()?.id ?? name, ...(lease && { leaseExpiresAt: lease.expiresAt - skewMs }) };
        },
        alive,
      ),
      ...(refresher && { refresher }),
      settings: VENDOR_SETTINGS,
      clock,
      timers: timersFor(alive),
      random,
      newId: () => `${name}-lease-${++ids}`,
      events: {
        cacheHit: () => {},
        upstreamCall: (operation, outcome) => log(`${name} ${operation} ${outcome}`),
        leaseWait: () => {},
        servedStale: () => {},
        refreshTriggered: (outcome) => log(`${name} refresh trigger ${outcome}`),
        refreshFellBack: () => log(`${name} refresh fell back to getAccessToken`),
        storeRetried: () => {},
        lineageSuperseded: (reason) => log(`${name} superseding (${reason})`),
        handedOutUnstored: () => log(`${name} handed out an unstored token`),
        notice: (message) => log(`${name} ${message}`),
      },
    });
    (container as { vendor: SimVendor }).vendor = options.wrapVendor?.(vendor, plantView) ?? vendor;
    return container;
  };

  // Refreshers: each asynchronous invocation runs in a container of its own, which may die.
  let refresherRuns = 0;
  const refreshers = new Map<string, Container>();
  const runRefresher = (label: string, work: (vendor: SimVendor) => Promise<unknown>) => {
    const name = `refresher${++refresherRuns}`;
    const skew = Math.round((random() * 2 - 1) * MAX_SKEW_MS);
    const container = newContainer(name, skew, 0, undefined);
    refreshers.set(name, container);
    log(`${name} starts (${label})`);
    if (random() < plan.refresherCrash) {
      loop.schedule(Math.floor(random() * 3_000), () => {
        container.alive = false;
        log(`${name} crashed`);
      });
    }
    void work(container.vendor).then(
      (outcome) => log(`${name} ended: ${JSON.stringify(outcome)}`),
      (error) => log(`${name} failed: ${(error as Error).name}`),
    );
  };
  const refreshTrigger: RefreshTrigger = {
    requestRefresh: (tenantId) =>
      new Promise((resolve) => {
        // The Invoke round trip, then Lambda's queue delay before the refresher starts.
        loop.schedule(1 + Math.floor(random() * 20), () => {
          resolve();
          loop.schedule(Math.floor(random() * plan.refresherDelayMs), () =>
            runRefresher(`refresh ${tenantId}`, (vendor) => vendor.refresh(tenantId)),
          );
        });
      }),
  };

  // Faults tied to the moment a token is issued: a DynamoDB blip as the holder stores it, or
  // the holder's process dying between the upstream's answer and the store.
  upstream.onIssue = (count, origin) => {
    for (const blip of plan.store.blipsAfterIssue) {
      if (blip.nth === count) {
        blips.push([loop.now, loop.now + blip.durationMs]);
        log(`DynamoDB writes fail for ${blip.durationMs} ms`);
      }
    }
    for (const crash of plan.crashesAfterIssue) {
      if (crash.nth !== count) continue;
      loop.schedule(plan.upstream.latencyMs + crash.afterMs, () => {
        crashByName(requests.find((r) => r.id === origin)?.container ?? origin);
      });
    }
  };

  const containers: Container[] = [];
  const generations: number[] = [];
  const spawn = (index: number) => {
    generations[index] = (generations[index] ?? 0) + 1;
    containers[index] = newContainer(`c${index}.${generations[index]}`, plan.skewsMs[index] ?? 0, plan.secretMaxAgesMs[index] ?? 0, refreshTrigger);
  };
  for (let i = 0; i < plan.containers; i++) spawn(i);
  function crashByName(name: string | undefined) {
    const index = containers.findIndex((c) => c.name === name && c.alive);
    if (index >= 0) return crashContainer(index);
    const refresher = refreshers.get(name ?? '');
    if (refresher?.alive) {
      refresher.alive = false;
      log(`${name} crashed`);
    }
  }
  function crashContainer(index: number) {
    const dying = containers[index]!;
    dying.alive = false;
    for (const r of requests) if (r.container === dying.name && r.endedAt === undefined) r.crashed = true;
    log(`${dying.name} crashed`);
    spawn(index);
  }

  // Callers remember the tokens they were given, to report them later.
  const held = new Map<string, string[]>();
  let requestIds = 0;
  const startRequest = (kind: 'vend' | 'invalidate', containerIndex: number, tenantId: string, reported?: string) => {
    const container = containers[containerIndex]!;
    const record: RequestRecord = {
      id: `r${++requestIds}`,
      kind,
      tenantId,
      container: container.name,
      startedAt: loop.now,
      crashed: false,
      storeFaults: 0,
      ...(reported && { reported }),
    };
    requests.push(record);
    log(`${record.id} ${kind} ${tenantId} on ${container.name}${reported ? ` reporting ${reported}` : ''}`);
    const work = context.run(record, () =>
      kind === 'vend' ? container.vendor.vend(tenantId) : container.vendor.invalidate(tenantId, reported!),
    );
    void work.then(
      (result) => {
        if (!container.alive) return;
        record.endedAt = loop.now;
        const answer = 'outcome' in result ? result.token : result;
        if ('outcome' in result) record.outcome = result.outcome;
        record.answer = answer;
        record.token = answer.accessToken;
        const list = held.get(tenantId) ?? [];
        if (list[list.length - 1] !== answer.accessToken) list.push(answer.accessToken);
        held.set(tenantId, list);
        log(`${record.id} answered ${'outcome' in result ? `${result.outcome}, ` : ''}${answer.accessToken} at ${answer.baseUrl}`);
      },
      (error) => {
        if (!container.alive) return;
        record.endedAt = loop.now;
        record.errorCode = error instanceof VendingError ? error.code : `UNEXPECTED ${(error as Error)?.name}: ${(error as Error)?.message}`;
        log(`${record.id} failed ${record.errorCode}`);
      },
    );
  };

  // Platform upgrades: from now on the location API names a new prefix for the tenant.
  for (const move of plan.location.moves) {
    const tenantId = tenantName(move.tenant);
    if (simTenants.get(tenantId)?.config.prefix !== 'located') continue;
    loop.schedule(move.at, () => log(`${tenantId} moved to ${environments.move(tenantId, loop.now)}`));
  }

  for (const event of plan.events) {
    loop.schedule(event.at, () => {
      switch (event.kind) {
        case 'vend':
          return startRequest('vend', event.container, tenantName(event.tenant));
        case 'invalidate': {
          const list = held.get(tenantName(event.tenant)) ?? [];
          const token = event.which === 'newest' ? list[list.length - 1] : list[Math.max(0, list.length - 2)];
          if (token === undefined) return;
          return startRequest('invalidate', event.container, tenantName(event.tenant), token);
        }
        case 'crash':
          return crashContainer(event.container);
        case 'warm':
          return runRefresher('warmer schedule', (vendor) => vendor.warmAll(SIM_SETTINGS.warmHorizonMs));
        case 'rotate': {
          const tenantId = tenantName(event.tenant);
          secretVersions.get(tenantId)!.push({ from: loop.now, rank: loop.now });
          log(`secret of ${tenantId} rotated (rank ${loop.now})`);
        }
      }
    });
  }

  const idle = await loop.run(SIM_START + HORIZON_MS + 120_000, MAX_STEPS);
  return {
    plan,
    tenants: simTenants,
    requests,
    changes,
    upstream,
    location,
    environments,
    store,
    stateAt,
    statesBetween,
    secretVersions,
    storeCalls,
    runaway: !idle,
    trace,
  };
}
