/**
 * `npm run bench`: measures cold start, warm invocations, a stampede, an upstream outage, cost and
 * throughput against their baselines in one run, on local engines only (DynamoDB Local, the
 * upstream simulator on loopback), prints a table and writes bench/results.json and
 * bench/results.md.
 *
 *   npm run bench                      the full run (a few minutes on 2 cores)
 *   npm run bench -- --quick           fewer iterations, for trying changes (writes results.partial.*)
 *   npm run bench -- --only=cold-start,warm,stampede,outage,cost,throughput
 *   npm run bench -- --no-synth        bundle the token function with esbuild instead of cdk synth
 *   npm run bench -- --profile         take the hot-path CPU profiles even when the targets are met
 *   npm run bench -- --render          rewrite results.md from results.json (after changing the report)
 */
// Before anything builds a Metrics instance: EMF output is for CloudWatch, as in `npm start`.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../functions/token/config';
import { startSimulator, type Simulator } from '../local/simulator/simulator';
import { measureColdStart } from './cold-start';
import { measureCost, type CostResult, type CostScenario } from './cost';
import { BENCH_CREDENTIAL, measureLatency } from './latency';
import { MONTHLY_ASSUMPTIONS, monthlyModel, type MonthlyModel } from './monthly';
import { measureOutage } from './outage';
import { profileHandlerTableHit, profileServer, type ProfileResult } from './profile';
import { checkTargets, consoleTable, markdown, TARGETS, type Results } from './report';
import { measureStampede } from './stampede';
import { measureThroughput } from './throughput';
import { REPO_ROOT } from './support/bundles';
import { startDynamoDbLocal, type DynamoDbLocal } from '../local/dynamodb-local';

