/**
 * Figure 1: cache-hit latency through the real handler, next to a bare GetItem on the same item
 * and endpoint, measured interleaved in one loop so that machine noise hits both alike. There is no
 * token cache in memory: every request reads the table (one strongly consistent GetItem), so a hit
 * is a table hit.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { StaticCredentials } from '../functions/adapters/tenant-credentials';
import type { Simulator } from '../local/simulator/simulator';
import { localDynamoDbConfig } from '../local/token-table-setup';
import { createContainer, expectStatus, tokenPath, type Container } from './support/container';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { nowMs, round, roundSummary, summarize, type Summary } from './support/stats';

export interface LatencyOptions {
  readonly iterations: number;
  readonly warmup: number;
}

export interface LatencyResult {
  readonly iterations: number;
  readonly bareGetItemMs: Summary;
  readonly tableHitMs: Summary;
  /** handler table hit p50 ÷ bare GetItem p50 (target ≤ 1.15). */
  readonly tableHitRatioP50: number;
  readonly tableHitRatioP99: number;
}

export const LATENCY_TABLE = 'bench-latency';
export const LATENCY_TENANT = 'latency-tenant';
export const BENCH_CREDENTIAL = {
  appKey: 'bench-app-key',
  appSecurity: 'bench-app-security-not-a-secret',
  corporationId: 'BENCHcorp000',
} as const;

export async function measureLatency(
  engine: DynamoDbLocal,
  simulator: Simulator,
  options: LatencyOptions,
  progress: (line: string) => void,
): Promise<LatencyResult> {
  await engine.createTable(LATENCY_TABLE);
  simulator.configure({ issueDelayMs: 0 });
  const credentials = new StaticCredentials(
    { [LATENCY_TENANT]: { appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl } },
    { defaultBaseUrl: simulator.baseUrl, allowLoopbackHttp: true },
  );
  // Default settings: every request reads the table, i.e. a table hit once the token is there.
  const table = createContainer({ tableName: LATENCY_TABLE, dynamoDbEndpoint: engine.endpoint, credentials });
  const path = tokenPath(LATENCY_TENANT);
  expectStatus(await table.get(path), 200, 'seeding the latency tenant');

  const bare = new DynamoDBClient(localDynamoDbConfig(engine.endpoint));
  const getItem = new GetItemCommand({ TableName: LATENCY_TABLE, Key: { tenantId: { S: LATENCY_TENANT } } });
  try {
    const probe = await bare.send(getItem);
    if (probe.Item?.accessToken?.S === undefined) throw new Error('the bare GetItem found no token item');

    // Each subject prepares its call first (API Gateway and the Lambda runtime build the event and
    // context, not the function) and only the call itself is timed.
    const subjects: Array<{ name: 'bare' | 'table'; prepare: () => () => Promise<void> }> = [
      { name: 'bare', prepare: () => async () => void (await bare.send(getItem)) },
      { name: 'table', prepare: () => viaHandler(table, path) },
    ];
    const samples: Record<'bare' | 'table', number[]> = { bare: [], table: [] };
    const total = options.warmup + options.iterations;
    for (let i = 0; i < total; i++) {
      // Rotate the order every iteration: neither always runs first after a pause.
      for (let j = 0; j < subjects.length; j++) {
        const subject = subjects[(i + j) % subjects.length]!;
        const run = subject.prepare();
        const started = nowMs();
        await run();
        const elapsed = nowMs() - started;
        if (i >= options.warmup) samples[subject.name].push(elapsed);
      }
      if ((i + 1) % 1000 === 0) progress(`  latency: ${i + 1}/${total} iterations`);
    }
    const bareS = summarize(samples.bare);
    const tableS = summarize(samples.table);
    return {
      iterations: options.iterations,
      bareGetItemMs: roundSummary(bareS, 4),
      tableHitMs: roundSummary(tableS, 4),
      tableHitRatioP50: round(tableS.p50 / bareS.p50, 4),
      tableHitRatioP99: round(tableS.p99 / bareS.p99, 4),
    };
  } finally {
    bare.destroy();
  }
}

function viaHandler(container: Container, path: string): () => Promise<void> {
  const { event, context } = container.prepare(path);
  return async () => {
    const result = await container.handler(event, context);
    if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body}`);
  };
}
