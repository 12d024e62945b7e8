/**
 * Figure 4: an upstream outage while tokens are still valid. Several tenants hold tokens inside
 * their refresh window (issued with a 10-minute lifetime: the window is the last 15 minutes, the
 * safety margin the last 5, so they are refresh-due and servable), and the upstream simulator
 * answers 503 — on both auth endpoints (scenario "all"), or only on the refresh endpoint (scenario
 * "refresh only", where the holder falls back to getAccessToken). Closed-loop callers hammer GET
 * through the real handler of several simulated containers; the refreshes those callers ask for run
 * in the background of each container, as in `npm start`, and that is where they fail. Next to it,
 * in the same run and the same way, the table-hit phase: other tenants, tokens outside their
 * window, upstream healthy. Phases, after an unmeasured warm-up: table hit, outage "all", table
 * hit, outage "refresh only", table hit; the three table-hit phases are pooled. Nobody may wait on the dead upstream: caller p99 ÷ table-hit p99
 * (target ≤ 1.5) and zero errors. The simulator's counters show how many refreshes were attempted
 * and failed, i.e. that the outage was real. Failures are answered at once, successes (the
 * fallback getAccessToken of "refresh only") after the simulator's default 300 ms: a caller that
 * waited on the upstream would show as an error or as a 300 ms answer.
 *
 * The service's log lines during the phases (at its deployed INFO level: an outage logs warnings)
 * are formatted as usual, then counted and dropped instead of flooding the console.
 */
import { StaticCredentials } from '../functions/adapters/tenant-credentials';
import { DEFAULT_SETTINGS, startSimulator, type SimulatorCounters } from '../local/simulator/simulator';
import { createContainer, expectStatus, tokenPath, type Container } from './support/container';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { BENCH_CREDENTIAL } from './latency';
import { nowMs, round, roundSummary, summarize, type Summary } from './support/stats';

export interface OutageOptions {
  readonly tenantsPerGroup: number;
  readonly containers: number;
  /** Concurrent closed-loop callers. */
  readonly callers: number;
  readonly secondsPerPhase: number;
}

export interface OutagePhase {
  readonly name: string;
  readonly requests: number;
  readonly errors: number;
  readonly errorStatuses: Record<string, number>;
  readonly latencyMs: Summary;
  /** Upstream calls the simulator received during the phase (all of them failed when faulted). */
  readonly upstream: { readonly getAccessToken: number; readonly refreshToken: number };
  /** The service's own metrics during the phase (RefreshTriggered, ServedStaleOnUpstreamFailure, …). */
  readonly metrics: Record<string, number>;
  /** Log lines the service wrote during the phase. */
  readonly logLines: number;
}

export interface OutageScenario extends OutagePhase {
  readonly faults: string;
  readonly refreshAttempts: number;
  readonly refreshAttemptsFailed: number;
  readonly getAccessTokenAttempts: number;
  readonly getAccessTokenAttemptsFailed: number;
  /** Caller p99 ÷ the pooled table-hit p99 (target ≤ 1.5). */
  readonly p99OverTableHitP99: number;
  readonly p50OverTableHitP50: number;
}

export interface OutageResult {
  readonly tenantsPerGroup: number;
  readonly containers: number;
  readonly callers: number;
  readonly secondsPerPhase: number;
  /** Remaining servable time of the outage tenants' tokens when their phase began (s). */
  readonly servableSecondsAtStart: number;
  readonly tableHit: OutagePhase;
  readonly scenarios: OutageScenario[];
}

const TABLE = 'bench-outage';
/** Inside the 15-minute refresh window, with 5 minutes of servable time beyond the 5-minute margin. */
const IN_WINDOW_LIFETIME_MS = 10 * 60_000;
const OUTAGE_STATUS = 503;

