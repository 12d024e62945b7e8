/**
 * What each dependency of a Lambda bundle costs at cold start, from `node --cpu-prof` profiles of
 * the cold-start child (import, then the first request) and the bundle's source map.
 *
 * Method, per sample (100 µs sampling):
 * - the sample's phase comes from its time stamp against the child's own `process.hrtime` marks
 *   (the profile's clock is the same monotonic clock): before the import, the import, the first
 *   request;
 * - its owner is the innermost frame on its stack that lies in the bundle and maps, through the
 *   source map, to a source file: the package of that file (so Node internals and esbuild's
 *   helpers called by a package's code are charged to that package). A function lives inside one
 *   input file in esbuild's output, so mapping its start position is exact;
 * - samples with no such frame are V8 compiling the bundle's text (`compileSourceTextModule`:
 *   parse and compile of the whole file, which no stack can split), Node loading the built-ins the
 *   bundle imports (linked before any bundle code runs), the bundle's own top level (esbuild
 *   hoists ESM module bodies into one scope at 0:0, which the map does not cover), garbage
 *   collection, native code (`(program)`), or Node's start-up and module loader.
 * The compile time is then shared out by each package's bytes in the bundle (esbuild metafile):
 * a proxy, labelled as such, since V8's pre-parse cost grows with the text it reads.
 * Profiled runs are slower than unprofiled ones (the profiler's own cost); the report gives the
 * profiled import time next to each share so that they read as fractions of it.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { round } from './stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** hrtime marks of the child, in µs (the profile's clock). */
export interface PhaseMarks {
  readonly importStartUs: number;
  readonly importEndUs: number;
  readonly requestEndUs: number;
}

export type Phase = 'import' | 'firstRequest';

/** Buckets for time that no package owns. */
export const UNOWNED = {
  compile: 'V8 compiling the bundle text (compileSourceTextModule)',
  builtins: 'Node built-ins the bundle imports (node:http, node:crypto, …, linked before any bundle code runs)',
  topLevel: 'bundle top level (ESM module bodies that esbuild hoists into one scope; not mapped)',
  gc: 'garbage collection',
  program: '(program): native code outside JavaScript',
  node: 'Node start-up and ESM loader',
} as const;

export interface PackageCost {
  readonly name: string;
  /** Bytes of the package in the bundle (esbuild metafile). */
  readonly bytes: number;
  /** Sampled self time of the package's code and what it called, per run (profiled). */
  readonly importMs: number;
  readonly firstRequestMs: number;
  /** The bundle's compile time shared by bytes (a proxy), per run. */
  readonly compileShareMs: number;
}

export interface BundleImportProfile {
  readonly runs: number;
  readonly samplingIntervalUs: number;
  /** Mean of the profiled runs, from the child's marks. */
  readonly profiledImportMs: number;
  readonly profiledFirstRequestMs: number;
  /** Time no package owns, per bucket, per run (import phase). */
  readonly unowned: Record<keyof typeof UNOWNED, number>;
  readonly unownedFirstRequest: Record<keyof typeof UNOWNED, number>;
  /** Every package, largest import cost first. */
  readonly packages: PackageCost[];
  /** The same, rolled up into families (the SDK runtime, each client, Powertools, X-Ray, …). */
  readonly families: PackageCost[];
}

/** The npm package (or repository folder) a bundled source file belongs to. */
export function packageOf(file: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return pkg[1]!;
  // The service's own code: functions/ and the contract it shares with the stack (contract/).
  const own = /(?:^|\/)(functions|contract|bench|local)\/([^/]+)/.exec(file);
  if (own) return own[1] === 'functions' || own[1] === 'contract' ? 'service code (functions/, contract/)' : `${own[1]}/${own[2]}`;
  return file.replace(/^(\.\.\/)+/, '');
}

