/**
 * Figure 5: cost per million requests, from the counters of a simulated run: R requests spread
 * evenly over T simulated minutes, sent round-robin to N containers for tenants picked at random,
 * with the warmer running on its schedule. The real handler, vendor, DynamoDB adapter and Secrets
 * Manager adapter (its own per-tenant cache over the real SDK client) do the work; DynamoDB Local
 * is metered by a proxy that asks it for consumed capacity, Secrets Manager is a local stub that
 * counts GetSecretValue, and the upstream simulator counts token calls. Every request reads the
 * table; a caller served a refresh-due token starts a refresh, which here runs in the background of
 * its container (in AWS: an asynchronous invocation of the warmer) and ends before simulated time
 * moves on.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsManagerCredentials } from '../functions/adapters/tenant-credentials';
import { loadConfig } from '../functions/token/config';
import { createVendor } from '../functions/token/wiring';
import { startSimulator } from '../local/simulator/simulator';
import { localDynamoDbConfig } from '../local/token-table-setup';
import { createContainer, tokenPath } from './support/container';
import { startDynamoDbMeter, isReadOperation } from './support/dynamodb-meter';
import type { DynamoDbLocal } from '../local/dynamodb-local';
import { startSecretsStub } from './support/secrets-stub';
import { installSimulatedTime, seededRandom } from './support/simulated-time';
import { BENCH_CREDENTIAL } from './latency';
import { round } from './support/stats';

/**
 * AWS's published on-demand prices, us-east-1 (N. Virginia), as listed on
 * aws.amazon.com/{dynamodb,secrets-manager,lambda,api-gateway}/pricing in 2025. DynamoDB's are the
 * on-demand rates in force since the price cut of 1 November 2024; the others had not changed for
 * years. The benchmark cannot reach AWS and does not re-check them: do so before quoting dollars.
 */
export const PRICES = {
  region: 'us-east-1',
  recorded: '2025 (DynamoDB on-demand rates in force since 2024-11-01)',
  dynamoDbPerMillionReadRequestUnits: 0.125,
  dynamoDbPerMillionWriteRequestUnits: 0.625,
  secretsManagerPer10kApiCalls: 0.05,
  secretsManagerPerSecretMonth: 0.4,
  lambdaPerMillionRequests: 0.2,
  lambdaArmPerGbSecond: 0.0000133334,
  apiGatewayRestPerMillionRequests: 3.5,
} as const;

export interface CostScenario {
  readonly name: string;
  readonly requests: number;
  readonly containers: number;
  readonly tenants: number;
  readonly minutes: number;
}

export interface CostRow {
  readonly scenario: CostScenario;
  readonly requestsPerSecond: number;
  readonly non200: number;
  readonly warmerRuns: number;
  readonly counts: {
    readonly dynamoDbReads: number;
    readonly dynamoDbConsistentReads: number;
    readonly dynamoDbWrites: number;
    readonly dynamoDbFailedConditionalWrites: number;
    readonly readRequestUnits: number;
    readonly writeRequestUnits: number;
    readonly secretsManagerCalls: number;
    readonly upstreamCalls: number;
    readonly upstreamGetAccessToken: number;
    readonly upstreamRefreshToken: number;
  };
  readonly perMillionRequests: {
    readonly dynamoDbReads: number;
    readonly dynamoDbWrites: number;
    readonly readRequestUnits: number;
    readonly writeRequestUnits: number;
    readonly secretsManagerCalls: number;
    readonly upstreamCalls: number;
    readonly dollars: {
      readonly dynamoDb: number;
      readonly secretsManager: number;
      /** DynamoDB + Secrets Manager: what the caching design decides. */
      readonly dataServices: number;
      readonly lambdaRequests: number;
      readonly apiGateway: number;
      /** Everything above; Lambda duration is not included (see lambdaPerBilledMs). */
      readonly total: number;
      /** Lambda duration per million requests for each billed ms at 512 MB arm64. */
      readonly lambdaPerBilledMs: number;
    };
  };
}

export interface CostResult {
  readonly prices: typeof PRICES;
  readonly memoryMb: number;
  readonly rows: CostRow[];
}

const SECRET_PREFIX = 'ekuaibao/tenants/';
const WARMER_INTERVAL_MINUTES = 5;
const LAMBDA_MEMORY_MB = 512;

export async function measureCost(
  engine: DynamoDbLocal,
  scenarios: readonly CostScenario[],
  progress: (line: string) => void,
): Promise<CostResult> {
  const rows: CostRow[] = [];
  for (const scenario of scenarios) {
    rows.push(await runScenario(engine, scenario));
    const row = rows.at(-1)!;
    progress(
      `  cost "${scenario.name}": ${scenario.requests} requests / ${scenario.containers} containers / ${scenario.minutes} min → ` +
        `${row.counts.dynamoDbReads} reads, ${row.counts.dynamoDbWrites} writes, ${row.counts.secretsManagerCalls} secret reads, ` +
        `${row.counts.upstreamCalls} upstream calls; $${row.perMillionRequests.dollars.dataServices.toFixed(3)} per million in DynamoDB + Secrets Manager`,
    );
  }
  return { prices: PRICES, memoryMb: LAMBDA_MEMORY_MB, rows };
}

