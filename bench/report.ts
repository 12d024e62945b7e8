/** Turns the measurements into the target checks, the console table and the Markdown README quotes. */
import type { ColdStartResult } from './cold-start';
import type { CostResult } from './cost';
import type { LatencyResult } from './latency';
import type { ProfileResult } from './profile';
import type { StampedeResult } from './stampede';
import type { ThroughputResult } from './throughput';
import { bytes, dollars, ms, ratio } from './support/stats';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly loadAverageAtStart: number[];
}

export interface Results {
  readonly date: string;
  readonly machine: Machine;
  /** `git describe`-like: the commit measured, and whether the work tree had changes. */
  readonly revision: string;
  /** The service's settings in force (functions/token/config.ts defaults at run time). */
  readonly serviceDefaults: Record<string, number | string | undefined>;
  readonly mode: 'full' | 'partial';
  readonly command: string;
  readonly durationSeconds: number;
  readonly sectionSeconds: Record<string, number>;
  readonly latency?: LatencyResult;
  readonly stampede?: StampedeResult;
  readonly coldStart?: ColdStartResult;
  readonly throughput?: ThroughputResult;
  readonly cost?: CostResult;
  readonly profile?: ProfileResult;
  /** Sections that failed, with the first lines of their error. */
  readonly failures?: Record<string, string>;
  readonly targets: TargetCheck[];
}

export interface TargetCheck {
  readonly id: string;
  readonly what: string;
  readonly measured: string;
  readonly baseline: string;
  readonly figure: string;
  readonly target: string;
  readonly met: boolean | null;
  /** Why it falls short, from how the code works (only when missed). */
  readonly shortfall?: string;
}

export const TARGETS = {
  tableHitOverGetItemP50: 1.15,
  stampedeUpstreamCalls: 1,
  stampedeP99OverD: 1.25,
  stampedeMaxContainers: 8,
  stampedeMaxConcurrency: 500,
  coldStartOverBaseline: 1.3,
  throughputOverBare: 0.6,
} as const;

