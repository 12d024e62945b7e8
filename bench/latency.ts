/**
 * Figure 2: a warm invocation on a table hit. In one process, interleaved: the real handler
 * (`createTokenApi` + `wireVendor`, support/container.ts, with the production Secrets Manager
 * adapter pointed at the local stub) and the hand-written competitor (bench/baseline/hand-written.ts,
 * imported from its source: the same AWS SDK version), on the same item of the same DynamoDB Local
 * table, the secret from the same stub. A bare `GetItem` of that item runs in the same loop as
 * information. Each side runs blocks of a few calls; the order of the sides rotates every block, so
 * noise hits all alike, and `process.cpuUsage()` around each block gives the CPU time each side
 * spends per call (DynamoDB Local is another process, so its work is not counted).
 *
 * Also as information, in the same rotation: the real handler of a container wired with
 * `TENANT_ROLE_ARN` (tenant sessions, issue 14; STS answered by support/sts-stub.ts), its own
 * tenant's secret and item read through that tenant's session. Its session is assumed on its first
 * request (outside the timed blocks); the timed calls must make no AssumeRole at all.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { EkuaibaoClient } from '../functions/adapters/ekuaibao-client';
import { SecretsManagerCredentials } from '../functions/adapters/tenant-credentials';
import type { UpstreamAuth } from '../functions/domain/types';
import type { Simulator } from '../local/simulator/simulator';
import { localDynamoDbConfig } from '../local/token-table-setup';
import { createContainer, expectStatus, tokenPath } from './support/container';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { startSecretsStub } from './support/secrets-stub';
import { startStsStub } from './support/sts-stub';
import { nowMs, round, roundSummary, summarize, type Summary } from './support/stats';

export interface LatencyOptions {
  readonly iterations: number;
  readonly warmup: number;
}

export interface LatencyResult {
  readonly iterations: number;
  readonly blockSize: number;
  readonly tableHitMs: Summary;
  readonly handWrittenMs: Summary;
  readonly bareGetItemMs: Summary;
  /** Real handler p50 ÷ hand-written p50 (target ≤ 1.10). */
  readonly ratioP50: number;
  readonly ratioP99: number;
  /** CPU time (user + system) of this process per call, µs. */
  readonly cpuUsPerCall: { readonly tableHit: number; readonly handWritten: number; readonly bareGetItem: number };
  readonly cpuRatio: number;
  /** Cost of one `await` in this process before and after both handlers were built (ns): a jump means async hooks. */
  readonly awaitNs: { readonly before: number; readonly after: number };
  readonly asyncHooksSuspected: boolean;
  /**
   * Information: the real handler with tenant sessions (`TENANT_ROLE_ARN`, STS stub), its session
   * already cached, in the same rotation. Not a target.
   */
  readonly tenantSession?: {
    readonly tableHitMs: Summary;
    readonly cpuUsPerCall: number;
    /** p50 with sessions ÷ p50 of the real handler without them. */
    readonly ratioP50ToTableHit: number;
    /** AssumeRole calls during the timed blocks (must be 0: the session is cached). */
    readonly assumeRolesDuringBlocks: number;
  };
}

export const LATENCY_TABLE = 'bench-latency';
/** The profile child's tenant (bench/children/hot-path.ts; credentials from a fixed map). */
export const LATENCY_TENANT = 'latency-tenant';
/** Figure 2's tenant: its secret is in the stub, read by both handlers. */
export const WARM_TENANT = 'warm-tenant';
/** The tenant of the container with tenant sessions (information): its own secret and item. */
export const WARM_SESSION_TENANT = 'warm-session-tenant';
/** A fake tenant access role for the runs with tenant sessions (the STS stub accepts any). */
export const BENCH_TENANT_ROLE_ARN = 'arn:aws:iam::111122223333:role/bench-tenant-access';
export const BENCH_CREDENTIAL = {
  appKey: 'bench-app-key',
  appSecurity: 'bench-app-security-not-a-secret',
  corporationId: 'BENCHcorp000',
} as const;
const SECRET_PREFIX = 'ekuaibao/tenants/';
const BLOCK = 20;

type Side = 'tableHit' | 'handWritten' | 'bareGetItem' | 'tableHitSession';

/**
 * The Ekuaibao client with every call sent to the simulator, whatever base URL the tenant's
 * credentials name: for containers that read their secrets with the production parser (https
 * only), so that the tenant keeps the production base URL and nothing leaves the machine.
 */
