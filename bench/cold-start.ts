/**
 * Figure 1: cold start. The token function's bundle as `cdk synth` produces it (size, gzipped
 * size of index.mjs) and the time for a fresh Node 24 process, in an empty folder with nothing but
 * the function's asset (index.mjs, and the Lambda client's file, which only a refresh request
 * loads: contract/lazy-modules.ts), to import it and serve one request: GET /tenants/{id}/token
 * for a tenant whose secret is in "Secrets Manager" (a local stub speaking the real protocol) and
 * whose token is already in the table (DynamoDB Local) — the usual first request of a new
 * container. Next to it, the same for the hand-written competitor (bench/baseline/hand-written.ts)
 * bundled with the same esbuild options, run with the same environment, making the same
 * first-request AWS calls (GetSecretValue, GetItem) against the same stub and table. Runs
 * alternate. Then both bundles are imported again under `node --cpu-prof`, and the samples are
 * attributed to packages through the source map (support/import-profile.ts).
 *
 * The figure compares like with like: the hand-written handler never assumes a role, so the
 * subject runs without `TENANT_ROLE_ARN` (taken out of the template's environment). As
 * information, the same subject bundle also runs, in the same rotation, with `TENANT_ROLE_ARN`
 * set and STS pointed at a local stand-in (support/sts-stub.ts): its first request then makes one
 * AssumeRole before the two calls, as a container does in AWS for its first tenant.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { functionEnvironment, SETTING_DEFAULTS } from '../contract/settings';
import { parseTenantSecret } from '../functions/adapters/tenant-credentials';
import type { CredentialSource } from '../functions/domain/types';
import { toApiGatewayEvent } from '../local/api-gateway-event';
import type { Simulator } from '../local/simulator/simulator';
import { buildBundle, bytesByPackage, REPO_ROOT, synthTokenBundle, type LambdaBundle } from './support/bundles';
import { attributeImportProfiles, type BundleImportProfile, type PhaseMarks } from './support/import-profile';
import { lambdaRuntimeNodeFlags } from './support/lambda-node-flags';
import { createContainer, expectStatus, tokenPath } from './support/container';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { startSecretsStub, STUB_SECRET_RANK } from './support/secrets-stub';
import { startStsStub } from './support/sts-stub';
import { BENCH_CREDENTIAL, BENCH_TENANT_ROLE_ARN, upstreamVia } from './latency';
import { median, round } from './support/stats';

export interface ColdStartOptions {
  readonly runs: number;
  /** Profiled runs per bundle (import profile); 0 skips the profile. */
  readonly profileRuns: number;
  /** Skip `cdk synth` and bundle with esbuild directly. */
  readonly noSynth: boolean;
}

export interface BundleFacts {
  readonly source: string;
  /** Of the handler file (index.mjs), which a cold start imports. */
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly sourceMapBytes: number;
  /** The asset's other code files (the lazy modules), which only later requests may import. */
  readonly lazyFiles: ReadonlyArray<{ readonly file: string; readonly bytes: number; readonly gzipBytes: number }>;
}

export interface ColdRun {
  readonly processStartToImportMs: number;
  readonly importMs: number;
  readonly firstRequestMs: number;
  readonly totalMs: number;
  /** Parent's view: spawn → the result line. */
  readonly wallMs: number;
}