export async function measureOutage(engine: DynamoDbLocal, options: OutageOptions, progress: (line: string) => void): Promise<OutageResult> {
  await engine.createTable(TABLE);
  // A simulator of its own: its faults must not reach the other figures.
  const simulator = await startSimulator({ issueDelayMs: 0, credentials: [BENCH_CREDENTIAL] });
  try {
    const group = (name: string) => Array.from({ length: options.tenantsPerGroup }, (_, i) => `outage-${name}-${i}`);
    const tenants = { tableHit: group('hit'), all: group('all'), refreshOnly: group('refresh') };
    const secret = { appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl };
    const credentials = new StaticCredentials(
      Object.fromEntries(Object.values(tenants).flat().map((t) => [t, secret])),
      { defaultBaseUrl: simulator.baseUrl, allowLoopbackHttp: true },
    );
    const metricCounts = new Map<string, number>();
    const containers = Array.from({ length: options.containers }, () =>
      createContainer({ tableName: TABLE, dynamoDbEndpoint: engine.endpoint, credentials, metricCounts }),
    );

    // Seed: table-hit tenants with the default 2-hour lifetime (outside the window), outage tenants
    // with 10 minutes (inside it). A fetched token goes to its caller without a refresh request.
    const seed = async (list: string[]) => {
      const expiries: number[] = [];
      for (const tenant of list) {
        const result = await containers[0]!.get(tokenPath(tenant));
        expectStatus(result, 200, `seeding ${tenant}`);
        expiries.push((JSON.parse(result.body) as { expireTime: number }).expireTime);
      }
      return expiries;
    };
    await seed(tenants.tableHit);
    simulator.configure({ tokenLifetimeMs: IN_WINDOW_LIFETIME_MS });
    const outageExpiries = [...(await seed(tenants.all)), ...(await seed(tenants.refreshOnly))];
    // Fallback getAccessToken calls in "refresh only" get tokens outside the window again.
    // From here on the upstream answers successes after its default delay (300 ms), as the real one
    // delays new tokens: a caller that waited for a fallback getAccessToken would show it.
    simulator.configure({ tokenLifetimeMs: DEFAULT_SETTINGS.tokenLifetimeMs, issueDelayMs: DEFAULT_SETTINGS.issueDelayMs });
    // Every container serves every tenant once, so that all of them have read their clients' first
    // answers (connections open) before any phase; outage tenants are not touched before theirs.
    for (const container of containers) expectStatus(await container.get(tokenPath(tenants.tableHit[0]!)), 200, 'warming a container');

    const samples = new Map<OutagePhase, number[]>();
    const phase = async (name: string, list: string[]): Promise<OutagePhase> => {
      const before = { counters: simulator.counters(), metrics: new Map(metricCounts) };
      const run = await hammer(containers, list, options.callers, options.secondsPerPhase * 1000);
      // Refreshes still running in the background belong to this phase.
      await Promise.all(containers.map((c) => c.refreshesIdle()));
      const after = simulator.counters();
      const metrics: Record<string, number> = {};
      for (const [key, value] of metricCounts) {
        const delta = value - (before.metrics.get(key) ?? 0);
        if (delta !== 0) metrics[key] = round(delta, 0);
      }
      const result: OutagePhase = {
        name,
        requests: run.latencies.length,
        errors: run.errors,
        errorStatuses: run.errorStatuses,
        latencyMs: roundSummary(summarize(run.latencies), 4),
        upstream: delta(before.counters, after),
        metrics,
        logLines: run.logLines,
      };
      samples.set(result, run.latencies);
      progress(
        `  outage phase "${name}": ${result.requests} requests, ${result.errors} errors, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
          `upstream getAccessToken ${result.upstream.getAccessToken} / refresh ${result.upstream.refreshToken}`,
      );
      return result;
    };

    // Unmeasured: JIT, and as many connections to DynamoDB Local as the callers need.
    await hammer(containers, tenants.tableHit, options.callers, Math.min(2000, options.secondsPerPhase * 1000));
    const hit1 = await phase('table hit (1)', tenants.tableHit);
    const servableSecondsAtStart = (Math.min(...outageExpiries) - Date.now()) / 1000;
    const windowStart = Math.max(...outageExpiries) + 5 * 60_000 - 15 * 60_000;
    if (Date.now() < windowStart || servableSecondsAtStart < 60) {
      throw new Error('outage tenants are not inside their refresh window with time to spare; the phase would measure something else');
    }
    simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: OUTAGE_STATUS });
    simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: OUTAGE_STATUS });
    const all = await phase('outage: getAccessToken and refresh answer 503', tenants.all);
    simulator.clearFaults();
    const hit2 = await phase('table hit (2)', tenants.tableHit);
    simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: OUTAGE_STATUS });
    const refreshOnly = await phase('outage: only refresh answers 503', tenants.refreshOnly);
    simulator.clearFaults();
    const hit3 = await phase('table hit (3)', tenants.tableHit);

    const tableHit = pool('table hit (three phases pooled: before, between and after the outages)', [hit1, hit2, hit3], [hit1, hit2, hit3].flatMap((h) => samples.get(h)!));
    const scenario = (phaseResult: OutagePhase, faults: string, allFailing: boolean): OutageScenario => ({
      ...phaseResult,
      faults,
      refreshAttempts: phaseResult.upstream.refreshToken,
      refreshAttemptsFailed: phaseResult.upstream.refreshToken,
      getAccessTokenAttempts: phaseResult.upstream.getAccessToken,
      getAccessTokenAttemptsFailed: allFailing ? phaseResult.upstream.getAccessToken : 0,
      p99OverTableHitP99: round(phaseResult.latencyMs.p99 / tableHit.latencyMs.p99, 3),
      p50OverTableHitP50: round(phaseResult.latencyMs.p50 / tableHit.latencyMs.p50, 3),
    });
    return {
      tenantsPerGroup: options.tenantsPerGroup,
      containers: options.containers,
      callers: options.callers,
      secondsPerPhase: options.secondsPerPhase,
      servableSecondsAtStart: round(servableSecondsAtStart, 0),
      tableHit,
      scenarios: [
        scenario(all, `getAccessToken and refreshToken answer ${OUTAGE_STATUS}`, true),
        scenario(refreshOnly, `refreshToken answers ${OUTAGE_STATUS}; getAccessToken works`, false),
      ],
    };
  } finally {
    await simulator.close();
  }
}

/** Phases as one: counts added, latency summarized over all their samples. */
function pool(name: string, phases: OutagePhase[], samples: number[]): OutagePhase {
  const add = (records: Array<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const record of records) for (const [k, v] of Object.entries(record)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const total = (pick: (p: OutagePhase) => number) => phases.reduce((t, p) => t + pick(p), 0);
  return {
    name,
    requests: total((p) => p.requests),
    errors: total((p) => p.errors),
    errorStatuses: add(phases.map((p) => p.errorStatuses)),
    latencyMs: roundSummary(summarize(samples), 4),
    upstream: { getAccessToken: total((p) => p.upstream.getAccessToken), refreshToken: total((p) => p.upstream.refreshToken) },
    metrics: add(phases.map((p) => p.metrics)),
    logLines: total((p) => p.logLines),
  };
}

function delta(before: SimulatorCounters, after: SimulatorCounters): { getAccessToken: number; refreshToken: number } {
  return { getAccessToken: after.getAccessToken - before.getAccessToken, refreshToken: after.refreshToken - before.refreshToken };
}

/**
 * `callers` closed loops for `durationMs`: each sends GET for the next tenant of `tenants` to the
 * next container, waits for the answer, and sends the next. stdout and stderr (Powertools writes
 * warnings there) are counted and dropped meanwhile.
 */
async function hammer(
  containers: Container[],
  tenants: string[],
  callers: number,
  durationMs: number,
): Promise<{ latencies: number[]; errors: number; errorStatuses: Record<string, number>; logLines: number }> {
  const latencies: number[] = [];
  const errorStatuses: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  let logLines = 0;
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logLines += String(chunk).split('\n').length - 1;
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  try {
    const until = nowMs() + durationMs;
    const loop = async () => {
      while (nowMs() < until) {
        const i = next++;
        const container = containers[i % containers.length]!;
        const { event, context } = container.prepare(tokenPath(tenants[Math.floor(i / containers.length) % tenants.length]!));
        const started = nowMs();
        const result = await container.handler(event, context);
        latencies.push(nowMs() - started);
        if (result.statusCode !== 200) {
          errors++;
          errorStatuses[result.statusCode] = (errorStatuses[result.statusCode] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: callers }, loop));
  } finally {
    streams.forEach((stream, i) => (stream.write = writes[i]!));
  }
  return { latencies, errors, errorStatuses, logLines };
}