export function upstreamVia(simulator: Simulator): UpstreamAuth {
  const client = new EkuaibaoClient();
  const local = <T extends { baseUrl: string }>(c: T): T => ({ ...c, baseUrl: simulator.baseUrl });
  return {
    getAccessToken: (credentials, signal) => client.getAccessToken(local(credentials), signal),
    refreshToken: (credentials, current, options, signal) => client.refreshToken(local(credentials), current, options, signal),
  };
}

export async function measureLatency(
  engine: DynamoDbLocal,
  simulator: Simulator,
  options: LatencyOptions,
  progress: (line: string) => void,
): Promise<LatencyResult> {
  await engine.createTable(LATENCY_TABLE);
  simulator.configure({ issueDelayMs: 0 });
  const awaitBefore = await awaitCostNs();
  // No baseUrl: both read the same secret; the service's tenants then use the default base URL,
  // which is the simulator here (loopback http is allowed in this process only).
  const secret = JSON.stringify({ appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity });
  const stub = await startSecretsStub(
    new Map([
      [`${SECRET_PREFIX}${WARM_TENANT}`, secret],
      [`${SECRET_PREFIX}${WARM_SESSION_TENANT}`, secret],
    ]),
  );
  const sts = await startStsStub();
  const restoreEnv = setEnv({
    // For the hand-written module, which builds its clients at import with default configuration.
    TABLE_NAME: LATENCY_TABLE,
    TENANT_SECRET_PREFIX: SECRET_PREFIX,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: engine.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: stub.endpoint,
  });
  const bare = new DynamoDBClient(localDynamoDbConfig(engine.endpoint));
  try {
    const container = createContainer({
      tableName: LATENCY_TABLE,
      dynamoDbEndpoint: engine.endpoint,
      credentials: new SecretsManagerCredentials({
        secretPrefix: SECRET_PREFIX,
        maxAgeSeconds: 300,
        defaultBaseUrl: simulator.baseUrl,
        allowLoopbackHttp: true,
        client: new SecretsManagerClient({ endpoint: stub.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
      }),
    });
    const path = tokenPath(WARM_TENANT);
    const seeded = await container.get(path);
    expectStatus(seeded, 200, 'seeding the warm tenant');
    // Tenant sessions: the production adapters throughout (the secret parsed as in AWS, so the
    // tenant keeps the production base URL; upstream calls still go to the simulator).
    const fakeKeys = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const sessionContainer = createContainer({
      tableName: LATENCY_TABLE,
      dynamoDbEndpoint: engine.endpoint,
      env: { TENANT_ROLE_ARN: BENCH_TENANT_ROLE_ARN, TENANT_SECRET_PREFIX: SECRET_PREFIX },
      secretsManager: { ...fakeKeys, endpoint: stub.endpoint },
      sts: { ...fakeKeys, endpoint: sts.endpoint },
      upstream: upstreamVia(simulator),
    });
    const sessionPath = tokenPath(WARM_SESSION_TENANT);
    expectStatus(await sessionContainer.get(sessionPath), 200, 'seeding the tenant-session tenant');
    expectStatus(await sessionContainer.get(sessionPath), 200, 'a table hit with a tenant session');
    if (sts.calls.length !== 1 || sts.calls[0]!.tags.tenantId !== WARM_SESSION_TENANT) {
      throw new Error(`tenant sessions: ${sts.calls.length} AssumeRole calls for two requests (${JSON.stringify(sts.calls.map((c) => c.tags))}), expected 1 tagged ${WARM_SESSION_TENANT}`);
    }
    const assumedBeforeBlocks = sts.calls.length;
    const handWritten = (await import('./baseline/hand-written')).handler as (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
    const first = await handWritten(container.prepare(path).event);
    expectStatus(first, 200, 'the hand-written handler on the warm tenant');
    if ((JSON.parse(first.body) as { accessToken: string }).accessToken !== (JSON.parse(seeded.body) as { accessToken: string }).accessToken) {
      throw new Error('the hand-written handler and the service answered different tokens');
    }
    const getItem = new GetItemCommand({ TableName: LATENCY_TABLE, Key: { tenantId: { S: WARM_TENANT } }, ConsistentRead: true });
    if ((await bare.send(getItem)).Item?.accessToken?.S === undefined) throw new Error('the bare GetItem found no token item');
    const awaitAfter = await awaitCostNs();

    // Each call is prepared first (API Gateway and the Lambda runtime build the event and context,
    // not the function); only the call itself is timed, and CPU is counted around the block.
    const sides: Record<Side, () => () => Promise<void>> = {
      tableHit: () => {
        const { event, context } = container.prepare(path);
        return async () => {
          const result = await container.handler(event, context);
          if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body}`);
        };
      },
      handWritten: () => {
        const { event } = container.prepare(path);
        return async () => {
          const result = await handWritten(event);
          if (result.statusCode !== 200) throw new Error(`hand-written answered ${result.statusCode}: ${result.body}`);
        };
      },
      bareGetItem: () => async () => void (await bare.send(getItem)),
      tableHitSession: () => {
        const { event, context } = sessionContainer.prepare(sessionPath);
        return async () => {
          const result = await sessionContainer.handler(event, context);
          if (result.statusCode !== 200) throw new Error(`handler with tenant sessions answered ${result.statusCode}: ${result.body}`);
        };
      },
    };
    const order: Side[] = ['tableHit', 'handWritten', 'bareGetItem', 'tableHitSession'];
    const samples: Record<Side, number[]> = { tableHit: [], handWritten: [], bareGetItem: [], tableHitSession: [] };
    const cpuUs: Record<Side, number> = { tableHit: 0, handWritten: 0, bareGetItem: 0, tableHitSession: 0 };
    const blocks = Math.ceil((options.warmup + options.iterations) / BLOCK);
    const warmupBlocks = Math.ceil(options.warmup / BLOCK);
    for (let b = 0; b < blocks; b++) {
      for (let j = 0; j < order.length; j++) {
        const side = order[(b + j) % order.length]!;
        const calls = Array.from({ length: BLOCK }, sides[side]);
        const times: number[] = [];
        const cpu = process.cpuUsage();
        for (const call of calls) {
          const started = nowMs();
          await call();
          times.push(nowMs() - started);
        }
        const used = process.cpuUsage(cpu);
        if (b >= warmupBlocks) {
          samples[side].push(...times);
          cpuUs[side] += used.user + used.system;
        }
      }
      if (((b + 1) * BLOCK) % 1000 === 0) progress(`  warm: ${(b + 1) * BLOCK}/${blocks * BLOCK} iterations per side`);
    }
    const assumeRolesDuringBlocks = sts.calls.length - assumedBeforeBlocks;
    if (assumeRolesDuringBlocks !== 0) throw new Error(`tenant sessions: ${assumeRolesDuringBlocks} AssumeRole calls during the timed blocks, expected 0 (the session is cached)`);
    const s = {
      tableHit: summarize(samples.tableHit),
      handWritten: summarize(samples.handWritten),
      bareGetItem: summarize(samples.bareGetItem),
      tableHitSession: summarize(samples.tableHitSession),
    };
    const perCall = (side: Side) => round(cpuUs[side] / samples[side].length, 1);
    const cpu = { tableHit: perCall('tableHit'), handWritten: perCall('handWritten'), bareGetItem: perCall('bareGetItem') };
    return {
      iterations: samples.tableHit.length,
      blockSize: BLOCK,
      tableHitMs: roundSummary(s.tableHit, 4),
      handWrittenMs: roundSummary(s.handWritten, 4),
      bareGetItemMs: roundSummary(s.bareGetItem, 4),
      ratioP50: round(s.tableHit.p50 / s.handWritten.p50, 4),
      ratioP99: round(s.tableHit.p99 / s.handWritten.p99, 4),
      cpuUsPerCall: cpu,
      cpuRatio: round(cpu.tableHit / cpu.handWritten, 3),
      awaitNs: { before: awaitBefore, after: awaitAfter },
      asyncHooksSuspected: awaitAfter > 3 * awaitBefore,
      tenantSession: {
        tableHitMs: roundSummary(s.tableHitSession, 4),
        cpuUsPerCall: perCall('tableHitSession'),
        ratioP50ToTableHit: round(s.tableHitSession.p50 / s.tableHit.p50, 4),
        assumeRolesDuringBlocks,
      },
    };
  } finally {
    bare.destroy();
    restoreEnv();
    await stub.close();
    await sts.close();
  }
}

/** Sets environment variables and returns a function that puts the old values back. */
function setEnv(values: Record<string, string>): () => void {
  const old = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  return () => {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * Nanoseconds per `await` of a resolved promise, best of three. An async hook installed anywhere in
 * the process (the X-Ray SDK's cls-hooked, for one) makes every await of every handler here several
 * times dearer, the baseline's included; then the figure would flatter whoever installed it.
 */
async function awaitCostNs(): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const n = 100_000;
    const started = nowMs();
    for (let i = 0; i < n; i++) await Promise.resolve(i);
    best = Math.min(best, ((nowMs() - started) * 1e6) / n);
  }
  return round(best, 1);
}
