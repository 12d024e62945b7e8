/**
 * Figure 4: requests per second of the `npm start` server (local/main.ts, the real handler behind
 * node:http) on table hits (every request reads the table), next to a bare node:http server that answers with a body of the same
 * size and the same headers, in the same run. Each server runs in a process of its own; the load
 * generator (autocannon) runs in this one, so on 2 cores each gets one. Rounds alternate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { REPO_ROOT } from './support/bundles';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { median, round } from './support/stats';

export interface ThroughputOptions {
  readonly connections: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly warmupSeconds: number;
}

export interface LoadRun {
  readonly requestsPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
}

export interface ThroughputResult {
  readonly connections: number;
  readonly secondsPerRound: number;
  readonly rounds: number;
  readonly bodyBytes: number;
  readonly path: string;
  readonly subject: LoadRun[];
  readonly baseline: LoadRun[];
  /** Informational: local/server.ts's HTTP → Lambda translation with a constant handler. */
  readonly adapterOnly: LoadRun[];
  readonly subjectMedianRps: number;
  readonly baselineMedianRps: number;
  readonly adapterOnlyMedianRps: number;
  readonly adapterOnlyRatio: number;
  /** Median rps of the npm start server ÷ median rps of the bare server (target ≥ 0.6). */
  readonly ratio: number;
}

export const THROUGHPUT_TABLE = 'bench-throughput';
export const SANDBOX_TENANT_PATH = '/tenants/demo/token';

export interface StartedServer {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `npm start` (node --import tsx local/main.ts) on a free port, against DynamoDB Local. */
export function startTokenServer(engine: DynamoDbLocal, extraArgs: string[] = []): Promise<StartedServer> {
  return startChild(
    [...extraArgs, '--import', 'tsx', path.join('local', 'main.ts')],
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DYNAMODB_ENDPOINT: engine.endpoint,
      TABLE_NAME: THROUGHPUT_TABLE,
      SANDBOX_ISSUE_DELAY_MS: '0',
    },
    /listening on (http:\/\/\S+)/,
  );
}

export function startAdapterServer(body: string, headers: Record<string, string>): Promise<StartedServer> {
  return startChild(
    ['--import', 'tsx', path.join('bench', 'children', 'adapter-server.ts')],
    { BENCH_BODY: body, BENCH_HEADERS: JSON.stringify(headers) },
    /listening on (http:\/\/\S+)/,
  );
}

export function startBareServer(body: string, headers: Record<string, string>): Promise<StartedServer> {
  return startChild(
    [path.join('bench', 'children', 'bare-server.mjs')],
    { BENCH_BODY: body, BENCH_HEADERS: JSON.stringify(headers) },
    /listening on (http:\/\/\S+)/,
  );
}

function startChild(args: string[], env: Record<string, string>, ready: RegExp): Promise<StartedServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`server did not start within 60 s:\n${output.slice(-2000)}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ url: match[1]!, child, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was ready:\n${output.slice(-2000)}`));
    });
  });
}

export async function load(url: string, connections: number, seconds: number): Promise<LoadRun> {
  const result = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return {
    requestsPerSecond: round(result['2xx'] / result.duration, 1),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

export async function measureThroughput(
  engine: DynamoDbLocal,
  options: ThroughputOptions,
  progress: (line: string) => void,
): Promise<ThroughputResult> {
  await engine.createTable(THROUGHPUT_TABLE);
  const subject = await startTokenServer(engine);
  let bare: StartedServer | undefined;
  let adapter: StartedServer | undefined;
  try {
    // The first request fetches the sandbox tenant's token (simulator, table); later ones are table hits.
    const first = await fetch(`${subject.url}${SANDBOX_TENANT_PATH}`);
    const body = await first.text();
    if (first.status !== 200) throw new Error(`npm start server: ${first.status} ${body}`);
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'cache-control']) {
      const value = first.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    bare = await startBareServer(body, headers);
    adapter = await startAdapterServer(body, headers);
    const targets = {
      subject: `${subject.url}${SANDBOX_TENANT_PATH}`,
      baseline: `${bare.url}${SANDBOX_TENANT_PATH}`,
      adapterOnly: `${adapter.url}${SANDBOX_TENANT_PATH}`,
    };
    for (const url of [targets.baseline, targets.adapterOnly]) {
      const check = await (await fetch(url)).text();
      if (check.length !== body.length) throw new Error(`${url} answers a body of another size`);
    }

    progress(`  throughput: warming up the servers (${options.warmupSeconds} s each)`);
    for (const url of Object.values(targets)) await load(url, options.connections, options.warmupSeconds);
    const runs: Record<keyof typeof targets, LoadRun[]> = { subject: [], baseline: [], adapterOnly: [] };
    for (let r = 0; r < options.rounds; r++) {
      // Subject and baseline back to back, in alternating order; the decomposition aid after them.
      const order: Array<keyof typeof targets> = r % 2 === 0 ? ['baseline', 'subject', 'adapterOnly'] : ['subject', 'baseline', 'adapterOnly'];
      for (const which of order) {
        const run = await load(targets[which], options.connections, options.seconds);
        if (run.non2xx > 0 || run.errors > 0) throw new Error(`throughput (${which}): ${run.non2xx} non-2xx, ${run.errors} errors`);
        runs[which].push(run);
        progress(`  throughput round ${r + 1}/${options.rounds} ${which}: ${run.requestsPerSecond} req/s`);
      }
    }
    const subjectMedian = median(runs.subject.map((r) => r.requestsPerSecond));
    const baselineMedian = median(runs.baseline.map((r) => r.requestsPerSecond));
    const adapterMedian = median(runs.adapterOnly.map((r) => r.requestsPerSecond));
    return {
      connections: options.connections,
      secondsPerRound: options.seconds,
      rounds: options.rounds,
      bodyBytes: Buffer.byteLength(body),
      path: SANDBOX_TENANT_PATH,
      subject: runs.subject,
      baseline: runs.baseline,
      adapterOnly: runs.adapterOnly,
      subjectMedianRps: subjectMedian,
      baselineMedianRps: baselineMedian,
      adapterOnlyMedianRps: adapterMedian,
      adapterOnlyRatio: round(adapterMedian / baselineMedian, 3),
      ratio: round(subjectMedian / baselineMedian, 3),
    };
  } finally {
    await adapter?.stop();
    await bare?.stop();
    await subject.stop();
  }
}
