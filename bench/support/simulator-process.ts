/**
 * The upstream simulator in a process of its own (`local/simulator/main.ts`, as `npm run
 * simulator` starts it), driven through its control routes over loopback. The real upstream runs
 * on its own servers: in the benchmark's process, the simulator's issue-delay timer and its
 * answer would wait on the event loop that thousands of simulated invocations keep busy, and a
 * stampede would measure a D stretched by the harness (figure 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { SimulatorCounters, SimulatorCredential, SimulatorSettings } from '../../local/simulator/types';
import { REPO_ROOT } from './bundles';

export interface SimulatorProcess {
  readonly baseUrl: string;
  configure(settings: Partial<SimulatorSettings>): Promise<void>;
  reset(): Promise<void>;
  counters(): Promise<SimulatorCounters>;
  close(): Promise<void>;
}

export async function startSimulatorProcess(credentials: readonly SimulatorCredential[]): Promise<SimulatorProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'local/simulator/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      SIMULATOR_HOST: '127.0.0.1',
      SIMULATOR_PORT: '0',
      SIMULATOR_ISSUE_DELAY_MS: '0',
      SIMULATOR_CREDENTIALS: JSON.stringify(credentials),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never outlives the benchmark, whichever way it ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the simulator did not start within 30 s: ${output.slice(-500)}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}): ${output.slice(-500)}`)));
    child.stderr!.on('data', (chunk) => (output += String(chunk)));
    child.stdout!.on('data', (chunk) => {
      output += String(chunk);
      const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    });
  });
  // Its request log (one line per call) is not needed; keep the pipes drained.
  child.stdout!.resume();
  child.stderr!.resume();
  const control = async (route: string, method: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}/__simulator/${route}`, {
      method,
      ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`simulator ${method} ${route}: HTTP ${response.status}`);
    return response.json() as Promise<unknown>;
  };
  return {
    baseUrl,
    configure: async (settings) => void (await control('settings', 'PUT', settings)),
    reset: async () => void (await control('reset', 'POST')),
    counters: async () => (await control('counters', 'GET')) as SimulatorCounters,
    close: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