export function checkTargets(r: Pick<Results, 'latency' | 'stampede' | 'coldStart' | 'throughput' | 'cost' | 'failures'>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const [section, message] of Object.entries(r.failures ?? {})) {
    checks.push({
      id: section.split('.')[0]!,
      what: `${section.replace(/^\d+\.\s*/, '')}: the measurement failed`,
      measured: '—',
      baseline: '—',
      figure: 'failed',
      target: '—',
      met: false,
      shortfall: `the run failed: ${message}`,
    });
  }
  if (r.latency) {
    const l = r.latency;
    const bare = `bare GetItem ${ms(l.bareGetItemMs.p50)} / ${ms(l.bareGetItemMs.p99)}`;
    const tableMet = l.tableHitRatioP50 <= TARGETS.tableHitOverGetItemP50;
    checks.push({
      id: '1',
      what: 'Table hit through the handler, p50 / p99',
      measured: `${ms(l.tableHitMs.p50)} / ${ms(l.tableHitMs.p99)}`,
      baseline: bare,
      figure: `${ratio(l.tableHitRatioP50)} at p50 (${ratio(l.tableHitRatioP99)} at p99)`,
      target: `≤ ${TARGETS.tableHitOverGetItemP50}× at p50`,
      met: tableMet,
      ...(!tableMet && {
        shortfall:
          'on top of the GetItem, a table hit runs middy with Powertools logger/metrics/tracer middleware, the secret lookup, the document client\'s unmarshalling and the token policy; the profile shows where that time goes',
      }),
    });
  }
  if (r.stampede) {
    const s = r.stampede;
    const inScope = s.rows.filter((row) => row.containers <= TARGETS.stampedeMaxContainers && row.requestsPerContainer <= TARGETS.stampedeMaxConcurrency);
    const callsOk = inScope.every((row) => row.upstreamCallsPerRun.every((calls) => calls === TARGETS.stampedeUpstreamCalls));
    const worst = inScope.reduce((a, b) => (b.p99OverD > a.p99OverD ? b : a), inScope[0]!);
    const p99Ok = inScope.every((row) => row.p99OverD <= TARGETS.stampedeP99OverD);
    const non200 = inScope.reduce((n, row) => n + row.non200, 0);
    const maxCalls = Math.max(...inScope.flatMap((row) => row.upstreamCallsPerRun));
    checks.push({
      id: '2',
      what: `Stampede, K ≤ 8 containers × C ≤ 500 concurrent cold requests each, D = ${s.issueDelayMs} ms (${inScope.length} combinations × ${worst.repetitions} runs)`,
      measured: `upstream calls per run: max ${maxCalls}; worst p99 ${ratio(worst.p99OverD)} D (K=${worst.containers}, C=${worst.requestsPerContainer}); ${non200} non-200`,
      baseline: `issue delay D = ${s.issueDelayMs} ms`,
      figure: `${maxCalls} call; p99 ≤ ${ratio(worst.p99OverD)} D`,
      target: `exactly 1 call; p99 ≤ ${TARGETS.stampedeP99OverD}× D`,
      met: callsOk && p99Ok && non200 === 0,
      ...(!(callsOk && p99Ok && non200 === 0) && {
        shortfall: [
          !callsOk ? 'more than one upstream call in some run' : '',
          !p99Ok
            ? `callers in containers that lost the lease wait for the holder by re-reading the table with jittered, capped exponential backoff (WAIT_BASE_MS / WAIT_CAP_MS in functions/domain/token-vendor.ts), so a container sees the token only at its first read after it lands: the slowest container answered its first caller at ${ratio(worst.slowestContainerFirstAnswerOverD)} D` +
              (worst.p99OverD - worst.slowestContainerFirstAnswerOverD > 0.05
                ? `, and the rest up to the p99 is this one Node process finishing all K × C invocations on one event loop (real containers each have their own)`
                : ', i.e. the poll interval, not the harness, sets the tail') +
              (worst.p99OverD <= TARGETS.stampedeP99OverD + 0.05 ? '; this close to the limit the verdict varies from run to run, as the backoff is random' : '')
            : '',
          non200 > 0 ? `${non200} callers got an error` : '',
        ]
          .filter(Boolean)
          .join('; '),
      }),
    });
  }
  if (r.coldStart) {
    const c = r.coldStart;
    const met = c.ratio <= TARGETS.coldStartOverBaseline;
    checks.push({
      id: '3',
      what: `Cold start: process start → import → first request (bundle from ${c.subject.source})`,
      measured: `${ms(c.subject.medianMs.totalMs)} (import ${ms(c.subject.medianMs.importMs)}, first request ${ms(c.subject.medianMs.firstRequestMs)}); bundle ${bytes(c.subject.bytes)}, ${bytes(c.subject.gzipBytes)} gzipped`,
      baseline: `SDK-clients-only bundle: ${ms(c.baseline.medianMs.totalMs)} (import ${ms(c.baseline.medianMs.importMs)}); ${bytes(c.baseline.bytes)}, ${bytes(c.baseline.gzipBytes)} gzipped`,
      figure: ratio(c.ratio),
      target: `≤ ${TARGETS.coldStartOverBaseline}×`,
      met,
      ...(!met && {
        shortfall:
          `importing the token function takes ${ms(c.subject.medianMs.importMs - c.baseline.medianMs.importMs)} longer than the baseline ` +
          `(largest parts of its bundle: ${c.subject.composition.slice(0, 4).map((p) => `${p.name} ${bytes(p.bytes)}`).join(', ')}), ` +
          `and its first request makes the container's first two AWS calls (GetSecretValue, GetItem: credential and endpoint resolution, SigV4 signing, two new connections; ${ms(c.subject.medianMs.firstRequestMs)}), which the constant-answer baseline does not make`,
      }),
    });
  }
  if (r.throughput) {
    const t = r.throughput;
    const met = t.ratio >= TARGETS.throughputOverBare;
    checks.push({
      id: '4',
      what: `Throughput of the \`npm start\` server on table hits (${t.connections} connections)`,
      measured: `${Math.round(t.subjectMedianRps).toLocaleString('en-US')} req/s`,
      baseline: `bare node:http, same ${t.bodyBytes}-byte body: ${Math.round(t.baselineMedianRps).toLocaleString('en-US')} req/s`,
      figure: ratio(t.ratio),
      target: `≥ ${TARGETS.throughputOverBare}×`,
      met,
      ...(!met && {
        shortfall:
          `the HTTP → Lambda translation of local/server.ts alone (read the body, build the API Gateway event and Lambda context, constant handler) reaches ${ratio(t.adapterOnlyRatio)} of the bare server; ` +
          'the handler (middy with Powertools logger/metrics/tracer middleware, the vendor) takes most of the rest; see the server profile',
      }),
    });
  }
  if (r.cost) {
    for (const row of r.cost.rows) {
      const p = row.perMillionRequests;
      checks.push({
        id: '5',
        what: `Cost per million requests, "${row.scenario.name}": ${row.scenario.requests.toLocaleString('en-US')} requests, ${row.scenario.containers} containers, ${row.scenario.tenants} tenant${row.scenario.tenants === 1 ? '' : 's'}, ${row.scenario.minutes} simulated min`,
        measured: `${fmt(p.dynamoDbReads)} reads (${fmt(p.readRequestUnits)} RRU), ${fmt(p.dynamoDbWrites)} writes (${fmt(p.writeRequestUnits)} WRU), ${fmt(p.secretsManagerCalls)} secret reads, ${fmt(p.upstreamCalls)} upstream calls`,
        baseline: '—',
        figure: `${dollars(p.dollars.dataServices)} DynamoDB + Secrets Manager; ${dollars(p.dollars.total)} with Lambda requests and API Gateway`,
        target: '—',
        met: null,
      });
    }
  }
  return checks.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : String(n);
}

