/**
 * A simulated Lambda container in a child process (bench/children/stampede-container.ts), driven
 * over IPC one request at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type {
  StampedeContainerReply,
  StampedeContainerRequest,
  StampedeContainerRun,
} from '../children/stampede-container';
import { REPO_ROOT } from './bundles';
import { lambdaRuntimeNodeFlags } from './lambda-node-flags';

export interface ContainerProcessOptions {
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  readonly baseUrl: string;
  readonly credential: { readonly appKey: string; readonly appSecurity: string };
  readonly tenants: readonly string[];
  readonly warmupTenant: string;
  /** The function's memory size, for the runtime's heap flags. */
  readonly memoryMb: number;
}

export class ContainerProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly replies: AsyncIterator<StampedeContainerReply>,
  ) {}

  static async start(options: ContainerProcessOptions): Promise<ContainerProcess> {
    const child = fork(path.join(REPO_ROOT, 'bench/children/stampede-container.ts'), [], {
      cwd: REPO_ROOT,
      // As Lambda's runtime starts the function's process (support/lambda-node-flags.ts).
      execArgv: ['--import', 'tsx', ...lambdaRuntimeNodeFlags(options.memoryMb)],
      env: {
        ...process.env,
        BENCH_TABLE: options.tableName,
        BENCH_DYNAMODB_ENDPOINT: options.dynamoDbEndpoint,
        BENCH_BASE_URL: options.baseUrl,
        BENCH_APP_KEY: options.credential.appKey,
        BENCH_APP_SECURITY: options.credential.appSecurity,
        BENCH_TENANTS: JSON.stringify(options.tenants),
        BENCH_WARMUP_TENANT: options.warmupTenant,
      },
      // The function's log lines are written, as in Lambda, but not kept; errors come back over IPC.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    // Never outlives the benchmark, whichever way it ends.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    const container = new ContainerProcess(child, replies(child));
    await container.expect('ready');
    return container;
  }

  /** Once, with the simulator answering at once: see `warm` in bench/children/stampede-container.ts. */
  async warm(tenant: string, leaseCycles: number, tableHits: number): Promise<void> {
    this.send({ op: 'warm', tenant, leaseCycles, tableHits });
    await this.expect('warmed');
  }

  /** A new container in this process (new SDK clients and in-flight state), warmed up by one table hit. */
  async newContainer(): Promise<void> {
    this.send({ op: 'container' });
    await this.expect('ready');
  }

  async prepare(requestPath: string, count: number): Promise<void> {
    this.send({ op: 'prepare', path: requestPath, count });
    await this.expect('prepared');
  }

  /** Sends the order to fire; the result comes from `fired()`, so that every container is told first. */
  fire(): void {
    this.send({ op: 'fire' });
  }

  async fired(): Promise<StampedeContainerRun> {
    const { op: _op, ...run } = await this.expect('fired');
    return run;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }

  private send(request: StampedeContainerRequest): void {
    this.child.send(request);
  }

  private async expect<Op extends StampedeContainerReply['op']>(op: Op): Promise<Extract<StampedeContainerReply, { op: Op }>> {
    const { value, done } = await this.replies.next();
    if (done) throw new Error(`a stampede container exited before answering ${op}`);
    if (value.op === 'error') throw new Error(`a stampede container: ${value.message}`);
    if (value.op !== op) throw new Error(`a stampede container answered ${value.op}, expected ${op}`);
    return value as Extract<StampedeContainerReply, { op: Op }>;
  }
}

/** The child's messages in order, listened to from the start; `next` ends when it has exited. */
function replies(child: ChildProcess): AsyncIterator<StampedeContainerReply> {
  const queue: StampedeContainerReply[] = [];
  let wake: (() => void) | undefined;
  let exited = false;
  child.on('message', (message: StampedeContainerReply) => {
    queue.push(message);
    wake?.();
  });
  child.once('exit', () => {
    exited = true;
    wake?.();
  });
  return {
    async next() {
      for (;;) {
        const value = queue.shift();
        if (value !== undefined) return { value, done: false };
        if (exited) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}