const SECTIONS = ['cold-start', 'warm', 'stampede', 'outage', 'cost', 'throughput'] as const;
type Section = (typeof SECTIONS)[number];
/** Earlier names of sections, still accepted. */
const ALIASES: Record<string, Section> = { latency: 'warm' };

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const quick = flag('quick');
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',').map((s) => (ALIASES[s] ?? s) as Section) : [...SECTIONS];
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}; one of ${SECTIONS.join(', ')}`);
const partial = quick || onlyArg !== undefined;

const settings = {
  warm: quick ? { iterations: 500, warmup: 100 } : { iterations: 4000, warmup: 500 },
  stampede: {
    issueDelayMs: 1000,
    combos: quick
      ? ([[1, 100], [8, 500]] as const)
      : ([[1, 1], [1, 500], [2, 250], [4, 100], [8, 100], [8, 500]] as const),
    repetitions: quick ? 1 : 3,
    engineWarmupCycles: quick ? 50 : 100,
    tableHits: quick ? 200 : 300,
  },
  coldStart: { runs: quick ? 3 : 10, profileRuns: quick ? 2 : 5, noSynth: flag('no-synth') },
  outage: quick
    ? { tenantsPerGroup: 4, containers: 3, callers: 8, secondsPerPhase: 2 }
    : { tenantsPerGroup: 8, containers: 4, callers: 16, secondsPerPhase: 5 },
  throughput: quick
    ? { connections: 10, seconds: 2, rounds: 1, warmupSeconds: 1 }
    : { connections: 10, seconds: 5, rounds: 3, warmupSeconds: 2 },
  cost: (quick
    ? [{ name: 'steady', requests: 5_000, containers: 4, tenants: 3, minutes: 120 }]
    : [
        { name: 'steady', requests: 40_000, containers: 4, tenants: 3, minutes: 120 },
        { name: 'quiet', requests: 2_000, containers: 2, tenants: 1, minutes: 120 },
      ]) satisfies CostScenario[],
};

const started = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);

let engine: DynamoDbLocal | undefined;
let simulator: Simulator | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await simulator?.close().catch(() => {});
    await engine?.stop().catch(() => {});
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().then(() => process.exit(130)));
}

async function main(): Promise<number> {
  const machine = {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
  if (!process.version.startsWith('v24.')) log(`warning: running on Node ${process.version}; run through npm (Node 24 is the devDependency)`);
  log(`bench on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${partial ? ' (partial run)' : ''}`);
  log('starting DynamoDB Local and the upstream simulator');
  engine = await startDynamoDbLocal();
  simulator = await startSimulator({ issueDelayMs: 0, credentials: [BENCH_CREDENTIAL] });

  const sectionSeconds: Record<string, number> = {};
  const failures: Record<string, string> = {};
  // A section that fails is reported as failed; the others still run and are written.
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now();
    log(`${name} …`);
    try {
      return await run();
    } catch (error) {
      failures[name] = (error as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 400);
      log(`${name} FAILED: ${(error as Error).stack ?? String(error)}`);
      return undefined;
    } finally {
      sectionSeconds[name] = Math.round((performance.now() - t0) / 100) / 10;
    }
  };
  const results: { -readonly [K in keyof Results]?: Results[K] } = {};
  if (only.includes('cold-start')) results.coldStart = await timed('1. cold start', () => measureColdStart(engine!, simulator!, settings.coldStart, log));
  if (only.includes('warm')) results.warm = await timed('2. warm invocation', () => measureLatency(engine!, simulator!, settings.warm, log));
  if (only.includes('stampede')) results.stampede = await timed('3. stampede', () => measureStampede(engine!, settings.stampede, log));
  if (only.includes('outage')) results.outage = await timed('4. outage', () => measureOutage(engine!, settings.outage, log));
  if (only.includes('cost')) results.cost = await timed('5. cost', () => measureCost(engine!, settings.cost, log));
  if (only.includes('throughput')) results.throughput = await timed('i. throughput', () => measureThroughput(engine!, settings.throughput, log));
  if (results.cost) results.monthly = monthly(results.cost, results);

  const profile: { -readonly [K in keyof ProfileResult]?: ProfileResult[K] } = {};
  const warmMissed = results.warm !== undefined && results.warm.ratioP50 > TARGETS.warmP50OverHandWritten;
  if (flag('profile') || warmMissed) {
    await timed('profiles', async () => {
      if (results.warm || flag('profile')) {
        profile.handler = await profileHandlerTableHit(engine!, simulator!, quick ? 2 : 4);
        log(`  profile (handler table hit): ${profile.handler?.requests} requests → ${profile.handler?.file}`);
      }
      if (flag('profile') && !failures['i. throughput']) {
        profile.server = await profileServer(engine!, quick ? 2 : 4, settings.throughput.connections);
        log(`  profile (npm start server): ${profile.server?.requestsPerSecond} req/s → ${profile.server?.file}`);
      }
    });
  }

  const defaults = loadConfig({ TABLE_NAME: 'bench' });
  const final: Results = {
    date: new Date().toISOString().slice(0, 10),
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    revision: revision(),
    serviceDefaults: {
      secretMaxAgeSeconds: defaults.secretMaxAgeSeconds,
      leaseWaitMs: defaults.vendor.leaseWaitMs,
      leaseDurationMs: defaults.vendor.leaseDurationMs,
      requestBudgetMs: defaults.vendor.requestBudgetMs,
      refreshWindowMs: defaults.vendor.refreshWindowMs,
      safetyMarginMs: defaults.vendor.safetyMarginMs,
      warmHorizonMs: defaults.warmHorizonMs,
      ...Object.fromEntries(Object.entries(defaults).filter(([k, v]) => typeof v === 'boolean' && !['vendor'].includes(k))),
    },
    mode: partial ? 'partial' : 'full',
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    sectionSeconds,
    ...results,
    ...(Object.keys(profile).length > 0 && { profile: profile as ProfileResult }),
    ...(Object.keys(failures).length > 0 && { failures }),
    targets: checkTargets({ ...results, failures }),
  };
  const base = path.join(REPO_ROOT, 'bench', partial ? 'results.partial' : 'results');
  writeFileSync(`${base}.json`, `${JSON.stringify(final, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(final));
  console.log(`\n${consoleTable(final)}\n`);
  log(`wrote ${path.relative(REPO_ROOT, base)}.json and .md`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

/** The monthly model from the cost run, with the handler durations of figures 1 and 2 when they ran. */
function monthly(cost: CostResult, r: Pick<Results, 'warm' | 'coldStart'>): MonthlyModel {
  const a = MONTHLY_ASSUMPTIONS;
  const steady = cost.rows[0]!;
  const asyncPerRequest = (steady.counts.refreshTriggered + steady.counts.refreshTriggerFailures) / steady.scenario.requests;
  // The deployed stack runs with tenant sessions: the model takes the handler times measured with
  // them (the information runs of figures 1 and 2) when those ran.
  const warmSession = r.warm?.tenantSession;
  const warm = r.warm
    ? {
        warmBilledMs: Math.ceil(Math.max(0, (warmSession ?? r.warm).tableHitMs.p50 - r.warm.bareGetItemMs.p50) + a.awsGetItemMs),
        warmBilledBasis: `warm GET billed ≈ ceil(handler p50${warmSession ? ' with tenant sessions' : ''} − bare GetItem p50 in figure 2 + ${a.awsGetItemMs} ms for an in-region GetItem)`,
      }
    : { warmBilledMs: a.awsGetItemMs + 2, warmBilledBasis: `warm GET billed ≈ ${a.awsGetItemMs + 2} ms (assumed: figure 2 did not run)` };
  const coldSession = r.coldStart?.tenantSession;
  const cold = r.coldStart
    ? coldSession
      ? {
          coldBilledMs: Math.ceil(coldSession.medianMs.totalMs + a.awsAssumeRoleMs + a.awsGetItemMs + a.awsGetSecretValueMs),
          coldBilledBasis: `cold GET billed (INIT + first request) ≈ ceil(figure 1's process start → response with a tenant session + ${a.awsAssumeRoleMs} + ${a.awsGetItemMs} + ${a.awsGetSecretValueMs} ms for the three AWS calls)`,
        }
      : {
          coldBilledMs: Math.ceil(r.coldStart.subject.medianMs.totalMs + a.awsGetItemMs + a.awsGetSecretValueMs),
          coldBilledBasis: `cold GET billed (INIT + first request) ≈ ceil(figure 1's process start → response + ${a.awsGetItemMs} + ${a.awsGetSecretValueMs} ms for the two AWS calls)`,
        }
    : { coldBilledMs: 300, coldBilledBasis: 'cold GET billed ≈ 300 ms (assumed: figure 1 did not run)' };
  return monthlyModel({ refreshPath: cost.refreshPath, asyncRefreshesPerRequest: asyncPerRequest, ...warm, ...cold });
}

function revision(): string {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'functions', 'local', 'lib', 'package.json', 'package-lock.json') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in functions/, local/, lib/ or package files' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function render(): number {
  const base = path.join(REPO_ROOT, 'bench', 'results');
  const saved = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as Results;
  const final: Results = { ...saved, targets: checkTargets(saved) };
  writeFileSync(`${base}.json`, `${JSON.stringify(final, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(final));
  console.log(consoleTable(final));
  return 0;
}

let code = 1;
try {
  code = flag('render') ? render() : await main();
} catch (error) {
  console.error(error);
} finally {
  await cleanup();
}
// Keep-alive sockets of the SDK clients would hold the process open; every child has been stopped.
process.exit(code);