export interface ColdStartResult {
  readonly runs: number;
  readonly node: string;
  /** The flags every child ran with, as Lambda's runtime gives them (absent in results written before they were used). */
  readonly runtimeFlags?: string[];
  readonly subject: BundleFacts & {
    readonly medianMs: ColdRun;
    readonly firstRequest: string;
    /** Largest contributors, from an esbuild build of the same entry with the same options. */
    readonly composition: Array<{ name: string; bytes: number }>;
  };
  readonly baseline: BundleFacts & { readonly medianMs: ColdRun; readonly firstRequest: string };
  /** Median process start → first response, subject ÷ baseline (target ≤ 1.15). */
  readonly ratio: number;
  readonly bundleSizeRatio: number;
  readonly gzipSizeRatio: number;
  /** GetSecretValue calls the stub answered per child run (both must make one). */
  readonly secretReadsPerRun: { readonly subject: number; readonly baseline: number };
  readonly importProfile?: { readonly subject: BundleImportProfile; readonly baseline: BundleImportProfile };
  /**
   * Information: the subject bundle with `TENANT_ROLE_ARN` set (tenant sessions, issue 14) and STS
   * answered by a local stand-in, in the same rotation as the subject without it. Each such child
   * must make exactly one AssumeRole (tagged with the tenant) and read the secret once.
   */
  readonly tenantSession?: {
    readonly roleArn: string;
    /** Whether the template gave the function TENANT_ROLE_ARN (taken out for figure 1), or the bundle came without a template. */
    readonly template: 'has TENANT_ROLE_ARN' | 'no TENANT_ROLE_ARN' | 'no template';
    readonly medianMs: ColdRun;
    /** The subject without TENANT_ROLE_ARN, same runs as `subject.medianMs`. */
    readonly withoutMs: ColdRun;
    /** Median total with − without, ms. */
    readonly differenceMs: number;
    /** Median first request with − without, ms: where the AssumeRole is paid. */
    readonly firstRequestDifferenceMs: number;
    readonly assumeRolesPerRun: number;
    readonly secretReadsPerRun: number;
    /** STS here answers on loopback; in AWS an AssumeRole takes longer (see the monthly model's assumption). */
    readonly note: string;
  };
  readonly synthNote?: string;
}

const TABLE = 'bench-cold-start';
/** Sampling interval of the import profile. */
const PROFILE_INTERVAL_US = 100;
const TENANT = 'cold-start-tenant';
const MARK = '@@COLD@@';

