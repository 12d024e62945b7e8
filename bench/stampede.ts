/**
 * Figure 3: a stampede. K simulated containers each receive C concurrent requests for one tenant
 * that has no token yet, against one DynamoDB Local table and one upstream simulator that takes D
 * ms to issue a token. Counted: upstream calls (limit 1) and every caller's latency as a multiple
 * of D (target: p99 ≤ 1.15 × D).
 *
 * Each container is a process of its own (children/stampede-container.ts), started with the heap
 * flags Lambda's runtime gives the function's memory size (support/lambda-node-flags.ts): a Lambda
 * execution environment has its own CPU, and in one process the C invocations of one container
 * would wait on the event loop of all the others. The simulator runs in a process of its own too
 * (support/simulator-process.ts), as DynamoDB Local does: the upstream is somebody else's servers.
 * This machine's cores are still shared by all of them.
 */
import type { TimedCall } from './children/stampede-container';
import { ContainerProcess } from './support/container-process';
import { TOKEN_VENDING_DEFAULTS } from '../lib/token-vending';
import { tokenPath } from './support/container';
import { lambdaRuntimeNodeFlags } from './support/lambda-node-flags';
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
   * Lease cycles (read, conditional acquire, store) each container process runs on a tenant of its
   * own before the runs, so that DynamoDB Local's JVM and the process's V8 have compiled the paths
   * a stampede takes (see `warm`).
   */
  readonly engineWarmupCycles: number;
  /** Table hits through the handler each container process makes before the runs (see `warm`). */
  readonly tableHits: number;
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
  /** Each repetition's p99 ÷ D, in order (absent in results written before it was recorded). */
  readonly runP99OverD?: number[];
  /**
   * When the slowest container answered its first caller, from the moment the first container
   * began firing, ÷ D (max over runs).
   */
  readonly slowestContainerFirstAnswerOverD: number;
  /**
   * The longest time from the first container beginning to fire to the last one having started
   * all of its C invocations (the containers are told at once; their processes share this
   * machine's cores).
   */
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
  /** The first container began firing → every container had started all of its invocations. */
  readonly fireSpreadMs: number;
  /** Firing began → the holder called the upstream (secret, read, lease, in every container at once). */
  readonly upstreamCallAtMs: number;
  readonly upstreamCallMs: number;
  /** The upstream answered → the last caller of any container was answered. */
  readonly lastAnswerAfterUpstreamMs: number;
}

export interface StampedeResult {
  readonly issueDelayMs: number;
  /** How the container processes ran (absent in results written when all containers shared one process). */
  readonly containerProcess?: { readonly memoryMb: number; readonly nodeFlags: string[] };
  readonly rows: StampedeRow[];
}

export const STAMPEDE_TABLE = 'bench-stampede';
const WARMUP_TENANT = 'stampede-warmup';
const WARMING_STAMPEDE_TENANT = 'stampede-warming-crowd';
const WARMING_STAMPEDE_REQUESTS = 100;

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
  const maxK = Math.max(...options.combos.map(([k]) => k));
  const warmingTenants = Array.from({ length: maxK }, (_, i) => `stampede-warming-${i}`);
  const tenants: string[] = [WARMUP_TENANT, WARMING_STAMPEDE_TENANT, ...warmingTenants];
  options.combos.forEach(([k, c]) => {
    for (let r = 0; r < options.repetitions; r++) tenants.push(runTenant(k, c, r));
  });

  // One process per container (a Lambda execution environment has its own CPU), started once; each
  // run builds new containers in them.
  const memoryMb = TOKEN_VENDING_DEFAULTS.memorySize;
  const processes = await Promise.all(
    Array.from({ length: maxK }, () =>
      ContainerProcess.start({
        tableName: STAMPEDE_TABLE,
        dynamoDbEndpoint: engine.endpoint,
        baseUrl: simulator.baseUrl,
        credential: BENCH_CREDENTIAL,
        tenants,
        warmupTenant: WARMUP_TENANT,
        memoryMb,
      }),
    ),
  );
  try {
    await warm(processes, warmingTenants, simulator, options);
    return {
      issueDelayMs: options.issueDelayMs,
      containerProcess: { memoryMb, nodeFlags: lambdaRuntimeNodeFlags(memoryMb) },
      rows: await runCombos(processes, simulator, options, progress),
    };
  } finally {
    await Promise.all(processes.map((container) => container.close()));
  }
}

