/**
 * The Lambda bundles the cold-start figure loads: the token function's asset as `cdk synth`
 * produces it (preferred), or, when the CDK app cannot synthesize, the same entry bundled here as
 * the CDK app bundles it (index.mjs, and the lazy modules as files of their own beside it); and
 * the hand-written baseline's bundle, always built here with those options.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { ASSET_FILE_BUNDLING, ASSET_PACKAGE_JSON, LAZY_MODULES, lazyModuleFile, TOKEN_VENDING_BUNDLING } from '../../lib/token-functions';
import { packageOf } from './import-profile';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The options of lib/token-functions.ts (NodejsFunction's esbuild options) as esbuild's own: an
 * ESM file plus its source map, AWS SDK included, the lazy modules (contract/lazy-modules.ts) left
 * out. Derived, not copied, so that the baseline is always built exactly as the token function is.
 */
export const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  format: ASSET_FILE_BUNDLING.format === OutputFormat.ESM ? 'esm' : 'cjs',
  platform: 'node',
  target: ASSET_FILE_BUNDLING.target,
  mainFields: [...ASSET_FILE_BUNDLING.mainFields],
  banner: { js: ASSET_FILE_BUNDLING.banner },
  minify: ASSET_FILE_BUNDLING.minify,
  keepNames: ASSET_FILE_BUNDLING.keepNames,
  sourcemap: ASSET_FILE_BUNDLING.sourceMap,
  sourcesContent: ASSET_FILE_BUNDLING.sourcesContent,
  external: [...TOKEN_VENDING_BUNDLING.externalModules!],
  logLevel: 'silent',
};

export interface LambdaBundle {
  /** 'cdk synth' or 'esbuild (fallback)' or 'esbuild'. */
  readonly source: string;
  /** The asset: the handler file and whatever it loads, nothing else (Lambda's /var/task). */
  readonly directory: string;
  /** The handler file (index.mjs) in `directory`. */
  readonly file: string;
  /** The function's environment from the template (strings only; TABLE_NAME is filled in later). */
  readonly environment: Record<string, string>;
  /** Variables of the template whose values are references resolved at deploy time (left out of `environment`). */
  readonly unresolvedEnvironment?: string[];
  readonly memorySize?: number;
  readonly note?: string;
}

/**
 * Bundles `entry` into `outdir` as the CDK app does (lib/token-functions.ts, TOKEN_VENDING_BUNDLING):
 * index.mjs, and, with `lazyModules`, each lazy module as a file of its own beside it, and the
 * package.json that makes Node load those as ESM.
 *
 * @param lazyModules false for code that imports none of them (the hand-written baseline).
 */
export async function buildBundle(entry: string, outdir: string, source = 'esbuild', lazyModules = true): Promise<LambdaBundle> {
  mkdirSync(outdir, { recursive: true });
  const file = path.join(outdir, 'index.mjs');
  await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile: file });
  if (lazyModules) {
    for (const m of LAZY_MODULES) {
      await build({ ...BUNDLE_OPTIONS, external: [...ASSET_FILE_BUNDLING.externalModules], entryPoints: [m.entry], outfile: path.join(outdir, lazyModuleFile(m)) });
    }
    writeFileSync(path.join(outdir, 'package.json'), `${ASSET_PACKAGE_JSON}\n`);
  }
  return { source, directory: outdir, file, environment: {} };
}

/** Runs `npx cdk synth -o <outdir> -q` and finds the token function's asset and environment. */
export async function synthTokenBundle(outdir: string, timeoutMs = 240_000): Promise<LambdaBundle> {
  const output = await run('npx', ['cdk', 'synth', '-o', outdir, '-q'], REPO_ROOT, timeoutMs);
  const templates = findFiles(outdir, (name) => name.endsWith('.template.json'));
  for (const templateFile of templates) {
    const template = JSON.parse(readFileSync(templateFile, 'utf8')) as {
      Resources?: Record<string, { Type: string; Metadata?: Record<string, unknown>; Properties?: Record<string, unknown> }>;
    };
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const cdkPath = String(resource.Metadata?.['aws:cdk:path'] ?? '');
      const assetPath = resource.Metadata?.['aws:asset:path'];
      if (!/TokenFunction\//.test(cdkPath) || typeof assetPath !== 'string') continue;
      const directory = path.resolve(path.dirname(templateFile), assetPath);
      const handler = String(resource.Properties?.Handler ?? 'index.handler');
      const base = handler.slice(0, handler.lastIndexOf('.'));
      const file = ['.mjs', '.js', '.cjs'].map((ext) => path.join(directory, base + ext)).find((f) => existsSync(f));
      if (file === undefined) throw new Error(`cdk synth: no ${base}.mjs in ${directory}`);
      const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {});
      const environment = Object.fromEntries(
        Object.entries(variables).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      );
      const unresolvedEnvironment = Object.keys(variables).filter((name) => typeof variables[name] !== 'string');
      const memorySize = resource.Properties?.MemorySize;
      return { source: 'cdk synth', directory, file, environment, unresolvedEnvironment, ...(typeof memorySize === 'number' && { memorySize }) };
    }
  }
  throw new Error(`cdk synth produced no TokenFunction asset (${templates.length} templates)\n${output.slice(-2000)}`);
}

export function findFiles(directory: string, match: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of readdirSync(directory)) {
    const full = path.join(directory, name);
    if (statSync(full).isDirectory()) found.push(...findFiles(full, match));
    else if (match(name)) found.push(full);
  }
  return found;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a timeout ends npx and everything it started, and nothing else.
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env, detached: true });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${output.slice(-3000)}`));
    });
  });
}

/** Bytes of the bundle's index.mjs per npm package (or repository folder), from an esbuild metafile of the same entry and options (the lazy modules left out). */
export async function bytesByPackage(entry: string): Promise<Map<string, number>> {
  const result = await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], write: false, outdir: '/tmp/bundle-composition', metafile: true });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const totals = new Map<string, number>();
  for (const [file, input] of Object.entries(output?.inputs ?? {})) {
    const name = packageOf(file);
    totals.set(name, (totals.get(name) ?? 0) + input.bytesInOutput);
  }
  return totals;
}

/** The largest packages of a bundle, by bytes. */
export async function bundleComposition(entry: string, top = 8): Promise<Array<{ name: string; bytes: number }>> {
  return [...(await bytesByPackage(entry)).entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, bytes]) => ({ name, bytes }));
}