export async function measureColdStart(
  engine: DynamoDbLocal,
  simulator: Simulator,
  options: ColdStartOptions,
  progress: (line: string) => void,
): Promise<ColdStartResult> {
  const work = mkdtempSync(path.join(tmpdir(), 'token-vending-bench-cold-'));
  try {
    // 1. The bundles.
    let subject: LambdaBundle;
    let synthNote: string | undefined;
    if (options.noSynth) {
      subject = await buildBundle(path.join(REPO_ROOT, 'functions/token/handler.ts'), path.join(work, 'esbuild-subject'), 'esbuild (--no-synth)');
    } else {
      progress('  cold start: npx cdk synth …');
      try {
        subject = await synthTokenBundle(path.join(work, 'cdk.out'));
      } catch (error) {
        synthNote = `cdk synth failed, bundled functions/token/handler.ts with esbuild instead: ${(error as Error).message.split('\n')[0]}`;
        progress(`  cold start: ${synthNote}`);
        subject = await buildBundle(path.join(REPO_ROOT, 'functions/token/handler.ts'), path.join(work, 'esbuild-subject'), 'esbuild (cdk synth failed)');
      }
    }
    const baselineEntry = path.join(REPO_ROOT, 'bench/baseline/hand-written.ts');
    // The hand-written handler imports none of the lazy modules: its folder holds index.mjs alone.
    const baseline = await buildBundle(baselineEntry, path.join(work, 'esbuild-baseline'), 'esbuild, the token function\'s options', false);
    const subjectFacts = facts(subject);
    const subjectBytes = await bytesByPackage(path.join(REPO_ROOT, 'functions/token/handler.ts'));
    const composition = [...subjectBytes.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, bytes]) => ({ name, bytes }));
    const baselineFacts = facts(baseline);
    progress(`  cold start: subject bundle (${subject.source}) ${subjectFacts.bytes} B, baseline ${baselineFacts.bytes} B`);

    // 2. A clean folder per bundle, outside the repository: its whole asset (Lambda's /var/task); the child script.
    const clean = path.join(work, 'clean');
    const subjectFile = isolate(subject, path.join(clean, 'subject'));
    const baselineFile = isolate(baseline, path.join(clean, 'baseline'));
    const childScript = path.join(clean, 'cold-start-child.mjs');
    copyFileSync(path.join(REPO_ROOT, 'bench/children/cold-start-child.mjs'), childScript);

    // 3. The environment: the template's, with local endpoints and fake credentials.
    const functionEnv: Record<string, string> = { ...defaultEnvironment(), ...subject.environment, TABLE_NAME: TABLE };
    const secretPrefix = functionEnv.TENANT_SECRET_PREFIX ?? 'ekuaibao/tenants/';
    const defaultBaseUrl = functionEnv.DEFAULT_BASE_URL ?? 'https://app.ekuaibao.com';
    await engine.createTable(TABLE);
    await seedToken(engine, simulator, defaultBaseUrl);
    // The production parser accepts only https base URLs: the secret names none, so the tenant uses
    // DEFAULT_BASE_URL, and the token for it is already in the table (no upstream call is made).
    const stub = await startSecretsStub(
      new Map([[`${secretPrefix}${TENANT}`, JSON.stringify({ appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity })]]),
    );
    const sts = await startStsStub();
    try {
      // The template gives the function TENANT_ROLE_ARN (a reference to the tenant access role,
      // resolved at deploy time): figure 1 runs without it, as the hand-written handler assumes no role.
      const templateRole =
        subject.source !== 'cdk synth'
          ? ('no template' as const)
          : functionEnv.TENANT_ROLE_ARN !== undefined || subject.unresolvedEnvironment?.includes('TENANT_ROLE_ARN')
            ? ('has TENANT_ROLE_ARN' as const)
            : ('no TENANT_ROLE_ARN' as const);
      delete functionEnv.TENANT_ROLE_ARN;
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: clean,
        LANG: 'C.UTF-8',
        TZ: 'UTC',
        ...functionEnv,
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        // DynamoDB Local keeps one database per access key and region: the same fake key as the
        // in-process clients (localDynamoDbConfig) so that the child sees the seeded table.
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SESSION_TOKEN: 'bench-session-token-not-real',
        AWS_ENDPOINT_URL_DYNAMODB: engine.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: stub.endpoint,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(subject.memorySize ?? 512),
      };
      // The information runs: the same subject with tenant sessions, STS on loopback.
      const sessionEnv: Record<string, string> = { ...env, TENANT_ROLE_ARN: BENCH_TENANT_ROLE_ARN, AWS_ENDPOINT_URL_STS: sts.endpoint };
      const eventFile = path.join(clean, 'event.json');
      writeFileSync(eventFile, JSON.stringify(toApiGatewayEvent('GET', tokenPath(TENANT), { accept: 'application/json' }, '')));

      // 4. Alternate subject and baseline; the first round warms the OS file cache and is dropped.
      //    Each child must answer 200 with a token and read the secret from the stub once; only the
      //    tenant-session children may call STS, exactly once each.
      type Which = 'subject' | 'baseline' | 'session';
      const runs: Record<Which, ColdRun[]> = { subject: [], baseline: [], session: [] };
      const secretReads: Record<Which, number[]> = { subject: [], baseline: [], session: [] };
      const assumeRoles: Record<Which, number[]> = { subject: [], baseline: [], session: [] };
      let node = '';
      const firstRequest = `GET ${tokenPath(TENANT)} → 200 with the token (GetSecretValue from the Secrets Manager stub, GetItem from DynamoDB Local)`;
      const files: Record<Which, string> = { subject: subjectFile, baseline: baselineFile, session: subjectFile };
      const checked = async (which: Which, extraArgs: string[] = []) => {
        const before = stub.calls();
        const stsBefore = sts.calls.length;
        const run = await runChild(childScript, files[which], eventFile, clean, which === 'session' ? sessionEnv : env, extraArgs);
        if (run.statusCode !== 200 || !run.bodyKeys.includes('accessToken')) {
          throw new Error(`cold start (${which}): status ${run.statusCode} ${run.errorBody ?? ''}\n${run.output.slice(-3000)}`);
        }
        secretReads[which].push(stub.calls() - before);
        const assumed = sts.calls.slice(stsBefore);
        assumeRoles[which].push(assumed.length);
        for (const call of assumed) {
          if (call.roleArn !== BENCH_TENANT_ROLE_ARN || call.tags.tenantId !== TENANT) {
            throw new Error(`cold start (${which}): AssumeRole of ${call.roleArn} tagged ${JSON.stringify(call.tags)}, expected ${BENCH_TENANT_ROLE_ARN} tagged with ${TENANT}`);
          }
        }
        node = run.node;
        return run;
      };
      // Subject and baseline alternate; the information run goes between them, its place rotating.
      for (let i = -1; i < options.runs; i++) {
        const order: Which[] = i % 2 === 0 ? ['subject', 'baseline'] : ['baseline', 'subject'];
        order.splice((i + 3) % 3, 0, 'session');
        for (const which of order) {
          const run = await checked(which);
          if (i >= 0) runs[which].push(run);
        }
      }
      for (const which of ['subject', 'baseline', 'session'] as const) {
        if (secretReads[which].some((n) => n !== 1)) throw new Error(`cold start (${which}): GetSecretValue calls per run ${secretReads[which].join(',')}, expected 1`);
        const expected = which === 'session' ? 1 : 0;
        if (assumeRoles[which].some((n) => n !== expected)) {
          throw new Error(`cold start (${which}): AssumeRole calls per run ${assumeRoles[which].join(',')}, expected ${expected}`);
        }
      }
      progress(`  cold start: ${options.runs} runs each done`);

      // 5. The import profile: the same children under --cpu-prof, alternating.
      let importProfile: ColdStartResult['importProfile'];
      if (options.profileRuns > 0) {
        const profileDir = path.join(clean, 'profiles');
        mkdirSync(profileDir, { recursive: true });
        const taken: Record<'subject' | 'baseline', Array<{ file: string; marks: PhaseMarks }>> = { subject: [], baseline: [] };
        for (let i = 0; i < options.profileRuns; i++) {
          for (const which of i % 2 === 0 ? (['subject', 'baseline'] as const) : (['baseline', 'subject'] as const)) {
            const name = `${which}-${i}.cpuprofile`;
            const run = await checked(which, [
              '--cpu-prof',
              `--cpu-prof-dir=${profileDir}`,
              `--cpu-prof-name=${name}`,
              `--cpu-prof-interval=${PROFILE_INTERVAL_US}`,
            ]);
            taken[which].push({ file: path.join(profileDir, name), marks: run.marks });
          }
        }
        const baselineBytes = await bytesByPackage(baselineEntry);
        importProfile = {
          subject: attributeImportProfiles(taken.subject, subjectFile, subjectBytes, PROFILE_INTERVAL_US),
          baseline: attributeImportProfiles(taken.baseline, baselineFile, baselineBytes, PROFILE_INTERVAL_US),
        };
        progress(`  cold start: ${options.profileRuns} profiled runs each done`);
      }
      const subjectMedian = medianRun(runs.subject);
      const baselineMedian = medianRun(runs.baseline);
      const sessionMedian = medianRun(runs.session);
      return {
        runs: options.runs,
        node,
        runtimeFlags: lambdaRuntimeNodeFlags(Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE)),
        subject: { ...subjectFacts, medianMs: subjectMedian, firstRequest, composition },
        baseline: { ...baselineFacts, medianMs: baselineMedian, firstRequest },
        ratio: round(subjectMedian.totalMs / baselineMedian.totalMs, 3),
        bundleSizeRatio: round(subjectFacts.bytes / baselineFacts.bytes, 3),
        gzipSizeRatio: round(subjectFacts.gzipBytes / baselineFacts.gzipBytes, 3),
        secretReadsPerRun: { subject: 1, baseline: 1 },
        ...(importProfile && { importProfile }),
        tenantSession: {
          roleArn: BENCH_TENANT_ROLE_ARN,
          template: templateRole,
          medianMs: sessionMedian,
          withoutMs: subjectMedian,
          differenceMs: round(sessionMedian.totalMs - subjectMedian.totalMs, 2),
          firstRequestDifferenceMs: round(sessionMedian.firstRequestMs - subjectMedian.firstRequestMs, 2),
          assumeRolesPerRun: 1,
          secretReadsPerRun: 1,
          note: 'STS answers on loopback here: the difference is the client-side cost (the STS client, one signed request, the XML answer, per-tenant clients); an in-region AssumeRole adds its network time',
        },
        ...(synthNote && { synthNote }),
      };
    } finally {
      await stub.close();
      await sts.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function facts(bundle: LambdaBundle): BundleFacts {
  const code = readFileSync(bundle.file);
  const map = `${bundle.file}.map`;
  const lazyFiles = readdirSync(bundle.directory)
    .filter((name) => /\.[cm]?js$/.test(name) && name !== path.basename(bundle.file))
    .sort()
    .map((file) => {
      const bytes = readFileSync(path.join(bundle.directory, file));
      return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
    });
  return {
    source: bundle.source,
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    sourceMapBytes: existsSync(map) ? readFileSync(map).length : 0,
    lazyFiles,
  };
}

/** Copies the bundle's whole asset folder, as Lambda has it in /var/task; returns the handler file's copy. */
function isolate(bundle: LambdaBundle, directory: string): string {
  cpSync(bundle.directory, directory, { recursive: true });
  return path.join(directory, path.basename(bundle.file));
}

/** What the function gets when the template is not available: the stack's defaults, from the shared contract. */
function defaultEnvironment(): Record<string, string> {
  return { ...functionEnvironment(SETTING_DEFAULTS, { tableName: TABLE }), POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false' };
}

/** Puts a fresh token for the tenant in the table, fetched from the simulator on the tenant's behalf. */
async function seedToken(engine: DynamoDbLocal, simulator: Simulator, defaultBaseUrl: string): Promise<void> {
  simulator.configure({ issueDelayMs: 0 });
  // The tenant's base URL is the production one (so the token's fingerprint matches what the
  // bundle computes); only the HTTP call is sent to the simulator.
  const upstream = upstreamVia(simulator);
  // The same credentials, and the same secret version (rank), as the bundle reads from the stub:
  // a token of another rank would be superseded on the first request.
  const secret = parseTenantSecret(
    TENANT,
    { appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity },
    { defaultBaseUrl, allowLoopbackHttp: false },
    STUB_SECRET_RANK,
  );
  const credentials: CredentialSource = { get: async () => secret };
  const seeder = createContainer({ tableName: TABLE, dynamoDbEndpoint: engine.endpoint, credentials, upstream, logLevel: 'WARN' });
  expectStatus(await seeder.get(tokenPath(TENANT)), 200, 'seeding the cold-start tenant');
}

interface ChildResult extends ColdRun {
  readonly node: string;
  readonly marks: PhaseMarks;
  readonly statusCode: number;
  readonly bodyKeys: string[];
  readonly errorBody?: string;
  /** The function's own output (logs, EMF), for diagnosing a failed run. */
  readonly output: string;
}

function runChild(
  script: string,
  bundle: string,
  eventFile: string,
  cwd: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // As Lambda's runtime starts node for the function's memory size (support/lambda-node-flags.ts).
    const runtimeFlags = lambdaRuntimeNodeFlags(Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE));
    const child = spawn(process.execPath, [...runtimeFlags, ...nodeArgs, script, bundle, eventFile], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let wallMs = Number.NaN;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (Number.isNaN(wallMs) && stdout.includes(MARK)) wallMs = performance.now() - started;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      if (code !== 0 || line === undefined) {
        reject(new Error(`cold-start child failed (exit ${code}):\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`));
        return;
      }
      resolve({ ...(JSON.parse(line.slice(MARK.length)) as Omit<ChildResult, 'wallMs' | 'output'>), wallMs, output: `${stdout}\n${stderr}` });
    });
  });
}

function medianRun(runs: ColdRun[]): ColdRun {
  const pick = (field: keyof ColdRun) => round(median(runs.map((r) => r[field])), 2);
  return {
    processStartToImportMs: pick('processStartToImportMs'),
    importMs: pick('importMs'),
    firstRequestMs: pick('firstRequestMs'),
    totalMs: pick('totalMs'),
    wallMs: pick('wallMs'),
  };
}