const DYNAMODB = new Set([
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/util-dynamodb',
  '@aws-sdk/dynamodb-codec',
  '@aws-sdk/middleware-endpoint-discovery',
  '@aws-sdk/endpoint-cache',
  'mnemonist',
  'obliterator',
]);
const XRAY = new Set(['aws-xray-sdk-core', 'cls-hooked', 'async-hook-jl', 'emitter-listener', 'shimmer', 'stack-chain', 'semver', 'atomic-batcher']);

/** A family of packages that come and go together. */
export function familyOf(pkg: string): string {
  if (pkg === '@aws-sdk/client-lambda') return 'Lambda client (@aws-sdk/client-lambda)';
  if (pkg === '@aws-sdk/client-secrets-manager') return 'Secrets Manager client (@aws-sdk/client-secrets-manager)';
  if (pkg === '@aws-sdk/client-sts') return 'STS client (@aws-sdk/client-sts, tenant sessions)';
  if (DYNAMODB.has(pkg)) return 'DynamoDB client (client-dynamodb, lib-dynamodb, util-dynamodb, endpoint cache)';
  if (XRAY.has(pkg)) return 'X-Ray SDK (aws-xray-sdk-core, cls-hooked, semver, …; loaded by Powertools Tracer)';
  if (pkg.startsWith('@aws-lambda-powertools/') || pkg === '@aws/lambda-invoke-store') return 'Powertools (logger, metrics, tracer, commons)';
  if (pkg.startsWith('@smithy/') || pkg.startsWith('@aws-sdk/') || pkg === 'tslib' || pkg === 'fast-xml-parser' || pkg === 'strnum') {
    return 'AWS SDK shared runtime (@smithy/*, @aws-sdk/core, credential providers, nested clients)';
  }
  if (pkg.startsWith('@middy/')) return 'middy';
  return pkg;
}

/**
 * Reads the profiles of `runs` children that imported `bundleFile` and served one request, and
 * attributes their samples. `bytesByPackage` comes from the esbuild metafile of the same entry.
 */
