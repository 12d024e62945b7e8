/** Reads a V8 `.cpuprofile` (from `node --cpu-prof`) into self time per function and per module. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { round } from './stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  /** Sampled time excluding idle. */
  readonly busyMs: number;
  readonly topFunctions: ProfileEntry[];
  readonly byModule: ProfileEntry[];
  /** Self time of known cost centres (see FINDINGS). */
  readonly findings: ProfileEntry[];
}

/** Cost centres worth naming, recognised by function name and file. */
const FINDINGS: ReadonlyArray<{ name: string; match: (functionName: string, url: string) => boolean }> = [
  {
    name: 'async_hooks with destroy tracking on every promise (cls-hooked, which aws-xray-sdk-core enables when Powertools Tracer is imported)',
    match: (fn, url) =>
      url.includes('/cls-hooked/') ||
      url === 'node:internal/async_hooks' ||
      ['registerDestroyHook', 'destroyTracking', 'promiseInitHookWithDestroyTracking'].includes(fn),
  },
  {
    name: 'Powertools reading process.env on every scoped-store access (getStringFromEnv / shouldUseInvokeStore)',
    match: (fn, url) => url.includes('@aws-lambda-powertools/commons/') && ['getStringFromEnv', 'shouldUseInvokeStore'].includes(fn),
  },
  {
    name: 'Powertools logger, metrics and tracer middleware and stores',
    match: (fn, url) => url.includes('@aws-lambda-powertools/') && !['getStringFromEnv', 'shouldUseInvokeStore'].includes(fn),
  },
  { name: 'middy', match: (_fn, url) => url.includes('/@middy/') },
  { name: 'API Gateway event and Lambda context building (local/api-gateway-event.ts)', match: (_fn, url) => url.includes('local/api-gateway-event') },
  { name: 'the service\'s own code (functions/)', match: (_fn, url) => url.includes('/functions/') && !url.includes('node_modules') },
  { name: 'socket writes (writev)', match: (fn, url) => url === '' && fn === 'writev' },
  { name: 'garbage collection', match: (fn) => fn === '(garbage collector)' },
];

export function summarizeProfile(file: string, repoRoot: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  const findings = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === '(idle)') continue;
    busyUs += us;
    const where = location(frame.url, repoRoot);
    const fn = `${frame.functionName || '(anonymous)'}${where ? ` ${where}:${frame.lineNumber + 1}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const module = moduleOf(frame.url, frame.functionName, repoRoot);
    modules.set(module, (modules.get(module) ?? 0) + us);
    const finding = FINDINGS.find((f) => f.match(frame.functionName, frame.url));
    if (finding) findings.set(finding.name, (findings.get(finding.name) ?? 0) + us);
  }
  const entries = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: round(us / 1000, 1), percent: round((100 * us) / busyUs, 1) }));
  return {
    file: path.relative(repoRoot, file),
    busyMs: round(busyUs / 1000, 1),
    topFunctions: entries(functions),
    byModule: entries(modules),
    findings: entries(findings),
  };
}

function location(url: string, repoRoot: string): string {
  if (url === '') return '';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) return file.slice(nm + '/node_modules/'.length);
  return file.startsWith(repoRoot) ? path.relative(repoRoot, file) : file;
}

/** A package name, a repository folder (functions/token, local, …), node internals, or a V8 bucket. */
function moduleOf(url: string, functionName: string, repoRoot: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (file.startsWith(repoRoot)) return path.dirname(path.relative(repoRoot, file));
  return file;
}