async function runScenario(engine: DynamoDbLocal, scenario: CostScenario): Promise<CostRow> {
  const tableName = `bench-cost-${scenario.name}`;
  await engine.createTable(tableName);
  const meter = await startDynamoDbMeter(engine.endpoint);
  const tenants = Array.from({ length: scenario.tenants }, (_, i) => `cost-${scenario.name}-${i}`);
  // The simulator reads the (simulated) clock on every call, so its tokens expire in simulated time.
  const simulator = await startSimulator({ issueDelayMs: 0, credentials: [BENCH_CREDENTIAL], now: () => Date.now() });
  const secret = JSON.stringify({ appKey: BENCH_CREDENTIAL.appKey, appSecurity: BENCH_CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl });
  const secrets = await startSecretsStub(new Map(tenants.map((t) => [`${SECRET_PREFIX}${t}`, secret])));
  const time = installSimulatedTime(Date.now());
  try {
    const start = time.now();
    const credentialsFor = () => {
      const config = loadConfig({ TABLE_NAME: tableName });
      return new SecretsManagerCredentials({
        secretPrefix: SECRET_PREFIX,
        maxAgeSeconds: config.secretMaxAgeSeconds,
        defaultBaseUrl: config.defaultBaseUrl,
        // The secrets point at the simulator on loopback http, which only local mode accepts.
        allowLoopbackHttp: true,
        client: new SecretsManagerClient({
          endpoint: secrets.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }),
      });
    };
    const containers = Array.from({ length: scenario.containers }, () =>
      createContainer({ tableName, dynamoDbEndpoint: meter.endpoint, credentials: credentialsFor(), logLevel: 'WARN' }),
    );
    // The warmer: its own container, as the scheduled function has; like functions/warmer/handler.ts
    // it never asks for refreshes, it is where they run.
    const warmerConfig = loadConfig({ TABLE_NAME: tableName });
    const warmer = createVendor({
      config: warmerConfig,
      logger: new Logger({ logLevel: 'WARN' }),
      metrics: new Metrics({ namespace: 'EkuaibaoTokenVending' }),
      credentials: credentialsFor(),
      dynamoDb: localDynamoDbConfig(meter.endpoint),
      refresher: { requestRefresh: async () => {} },
    });
    const random = seededRandom(20_251_125 + scenario.requests);
    const durationMs = scenario.minutes * 60_000;
    const stepMs = durationMs / scenario.requests;
    let nextWarm = start + WARMER_INTERVAL_MINUTES * 60_000;
    let warmerRuns = 0;
    let non200 = 0;
    for (let i = 0; i < scenario.requests; i++) {
      const at = start + Math.round(i * stepMs);
      while (nextWarm <= at) {
        time.set(nextWarm);
        await warmer.warmAll(warmerConfig.warmHorizonMs);
        warmerRuns++;
        nextWarm += WARMER_INTERVAL_MINUTES * 60_000;
      }
      time.set(at);
      const container = containers[i % containers.length]!;
      const tenant = tenants[Math.floor(random() * tenants.length)]!;
      const result = await container.get(tokenPath(tenant));
      if (result.statusCode !== 200) non200++;
      await container.refreshesIdle();
    }

    const meters = meter.snapshot();
    const sum = (pick: (op: string) => boolean, field: 'calls' | 'capacityUnits' | 'consistentReads' | 'failedConditions') =>
      Object.entries(meters)
        .filter(([op]) => pick(op))
        .reduce((total, [, m]) => total + m[field], 0);
    const isWrite = (op: string) => ['UpdateItem', 'PutItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'].includes(op);
    const counters = simulator.counters();
    const counts = {
      dynamoDbReads: sum(isReadOperation, 'calls'),
      dynamoDbConsistentReads: sum(isReadOperation, 'consistentReads'),
      dynamoDbWrites: sum(isWrite, 'calls'),
      dynamoDbFailedConditionalWrites: sum(isWrite, 'failedConditions'),
      readRequestUnits: sum(isReadOperation, 'capacityUnits'),
      writeRequestUnits: sum(isWrite, 'capacityUnits'),
      secretsManagerCalls: secrets.calls(),
      upstreamCalls: counters.getAccessToken + counters.refreshToken,
      upstreamGetAccessToken: counters.getAccessToken,
      upstreamRefreshToken: counters.refreshToken,
    };
    const perMillion = 1_000_000 / scenario.requests;
    const dynamoDb =
      (counts.readRequestUnits * PRICES.dynamoDbPerMillionReadRequestUnits + counts.writeRequestUnits * PRICES.dynamoDbPerMillionWriteRequestUnits) / 1e6;
    const secretsManager = (counts.secretsManagerCalls * PRICES.secretsManagerPer10kApiCalls) / 10_000;
    const lambdaRequests = PRICES.lambdaPerMillionRequests;
    const apiGateway = PRICES.apiGatewayRestPerMillionRequests;
    const data = (dynamoDb + secretsManager) * perMillion;
    return {
      scenario,
      requestsPerSecond: round(scenario.requests / (durationMs / 1000), 3),
      non200,
      warmerRuns,
      counts,
      perMillionRequests: {
        dynamoDbReads: round(counts.dynamoDbReads * perMillion, 1),
        dynamoDbWrites: round(counts.dynamoDbWrites * perMillion, 1),
        readRequestUnits: round(counts.readRequestUnits * perMillion, 1),
        writeRequestUnits: round(counts.writeRequestUnits * perMillion, 1),
        secretsManagerCalls: round(counts.secretsManagerCalls * perMillion, 1),
        upstreamCalls: round(counts.upstreamCalls * perMillion, 1),
        dollars: {
          dynamoDb: round(dynamoDb * perMillion, 5),
          secretsManager: round(secretsManager * perMillion, 5),
          dataServices: round(data, 5),
          lambdaRequests,
          apiGateway,
          total: round(data + lambdaRequests + apiGateway, 4),
          lambdaPerBilledMs: round((LAMBDA_MEMORY_MB / 1024) * 0.001 * PRICES.lambdaArmPerGbSecond * 1e6, 5),
        },
      },
    };
  } finally {
    time.restore();
    await secrets.close();
    await simulator.close();
    await meter.close();
  }
}