function mark(met: boolean | null): string {
  return met === null ? '—' : met ? '✅ met' : '❌ **missed**';
}

export function markdown(results: Results): string {
  const m = results.machine;
  const lines: string[] = [];
  lines.push(
    `Measured ${results.date} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ${m.os}, Node ${m.node}; load average at start ${m.loadAverageAtStart.join(' / ')}. ` +
      `\`${results.command}\` took ${Math.round(results.durationSeconds)} s.` +
      (results.mode === 'partial' ? ' **Partial run (quick or filtered): not the published figures.**' : ''),
    '',
    `Revision ${results.revision}. Service settings are the defaults of functions/token/config.ts: ${Object.entries(results.serviceDefaults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}. Every figure is a ratio against a baseline measured in the same run.`,
    '',
    '| # | What | Measured | Baseline, same run | Figure | Target | Met |',
    '|---|---|---|---|---|---|---|',
  );
  for (const c of results.targets) {
    lines.push(`| ${c.id} | ${c.what} | ${c.measured} | ${c.baseline} | ${c.figure} | ${c.target} | ${mark(c.met)} |`);
  }

  if (results.stampede) {
    const s = results.stampede;
    lines.push(
      '',
      `**Stampede detail** (D = ${s.issueDelayMs} ms; C is per container, so K × C requests are in flight at once; every run is a new tenant with no token; latency over all callers of all runs):`,
      '',
      '| K containers | C per container | K × C | runs | upstream calls per run | max concurrent upstream calls | p50 ÷ D | p99 ÷ D | worst run p99 ÷ D | max ÷ D | slowest container\'s first answer ÷ D | non-200 |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of s.rows) {
      lines.push(
        `| ${row.containers} | ${row.requestsPerContainer} | ${row.totalRequests} | ${row.repetitions} | ${row.upstreamCallsPerRun.join(', ')} | ${row.maxConcurrentUpstreamCalls} | ${row.p50OverD} | ${row.p99OverD} | ${row.worstRunP99OverD} | ${row.maxOverD} | ${row.slowestContainerFirstAnswerOverD} | ${row.non200} |`,
      );
    }
  }

  if (results.coldStart) {
    const c = results.coldStart;
    lines.push(
      '',
      `**Cold start detail** (median of ${c.runs} alternating runs each, Node ${c.node}, fresh process in an empty folder; first request: ${c.subject.firstRequest}):`,
      '',
      '| bundle | source | size | gzipped | source map | process start → import | import | first request | total | spawn → response (parent) |',
      '|---|---|---|---|---|---|---|---|---|---|',
      `| token function | ${c.subject.source} | ${bytes(c.subject.bytes)} | ${bytes(c.subject.gzipBytes)} | ${bytes(c.subject.sourceMapBytes)} | ${ms(c.subject.medianMs.processStartToImportMs)} | ${ms(c.subject.medianMs.importMs)} | ${ms(c.subject.medianMs.firstRequestMs)} | ${ms(c.subject.medianMs.totalMs)} | ${ms(c.subject.medianMs.wallMs)} |`,
      `| baseline (SDK clients, constant answer) | ${c.baseline.source} | ${bytes(c.baseline.bytes)} | ${bytes(c.baseline.gzipBytes)} | ${bytes(c.baseline.sourceMapBytes)} | ${ms(c.baseline.medianMs.processStartToImportMs)} | ${ms(c.baseline.medianMs.importMs)} | ${ms(c.baseline.medianMs.firstRequestMs)} | ${ms(c.baseline.medianMs.totalMs)} | ${ms(c.baseline.medianMs.wallMs)} |`,
    );
    lines.push('', `Largest parts of the token function's bundle (esbuild metafile, same entry and options): ${c.subject.composition.map((p) => `${p.name} ${bytes(p.bytes)}`).join(', ')}.`);
    if (c.synthNote) lines.push('', `Note: ${c.synthNote}`);
  }

  if (results.throughput) {
    const t = results.throughput;
    lines.push(
      '',
      `**Throughput detail** (autocannon, ${t.connections} connections, ${t.rounds} alternating rounds of ${t.secondsPerRound} s, GET ${t.path}):`,
      '',
      '| server | req/s per round | median req/s | p50 / p99 latency (median round) |',
      '|---|---|---|---|',
      `| \`npm start\` (local/main.ts) | ${t.subject.map((r) => Math.round(r.requestsPerSecond)).join(', ')} | ${Math.round(t.subjectMedianRps)} | ${medianLatency(t.subject)} |`,
      `| bare node:http | ${t.baseline.map((r) => Math.round(r.requestsPerSecond)).join(', ')} | ${Math.round(t.baselineMedianRps)} | ${medianLatency(t.baseline)} |`,
      `| decomposition aid: local/server.ts's HTTP → event translation, constant handler (${ratio(t.adapterOnlyRatio)} of bare) | ${t.adapterOnly.map((r) => Math.round(r.requestsPerSecond)).join(', ')} | ${Math.round(t.adapterOnlyMedianRps)} | ${medianLatency(t.adapterOnly)} |`,
    );
  }

  if (results.cost) {
    const c = results.cost;
    const p = c.prices;
    lines.push(
      '',
      `**Cost detail** (per million requests; prices: AWS on-demand, ${p.region}, as published ${p.recorded}, not re-checked at run time: DynamoDB $${p.dynamoDbPerMillionReadRequestUnits} per million read request units and $${p.dynamoDbPerMillionWriteRequestUnits} per million write request units, Secrets Manager $${p.secretsManagerPer10kApiCalls} per 10,000 API calls (+ $${p.secretsManagerPerSecretMonth} per secret per month, not per request), Lambda $${p.lambdaPerMillionRequests} per million requests + $${p.lambdaArmPerGbSecond} per GB-s on arm64, API Gateway REST $${p.apiGatewayRestPerMillionRequests} per million):`,
      '',
      '| scenario | req/s | warmer runs | DynamoDB reads (RRU) | writes (WRU) | Secrets Manager calls | upstream calls | DynamoDB $ | Secrets Manager $ | + Lambda requests + API Gateway $ | Lambda duration $ per billed ms (512 MB arm64) |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of c.rows) {
      const q = row.perMillionRequests;
      lines.push(
        `| ${row.scenario.name}: ${row.scenario.requests.toLocaleString('en-US')} req, ${row.scenario.containers} containers, ${row.scenario.tenants} tenant${row.scenario.tenants === 1 ? '' : 's'}, ${row.scenario.minutes} min | ${row.requestsPerSecond} | ${row.warmerRuns} | ${fmt(q.dynamoDbReads)} (${fmt(q.readRequestUnits)}) | ${fmt(q.dynamoDbWrites)} (${fmt(q.writeRequestUnits)}) | ${fmt(q.secretsManagerCalls)} | ${fmt(q.upstreamCalls)} | ${dollars(q.dollars.dynamoDb)} | ${dollars(q.dollars.secretsManager)} | ${dollars(q.dollars.total)} | ${dollars(q.dollars.lambdaPerBilledMs)} |`,
      );
    }
  }

  if (results.profile && (results.profile.handler || results.profile.server)) {
    lines.push('', '**Hot-path profiles** (`node --cpu-prof`, self time, idle excluded; files in bench/profiles/):');
    for (const [label, summary] of [
      ['table hit through the handler', results.profile.handler],
      ['`npm start` server under load', results.profile.server],
    ] as const) {
      if (!summary) continue;
      lines.push('', `${label} (${summary.file}, ${summary.busyMs} ms busy). Named cost centres, self time:`, '');
      for (const f of summary.findings) lines.push(`- ${f.percent} %: ${f.name}`);
      lines.push('', '| module | self % | | function | self % |', '|---|---|---|---|---|');
      const n = Math.max(Math.min(summary.byModule.length, 10), Math.min(summary.topFunctions.length, 10));
      for (let i = 0; i < n; i++) {
        const mod = summary.byModule[i];
        const fn = summary.topFunctions[i];
        lines.push(`| ${mod ? `\`${mod.name}\`` : ''} | ${mod ? `${mod.percent} %` : ''} | | ${fn ? `\`${fn.name}\`` : ''} | ${fn ? `${fn.percent} %` : ''} |`);
      }
    }
  }

  const missed = results.targets.filter((c) => c.met === false);
  lines.push('', missed.length === 0 ? 'All targets met in this run.' : `**Falls short in this run:**`);
  for (const c of missed) lines.push(`- Figure ${c.id} (${c.figure} against ${c.target}): ${c.shortfall ?? ''}.`);
  return lines.join('\n') + '\n';
}

function medianLatency(runs: ThroughputResult['subject']): string {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `${mid.latencyP50Ms} ms / ${mid.latencyP99Ms} ms`;
}

/** A plain-text table for the console. */
export function consoleTable(results: Results): string {
  const rows = results.targets.map((c) => [c.id, c.what.slice(0, 60), c.figure, c.target, c.met === null ? '—' : c.met ? 'met' : 'MISSED']);
  const header = ['#', 'What', 'Figure', 'Target', 'Met'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
