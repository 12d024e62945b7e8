/**
 * One simulated Lambda container of figure 3 (bench/stampede.ts), in a process of its own: a
 * Lambda execution environment has its own CPU, so the C invocations of one container must not
 * wait on the event loop of the other K − 1 containers. The parent drives it over IPC:
 *
 * - `{ op: 'warm', tenant, leaseCycles, tableHits }`: once, with the simulator answering at once:
 *   refresh `tenant`'s token `leaseCycles` times through its lease, then read it `tableHits` times
 *   through the handler. A container in a stampede has served before, so its code is compiled
 *   (V8's JIT) as in a busy Lambda container, and DynamoDB Local's conditional writes are warmed
 *   (see `warm` in bench/stampede.ts);
 * - `{ op: 'container' }`: build a new container (`createContainer`: new SDK clients, in-flight
 *   maps and polls) and warm it up with a table hit on the warm-up tenant;
 * - `{ op: 'prepare', path, count }`: build `count` API Gateway events and contexts, untimed;
 * - `{ op: 'fire' }`: start every prepared invocation at once and answer with each caller's
 *   latency and the run's timeline (epoch milliseconds with sub-millisecond precision, so that the
 *   parent can line the containers up).
 *
 * env: BENCH_DYNAMODB_ENDPOINT, BENCH_TABLE, BENCH_BASE_URL, BENCH_APP_KEY, BENCH_APP_SECURITY,
 * BENCH_TENANTS (a JSON array of the tenant ids), BENCH_WARMUP_TENANT.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { EkuaibaoClient } from '../../functions/adapters/ekuaibao-client';
import type { UpstreamAuth } from '../../functions/domain/types';
import { StaticCredentials } from '../../functions/adapters/tenant-credentials';
import { createContainer, expectStatus, tokenPath, type Container } from '../support/container';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

export type StampedeContainerRequest =
  | { readonly op: 'warm'; readonly tenant: string; readonly leaseCycles: number; readonly tableHits: number }
  | { readonly op: 'container' }
  | { readonly op: 'prepare'; readonly path: string; readonly count: number }
  | { readonly op: 'fire' };

/** One upstream call this container's Ekuaibao client made, in epoch milliseconds. */
export interface TimedCall {
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface StampedeContainerRun {
  readonly latencies: number[];
  readonly non200: number;
  /** The first invocation was started. */
  readonly fireStartedAt: number;
  /** The synchronous firing loop had started every invocation. */
  readonly fireEndedAt: number;
  readonly firstAnswerAt: number;
  readonly lastAnswerAt: number;
  readonly upstreamCalls: TimedCall[];
}

export type StampedeContainerReply =
  | { readonly op: 'ready' }
  | { readonly op: 'warmed' }
  | { readonly op: 'prepared' }
  | ({ readonly op: 'fired' } & StampedeContainerRun)
  | { readonly op: 'error'; readonly message: string };

const need = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

/** Epoch time with the monotonic clock's precision: comparable across the benchmark's processes. */
const epochNow = () => performance.timeOrigin + performance.now();

const baseUrl = need('BENCH_BASE_URL');
const secret = { appKey: need('BENCH_APP_KEY'), appSecurity: need('BENCH_APP_SECURITY'), baseUrl };
const parsing = { defaultBaseUrl: baseUrl, allowLoopbackHttp: true };
/** Every tenant of the figure has the same secret, as in the parent's seeding container. */
const tenants = JSON.parse(need('BENCH_TENANTS')) as string[];
const credentials = new StaticCredentials(Object.fromEntries(tenants.map((tenant) => [tenant, secret])), parsing);
const calls: TimedCall[] = [];
const upstream = timedUpstream(new EkuaibaoClient(), calls);

let container: Container | undefined;
let prepared: { event: APIGatewayProxyEvent; context: Context }[] = [];

async function handle(request: StampedeContainerRequest): Promise<StampedeContainerReply> {
  switch (request.op) {
    case 'warm': {
      const warming = newContainer();
      const path = tokenPath(request.tenant);
      expectStatus(await warming.get(path), 200, 'seeding the warming tenant');
      for (let i = 0; i < request.leaseCycles; i++) {
        // A horizon past the token's lifetime: the token is always due, so every cycle takes the lease.
        const outcome = await warming.vendor.refresh(request.tenant, 10 * 365 * 24 * 3_600_000);
        if (outcome !== 'refreshed') throw new Error(`warming: refresh ${outcome}`);
      }
      for (let i = 0; i < request.tableHits; i++) expectStatus(await warming.get(path), 200, 'warming');
      return { op: 'warmed' };
    }
    case 'container':
      container = newContainer();
      expectStatus(await container.get(tokenPath(need('BENCH_WARMUP_TENANT'))), 200, 'warm-up');
      return { op: 'ready' };
    case 'prepare': {
      const current = container ?? fail('prepare before container');
      prepared = Array.from({ length: request.count }, () => current.prepare(request.path));
      return { op: 'prepared' };
    }
    case 'fire':
      return { op: 'fired', ...(await fire(container ?? fail('fire before container'))) };
  }
}

function newContainer(): Container {
  return createContainer({
    tableName: need('BENCH_TABLE'),
    dynamoDbEndpoint: need('BENCH_DYNAMODB_ENDPOINT'),
    credentials,
    // The deployed level; this process's standard output goes nowhere (support/container-process.ts).
    logLevel: 'INFO',
    upstream,
  });
}

async function fire(current: Container): Promise<StampedeContainerRun> {
  calls.length = 0;
  let non200 = 0;
  let firstAnswerAt = Number.POSITIVE_INFINITY;
  let lastAnswerAt = 0;
  const fireStartedAt = epochNow();
  const pending = prepared.map(async ({ event, context }) => {
    const started = performance.now();
    const result = await current.handler(event, context);
    const ended = performance.now();
    const endedAt = performance.timeOrigin + ended;
    firstAnswerAt = Math.min(firstAnswerAt, endedAt);
    lastAnswerAt = Math.max(lastAnswerAt, endedAt);
    if (result.statusCode !== 200) non200++;
    return ended - started;
  });
  const fireEndedAt = epochNow();
  prepared = [];
  const latencies = await Promise.all(pending);
  return { latencies, non200, fireStartedAt, fireEndedAt, firstAnswerAt, lastAnswerAt, upstreamCalls: [...calls] };
}

/** The Ekuaibao client the container uses, recording when each getAccessToken was made and answered. */
function timedUpstream(client: UpstreamAuth, into: TimedCall[]): UpstreamAuth {
  return {
    getAccessToken: async (tenantCredentials, signal) => {
      const startedAt = epochNow();
      try {
        return await client.getAccessToken(tenantCredentials, signal);
      } finally {
        into.push({ startedAt, endedAt: epochNow() });
      }
    },
    refreshToken: (tenantCredentials, current, options, signal) => client.refreshToken(tenantCredentials, current, options, signal),
  };
}

function fail(message: string): never {
  throw new Error(message);
}

process.on('message', (request: StampedeContainerRequest) => {
  handle(request).then(
    (reply) => process.send!(reply),
    (error: unknown) => process.send!({ op: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ op: 'ready' });
