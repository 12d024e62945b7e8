/**
 * Figure 3: a stampede. K simulated containers (separate `wireVendor` calls: separate in-flight
 * maps and background refreshes) each receive C concurrent requests for one tenant that has no token
 * yet, against one DynamoDB Local table and one upstream simulator that takes D ms to issue a
 * token. Counted: upstream calls (limit 1) and every caller's latency as a multiple of D (target:
 * p99 ≤ 1.15 × D).
 *
 * The simulator runs in a process of its own (support/simulator-process.ts), as DynamoDB Local
 * does: the upstream is somebody else's servers, and its delay must not wait on this process's
 * event loop.
 */
import { EkuaibaoClient } from '../functions/adapters/ekuaibao-client';
import { StaticCredentials } from '../functions/adapters/tenant-credentials';
import type { UpstreamAuth } from '../functions/domain/types';
import { createContainer, expectStatus, tokenPath, type Container } from './support/container';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { BENCH_CREDENTIAL } from './latency';
import { percentile, round } from './support/stats';
import { startSimulatorProcess, type SimulatorProcess } from './support/simulator-process';

export interface StampedeOptions {
  readonly issueDelayMs: number;
  /** [K containers, C concurrent requests per container]. */
  readonly combos: ReadonlyArray<readonly [number, number]>;
  readonly repetitions: number;
  /**
   * Lease cycles (read, conditional acquire, store) run on the warm-up tenant before the runs, so
   * that DynamoDB Local's JVM has compiled its write path (see `warmEngineWrites`).
   */
  readonly engineWarmupCycles: number;
}

export interface StampedeRow {
  readonly containers: number;
  readonly requestsPerContainer: number;
  readonly totalRequests: number;
  readonly repetitions: number;
  /** Upstream calls (getAccessToken + refreshToken) in each repetition. */
  readonly upstreamCallsPerRun: number[];
  readonly maxConcurrentUpstreamCalls: number;
  readonly non200: number;
  /** Caller latency ÷ D over all callers of all repetitions. */
  readonly p50OverD: number;
  readonly p99OverD: number;
  readonly maxOverD: number;
  /** The worst repetition's p99 ÷ D. */
  readonly worstRunP99OverD: number;
  /**
   * When the slowest container answered its first caller, from the moment firing began, ÷ D (max
   * over runs). Caller latency beyond this is the time one Node process takes to finish K × C
   * handler invocations (all simulated containers share its event loop; real containers do not).
   */
  readonly slowestContainerFirstAnswerOverD: number;
  /** The longest time the synchronous firing loop took to start all K × C invocations. */
  readonly fireSpreadMs: number;
  /** Where the time of the run with the worst p99 went (absent in results written before it was measured). */
  readonly worstRun?: StampedePhases;
}

/**
 * One run's timeline, from the moment firing began: when the lease holder's upstream call was
 * made, how long it took (D plus the round trip), and how long after its answer the last caller
 * was answered (the store, the other containers' next poll round, and every completion).
 */
export interface StampedePhases {
  readonly p99OverD: number;
  /** Firing began → the synchronous firing loop had started every invocation. */
  readonly fireSpreadMs: number;
  /** Firing began → the holder called the upstream (secret, read, lease, in every container at once). */
  readonly upstreamCallAtMs: number;
  readonly upstreamCallMs: number;
  /** The upstream answered → the last caller of any container was answered. */
  readonly lastAnswerAfterUpstreamMs: number;
}

export interface StampedeResult {
  readonly issueDelayMs: number;
  readonly rows: StampedeRow[];
}

export const STAMPEDE_TABLE = 'bench-stampede';

export async function measureStampede(
  engine: DynamoDbLocal,
  options: StampedeOptions,
  progress: (line: string) => void,
): Promise<StampedeResult> {
  const simulator = await startSimulatorProcess([BENCH_CREDENTIAL]);
  try {
    return await stampede(engine, simulator, options, progress);
  } finally {
    await simulator.close();
  }
}