async function runCombos(
  processes: ContainerProcess[],
  simulator: SimulatorProcess,
  options: StampedeOptions,
  progress: (line: string) => void,
): Promise<StampedeRow[]> {
  const rows: StampedeRow[] = [];
  for (const [k, c] of options.combos) {
    const latencies: number[] = [];
    const upstreamCallsPerRun: number[] = [];
    const runP99OverD: number[] = [];
    let maxConcurrent = 0;
    let non200 = 0;
    let worstRunP99 = 0;
    let slowestFirstAnswer = 0;
    let fireSpread = 0;
    let worstRun: StampedePhases | undefined;
    for (let r = 0; r < options.repetitions; r++) {
      const containers = processes.slice(0, k);
      await Promise.all(containers.map((container) => container.newContainer()));
      await Promise.all(containers.map((container) => container.prepare(tokenPath(runTenant(k, c, r)), c)));
      await simulator.reset();
      const run = await fire(containers);
      const counters = await simulator.counters();
      upstreamCallsPerRun.push(counters.getAccessToken + counters.refreshToken);
      maxConcurrent = Math.max(maxConcurrent, counters.inFlightMax.getAccessToken, counters.inFlightMax.refreshToken);
      non200 += run.non200;
      latencies.push(...run.latencies);
      const runP99 = percentile(run.latencies, 99);
      if (worstRun === undefined || runP99 / options.issueDelayMs > worstRun.p99OverD) {
        const call = run.upstreamCalls[0];
        worstRun = {
          p99OverD: round(runP99 / options.issueDelayMs),
          fireSpreadMs: round(run.fireSpreadMs, 1),
          upstreamCallAtMs: call ? round(call.startedAt - run.fireStartedAt, 1) : Number.NaN,
          upstreamCallMs: call ? round(call.endedAt - call.startedAt, 1) : Number.NaN,
          lastAnswerAfterUpstreamMs: call ? round(run.lastAnswerAt - call.endedAt, 1) : Number.NaN,
        };
      }
      worstRunP99 = Math.max(worstRunP99, runP99);
      runP99OverD.push(round(runP99 / options.issueDelayMs));
      progress(`    K=${k} C=${c} run ${r + 1}: p99 ${round(runP99 / options.issueDelayMs)}×D, containers firing ${Math.round(run.fireSpreadMs)} ms`);
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
      runP99OverD,
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
  return rows;
}

/**
 * Before the runs, with the simulator answering at once, each container process warms up on a
 * tenant of its own: `engineWarmupCycles` lease cycles (GetItem, UpdateItem with the lease
 * condition, UpdateItem storing the token) and `tableHits` reads through the handler. Then the
 * warm-up tenant every run's containers read first gets its token, and every process takes part
 * in one unmeasured stampede of 100 requests each (at D).
 *
 * - DynamoDB Local is a Java program: until its JIT has compiled the conditional UpdateItem path, a
 *   write takes 5–20 ms on this machine instead of 1–3 ms, and each stampede run makes only two
 *   writes that callers wait on (the lease, the token).
 * - A container in a stampede has served before: V8 has compiled its code, as in a busy Lambda
 *   container. Cold, a process fires its invocations several times slower.
 *
 * The stampede tenants are untouched: every run still meets a tenant with no item.
 */
async function warm(processes: ContainerProcess[], warmingTenants: string[], simulator: SimulatorProcess, options: StampedeOptions): Promise<void> {
  await simulator.configure({ issueDelayMs: 0 });
  try {
    await Promise.all(processes.map((container, i) => container.warm(warmingTenants[i]!, options.engineWarmupCycles, options.tableHits)));
    await processes[0]!.newContainer();
  } finally {
    await simulator.configure({ issueDelayMs: options.issueDelayMs });
  }
  // One unmeasured stampede in every process, so that each has run the waiting path (lease lost,
  // shared poll, answer) once, as the processes of a later combination have in the earlier ones.
  await Promise.all(processes.map((container) => container.newContainer()));
  await Promise.all(processes.map((container) => container.prepare(tokenPath(WARMING_STAMPEDE_TENANT), WARMING_STAMPEDE_REQUESTS)));
  const run = await fire(processes);
  if (run.non200 > 0) throw new Error(`the warming stampede answered ${run.non200} non-200`);
}

/** Tells every container to fire its C requests, then lines their timelines up. */
async function fire(containers: ContainerProcess[]): Promise<{
  latencies: number[];
  non200: number;
  slowestContainerFirstAnswerMs: number;
  fireSpreadMs: number;
  fireStartedAt: number;
  lastAnswerAt: number;
  upstreamCalls: TimedCall[];
}> {
  for (const container of containers) container.fire();
  const runs = await Promise.all(containers.map((container) => container.fired()));
  const fireStartedAt = Math.min(...runs.map((run) => run.fireStartedAt));
  return {
    latencies: runs.flatMap((run) => run.latencies),
    non200: runs.reduce((sum, run) => sum + run.non200, 0),
    slowestContainerFirstAnswerMs: Math.max(...runs.map((run) => run.firstAnswerAt - fireStartedAt)),
    fireSpreadMs: Math.max(...runs.map((run) => run.fireEndedAt)) - fireStartedAt,
    fireStartedAt,
    lastAnswerAt: Math.max(...runs.map((run) => run.lastAnswerAt)),
    upstreamCalls: runs.flatMap((run) => run.upstreamCalls),
  };
}

function runTenant(k: number, c: number, repetition: number): string {
  return `stampede-k${k}-c${c}-r${repetition}`;
}
