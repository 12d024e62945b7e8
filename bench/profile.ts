/**
 * The hot-path profiles, taken with `node --cpu-prof` when figure 2 (warm invocation) misses its
 * target, or always with --profile:
 *  - handler: the table hit through the real handler in a loop (bench/children/hot-path.ts);
 *  - server: the `npm start` server under autocannon load on table hits.
 * The .cpuprofile files stay in bench/profiles/ (open them in Chrome DevTools); a summary of self
 * time per function and per module goes into the results.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { Simulator } from '../local/simulator/simulator';
import { REPO_ROOT } from './support/bundles';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { summarizeProfile, type ProfileSummary } from './support/profile';
import { BENCH_CREDENTIAL, LATENCY_TABLE, LATENCY_TENANT } from './latency';
import { load, SANDBOX_TENANT_PATH, startTokenServer } from './throughput';

export const PROFILE_DIR = path.join(REPO_ROOT, 'bench', 'profiles');

export interface ProfileResult {
  readonly handler?: ProfileSummary & { readonly requests: number };
  readonly server?: ProfileSummary & { readonly requestsPerSecond: number };
}

export async function profileHandlerTableHit(engine: DynamoDbLocal, simulator: Simulator, seconds: number): Promise<ProfileResult['handler']> {
  mkdirSync(PROFILE_DIR, { recursive: true });
  await engine.createTable(LATENCY_TABLE);
  const name = 'handler-table-hit.cpuprofile';
  rmSync(path.join(PROFILE_DIR, name), { force: true });
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      // The child profiles its own loop (node:inspector), after start-up and a warm-up: no tsx
      // transpiling or module loading in the profile.
      ['--import', 'tsx', path.join('bench', 'children', 'hot-path.ts')],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          BENCH_DYNAMODB_ENDPOINT: engine.endpoint,
          BENCH_TABLE: LATENCY_TABLE,
          BENCH_TENANT: LATENCY_TENANT,
          BENCH_BASE_URL: simulator.baseUrl,
          BENCH_APP_KEY: BENCH_CREDENTIAL.appKey,
          BENCH_APP_SECURITY: BENCH_CREDENTIAL.appSecurity,
          BENCH_SECONDS: String(seconds),
          BENCH_PROFILE_FILE: path.join(PROFILE_DIR, name),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`hot-path profile failed (${code}):\n${out.slice(-2000)}`))));
  });
  const line = output.split('\n').find((l) => l.startsWith('@@HOT@@'));
  const requests = line ? (JSON.parse(line.slice('@@HOT@@'.length)) as { requests: number }).requests : 0;
  return { ...summarizeProfile(path.join(PROFILE_DIR, name), REPO_ROOT), requests };
}

export async function profileServer(engine: DynamoDbLocal, seconds: number, connections: number): Promise<ProfileResult['server']> {
  mkdirSync(PROFILE_DIR, { recursive: true });
  const name = 'server-table-hit.cpuprofile';
  rmSync(path.join(PROFILE_DIR, name), { force: true });
  const server = await startTokenServer(engine, ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}`]);
  let requestsPerSecond = 0;
  try {
    const first = await fetch(`${server.url}${SANDBOX_TENANT_PATH}`);
    await first.text();
    requestsPerSecond = (await load(`${server.url}${SANDBOX_TENANT_PATH}`, connections, seconds)).requestsPerSecond;
  } finally {
    // local/main.ts exits on SIGTERM through process.exit, which writes the profile.
    await server.stop();
  }
  return { ...summarizeProfile(path.join(PROFILE_DIR, name), REPO_ROOT), requestsPerSecond };
}