async function stampede(
  engine: DynamoDbLocal,
  simulator: SimulatorProcess,
  options: StampedeOptions,
  progress: (line: string) => void,
): Promise<StampedeResult> {
  await engine.createTable(STAMPEDE_TABLE);
  await simulator.configure({ issueDelayMs: options.issueDelayMs });
  const tenants: string[] = ['stampede-warmup'];
  options.combos.forEach(([k, c]) => {
    for (let r = 0; r < options.repetitions; r++) tenants.push(`stampede-k${k}-c${c}-r${r}`);
  });
  const secret = { appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl };
  const parsing = { defaultBaseUrl: simulator.baseUrl, allowLoopbackHttp: true };
  const credentials = new StaticCredentials(Object.fromEntries(tenants.map((t) => [t, secret])), parsing);
  const upstream = timedUpstream(new EkuaibaoClient());
  const newContainer = () =>
    createContainer({ tableName: STAMPEDE_TABLE, dynamoDbEndpoint: engine.endpoint, credentials, logLevel: 'WARN', upstream: upstream.client });

  // One token in the table for warming containers up: a container that has served before (SDK
  // clients built, connections open) meets a tenant whose token is missing.
  const seeder = newContainer();
  expectStatus(await seeder.get(tokenPath('stampede-warmup')), 200, 'seeding the warm-up tenant');
  await warmEngineWrites(seeder, options.engineWarmupCycles, simulator, options.issueDelayMs);

  const rows: StampedeRow[] = [];
  for (const [k, c] of options.combos) {
    const latencies: number[] = [];
    const upstreamCallsPerRun: number[] = [];
    let maxConcurrent = 0;
    let non200 = 0;
    let worstRunP99 = 0;
    let slowestFirstAnswer = 0;
    let fireSpread = 0;
    let worstRun: StampedePhases | undefined;
    for (let r = 0; r < options.repetitions; r++) {
      const containers = Array.from({ length: k }, newContainer);
      await Promise.all(containers.map(async (container) => expectStatus(await container.get(tokenPath('stampede-warmup')), 200, 'warm-up')));
      await simulator.reset();
      upstream.calls.length = 0;
      const run = await fire(containers, c, tokenPath(`stampede-k${k}-c${c}-r${r}`));
      const counters = await simulator.counters();
      upstreamCallsPerRun.push(counters.getAccessToken + counters.refreshToken);
      maxConcurrent = Math.max(maxConcurrent, counters.inFlightMax.getAccessToken, counters.inFlightMax.refreshToken);
      non200 += run.non200;
      latencies.push(...run.latencies);
      const runP99 = percentile(run.latencies, 99);
      if (worstRun === undefined || runP99 / options.issueDelayMs > worstRun.p99OverD) {
        const call = upstream.calls[0];
        worstRun = {
          p99OverD: round(runP99 / options.issueDelayMs),
          fireSpreadMs: round(run.fireSpreadMs, 1),
          upstreamCallAtMs: call ? round(call.startedAt - run.fireStartedAt, 1) : Number.NaN,
          upstreamCallMs: call ? round(call.endedAt - call.startedAt, 1) : Number.NaN,
          lastAnswerAfterUpstreamMs: call ? round(run.lastAnswerAt - call.endedAt, 1) : Number.NaN,
        };
      }
      worstRunP99 = Math.max(worstRunP99, runP99);
      slowestFirstAnswer = Math.max(slowestFirstAnswer, run.slowestContainerFirstAnswerMs);
      fireSpread = Math.max(fireSpread, run.fireSpreadMs);
    }
    const d = options.issueDelayMs;
    const row: StampedeRow = {
      containers: k,
      requestsPerContainer: c,
      totalRequests: k * c,
      repetitions: options.repetitions,
      upstreamCallsPerRun,
      maxConcurrentUpstreamCalls: maxConcurrent,
      non200,
      p50OverD: round(percentile(latencies, 50) / d),
      p99OverD: round(percentile(latencies, 99) / d),
      maxOverD: round(Math.max(...latencies) / d),
      worstRunP99OverD: round(worstRunP99 / d),
      slowestContainerFirstAnswerOverD: round(slowestFirstAnswer / d),
      fireSpreadMs: round(fireSpread, 1),
      worstRun: worstRun!,
    };
    rows.push(row);
    progress(
      `  stampede K=${k} C=${c}: upstream calls ${upstreamCallsPerRun.join(',')}, p50 ${row.p50OverD}×D, p99 ${row.p99OverD}×D, max ${row.maxOverD}×D, ` +
        `slowest container's first answer ${row.slowestContainerFirstAnswerOverD}×D, non-200 ${non200}`,
    );
  }
  return { issueDelayMs: options.issueDelayMs, rows };
}