export function attributeImportProfiles(
  profiles: ReadonlyArray<{ file: string; marks: PhaseMarks }>,
  bundleFile: string,
  bytesByPackage: ReadonlyMap<string, number>,
  samplingIntervalUs: number,
): BundleImportProfile {
  const map = new SourceMap(JSON.parse(readFileSync(`${bundleFile}.map`, 'utf8')));
  const bundleUrlEnd = bundleFile.split('/').pop()!;
  const perPackage = new Map<string, Record<Phase, number>>();
  const unowned = { import: emptyUnowned(), firstRequest: emptyUnowned() };
  let importUs = 0;
  let requestUs = 0;
  const mapped = new Map<string, string | undefined>();

  for (const { file, marks } of profiles) {
    importUs += marks.importEndUs - marks.importStartUs;
    requestUs += marks.requestEndUs - marks.importEndUs;
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const ownerCache = new Map<number, Owner>();
    const ownerOf = (id: number): Owner => {
      const cached = ownerCache.get(id);
      if (cached) return cached;
      let owner: Owner | undefined;
      let sawCompile = false;
      let sawBuiltin = false;
      for (let q: number | undefined = id; q !== undefined; q = parent.get(q)) {
        const frame = byId.get(q)!.callFrame;
        if (frame.url.endsWith(bundleUrlEnd) && frame.url.startsWith('file:')) {
          const key = `${frame.lineNumber}:${frame.columnNumber}`;
          if (!mapped.has(key)) {
            const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string };
            mapped.set(key, entry.originalSource);
          }
          const source = mapped.get(key);
          if (source !== undefined) {
            owner = { kind: 'package', name: packageOf(source) };
            break;
          }
          if (frame.lineNumber === 0 && frame.columnNumber === 0) {
            owner = { kind: 'unowned', bucket: 'topLevel' };
            break;
          }
          continue; // an esbuild helper (__esm, __commonJS, …): charge whoever called it
        }
        if (frame.functionName === 'compileSourceTextModule') sawCompile = true;
        if (frame.functionName === 'getESMFacade' || frame.functionName === 'builtinStrategy') sawBuiltin = true;
      }
      if (owner === undefined) {
        const leaf = byId.get(id)!.callFrame.functionName;
        const bucket: keyof typeof UNOWNED =
          leaf === '(garbage collector)' ? 'gc' : leaf === '(program)' ? 'program' : sawCompile ? 'compile' : sawBuiltin ? 'builtins' : 'node';
        owner = { kind: 'unowned', bucket };
      }
      ownerCache.set(id, owner);
      return owner;
    };

    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      const phase: Phase | undefined =
        t >= marks.importStartUs && t < marks.importEndUs ? 'import' : t >= marks.importEndUs && t < marks.requestEndUs ? 'firstRequest' : undefined;
      if (phase === undefined) return;
      if (byId.get(id)!.callFrame.functionName === '(idle)') return;
      const owner = ownerOf(id);
      if (owner.kind === 'package') {
        const entry = perPackage.get(owner.name) ?? { import: 0, firstRequest: 0 };
        entry[phase] += delta;
        perPackage.set(owner.name, entry);
      } else {
        unowned[phase][owner.bucket] += delta;
      }
    });
  }

  const runs = profiles.length;
  const perRunMs = (us: number) => round(us / runs / 1000, 2);
  const totalBytes = [...bytesByPackage.values()].reduce((a, b) => a + b, 0);
  const compileUs = unowned.import.compile;
  const names = new Set([...perPackage.keys(), ...bytesByPackage.keys()]);
  const packages: PackageCost[] = [...names].map((name) => {
    const bytes = bytesByPackage.get(name) ?? 0;
    const time = perPackage.get(name) ?? { import: 0, firstRequest: 0 };
    return {
      name,
      bytes,
      importMs: perRunMs(time.import),
      firstRequestMs: perRunMs(time.firstRequest),
      compileShareMs: perRunMs(totalBytes === 0 ? 0 : (compileUs * bytes) / totalBytes),
    };
  });
  const rollup = new Map<string, { bytes: number; importMs: number; firstRequestMs: number; compileShareMs: number }>();
  for (const p of packages) {
    const family = familyOf(p.name);
    const f = rollup.get(family) ?? { bytes: 0, importMs: 0, firstRequestMs: 0, compileShareMs: 0 };
    f.bytes += p.bytes;
    f.importMs += p.importMs;
    f.firstRequestMs += p.firstRequestMs;
    f.compileShareMs += p.compileShareMs;
    rollup.set(family, f);
  }
  const cost = (p: PackageCost) => p.importMs + p.compileShareMs;
  const families = [...rollup.entries()].map(([name, f]) => ({
    name,
    bytes: f.bytes,
    importMs: round(f.importMs, 2),
    firstRequestMs: round(f.firstRequestMs, 2),
    compileShareMs: round(f.compileShareMs, 2),
  }));
  const toMs = (record: Record<keyof typeof UNOWNED, number>) =>
    Object.fromEntries(Object.entries(record).map(([k, us]) => [k, perRunMs(us)])) as Record<keyof typeof UNOWNED, number>;
  return {
    runs,
    samplingIntervalUs,
    profiledImportMs: perRunMs(importUs),
    profiledFirstRequestMs: perRunMs(requestUs),
    unowned: toMs(unowned.import),
    unownedFirstRequest: toMs(unowned.firstRequest),
    packages: packages.sort((a, b) => cost(b) - cost(a)),
    families: families.sort((a, b) => cost(b) - cost(a)),
  };
}

type Owner = { kind: 'package'; name: string } | { kind: 'unowned'; bucket: keyof typeof UNOWNED };

function emptyUnowned(): Record<keyof typeof UNOWNED, number> {
  return { compile: 0, builtins: 0, topLevel: 0, gc: 0, program: 0, node: 0 };
}
