/**
 * The Lambda bundles the cold-start figure loads: the token function's asset as `cdk synth`
 * produces it (preferred), or, when the CDK app cannot synthesize, the same entry bundled here with
 * the options the CDK app uses; and the hand-written baseline's bundle, always built here with
 * those options.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { TOKEN_VENDING_BUNDLING } from '../../lib/token-functions';
import { packageOf } from './import-profile';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * TOKEN_VENDING_BUNDLING of lib/token-functions.ts (NodejsFunction's esbuild options) as esbuild's
 * own options: one self-contained ESM file plus its source map, AWS SDK included. Derived, not
 * copied, so that the baseline is always built exactly as the token function is.
 */
export const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  format: TOKEN_VENDING_BUNDLING.format === OutputFormat.ESM ? 'esm' : 'cjs',
  platform: 'node',
  target: TOKEN_VENDING_BUNDLING.target!,
  mainFields: [...TOKEN_VENDING_BUNDLING.mainFields!],
  ...(TOKEN_VENDING_BUNDLING.banner !== undefined && { banner: { js: TOKEN_VENDING_BUNDLING.banner } }),
  minify: TOKEN_VENDING_BUNDLING.minify!,
  keepNames: TOKEN_VENDING_BUNDLING.keepNames!,
  sourcemap: TOKEN_VENDING_BUNDLING.sourceMap!,
  sourcesContent: TOKEN_VENDING_BUNDLING.sourcesContent!,
  external: [...TOKEN_VENDING_BUNDLING.externalModules!],
  logLevel: 'silent',
};

export interface LambdaBundle {
  /** 'cdk synth' or 'esbuild (fallback)' or 'esbuild'. */
  readonly source: string;
  readonly directory: string;
  readonly file: string;
  /** The function's environment from the template (strings only; TABLE_NAME is filled in later). */
  readonly environment: Record<string, string>;
  /** Variables of the template whose values are references resolved at deploy time (left out of `environment`). */
  readonly unresolvedEnvironment?: string[];
  readonly memorySize?: number;
  readonly note?: string;
}

/**
 * @param leaveOutDynamicImports keep the modules that the service's own code (functions/) imports
 *   dynamically (`import()`) out of the file, as code splitting would put them in a chunk of their
 *   own: an information build, never the subject. (The AWS SDK's own dynamic imports, such as its
 *   credential providers, stay in: the first request loads some of them.)
 */
export async function buildBundle(entry: string, outdir: string, source = 'esbuild', leaveOutDynamicImports = false): Promise<LambdaBundle> {
  mkdirSync(outdir, { recursive: true });
  const file = path.join(outdir, 'index.mjs');
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [entry],
    outfile: file,
    ...(leaveOutDynamicImports && {
      plugins: [
        {
          name: 'leave-out-dynamic-imports',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' && /\/functions\//.test(args.importer) ? { path: args.path, external: true } : undefined));
          },
        },
      ],
    }),
  });
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

/** Bytes of the bundle per npm package (or repository folder), from an esbuild metafile of the same entry and options. */
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