/**
 * DynamoDB Local is a Java program: until its JIT has compiled the conditional UpdateItem path, a
 * write takes 5–20 ms on this machine instead of 1–3 ms, and each stampede run makes only two
 * writes that callers wait on (the lease, the token). A stampede measures the service's waiting,
 * not a cold JVM, so the engine's writes are warmed first, as figure 2 warms its reads: the seeding
 * container refreshes the warm-up tenant's token `cycles` times through its lease (GetItem,
 * UpdateItem with the lease condition, UpdateItem storing the token), with the simulator answering
 * at once. The stampede tenants are untouched: every run still meets a tenant with no item.
 */
async function warmEngineWrites(container: Container, cycles: number, simulator: SimulatorProcess, issueDelayMs: number): Promise<void> {
  await simulator.configure({ issueDelayMs: 0 });
  try {
    for (let i = 0; i < cycles; i++) {
      // A horizon past the token's lifetime: the token is always due, so every cycle takes the lease.
      const outcome = await container.vendor.refresh('stampede-warmup', 10 * 365 * 24 * 3_600_000);
      if (outcome !== 'refreshed') throw new Error(`warming the engine's writes: refresh ${outcome}`);
    }
  } finally {
    await simulator.configure({ issueDelayMs });
  }
}

/** Fires C requests into each container, round-robin so that every container starts at once. */
async function fire(
  containers: Container[],
  perContainer: number,
  path: string,
): Promise<{
  latencies: number[];
  non200: number;
  slowestContainerFirstAnswerMs: number;
  fireSpreadMs: number;
  fireStartedAt: number;
  lastAnswerAt: number;
}> {
  const prepared = [];
  for (let i = 0; i < perContainer; i++) {
    for (const [index, container] of containers.entries()) prepared.push({ index, container, ...container.prepare(path) });
  }
  let non200 = 0;
  let lastAnswerAt = 0;
  const firstAnswer = new Array<number>(containers.length).fill(Number.POSITIVE_INFINITY);
  const fireStarted = performance.now();
  const pending = prepared.map(async ({ index, container, event, context }) => {
    const started = performance.now();
    const result = await container.handler(event, context);
    const ended = performance.now();
    lastAnswerAt = Math.max(lastAnswerAt, ended);
    if (result.statusCode !== 200) non200++;
    firstAnswer[index] = Math.min(firstAnswer[index]!, ended - fireStarted);
    return ended - started;
  });
  const fireSpreadMs = performance.now() - fireStarted;
  const latencies = await Promise.all(pending);
  return { latencies, non200, slowestContainerFirstAnswerMs: Math.max(...firstAnswer), fireSpreadMs, fireStartedAt: fireStarted, lastAnswerAt };
}

/** The Ekuaibao client the containers use, recording when each getAccessToken was made and answered. */
function timedUpstream(client: UpstreamAuth): { client: UpstreamAuth; calls: { startedAt: number; endedAt: number }[] } {
  const calls: { startedAt: number; endedAt: number }[] = [];
  return {
    calls,
    client: {
      getAccessToken: async (credentials, signal) => {
        const startedAt = performance.now();
        try {
          return await client.getAccessToken(credentials, signal);
        } finally {
          calls.push({ startedAt, endedAt: performance.now() });
        }
      },
      refreshToken: (credentials, current, options, signal) => client.refreshToken(credentials, current, options, signal),
    },
  };
}
