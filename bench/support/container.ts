/**
 * One simulated Lambda container: the real handler (`createTokenApi`) around a vendor from
 * `wireVendor`, as functions/token/create-handler.ts builds them, but with the DynamoDB client pointed at
 * the local engine and a credential source of our choosing. Refreshes of refresh-due tokens run in
 * the background of this process (no REFRESHER_FUNCTION_NAME), as in `npm start`. Separate
 * containers are separate `wireVendor` calls: separate in-flight maps, background refreshes and
 * SDK clients.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type { STSClientConfig } from '@aws-sdk/client-sts';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { CredentialSource, UpstreamAuth } from '../../functions/domain/types';
import type { TokenVendor } from '../../functions/domain/token-vendor';
import { createTokenApi } from '../../functions/token/api';
import { loadConfig, type ServiceConfig } from '../../functions/token/config';
import { wireVendor } from '../../functions/token/wiring';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';
import { localDynamoDbConfig } from '../../local/token-table-setup';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

export interface ContainerOptions {
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  /**
   * The tenants' secrets. Left out, the production Secrets Manager adapter reads them with the
   * `secretsManager` client settings (with `TENANT_ROLE_ARN` in `env`: per tenant, through that
   * tenant's session, as in AWS).
   */
  readonly credentials?: CredentialSource;
  /** Secrets Manager client settings when `credentials` is left out (e.g. the stub's endpoint). */
  readonly secretsManager?: SecretsManagerClientConfig;
  /** STS client settings for the tenant sessions (with `TENANT_ROLE_ARN` in `env`; e.g. the STS stub). */
  readonly sts?: STSClientConfig;
  /** Extra environment for `loadConfig`; everything else keeps its default. */
  readonly env?: Record<string, string>;
  /** Default INFO, the deployed level (nothing is logged on a table hit). */
  readonly logLevel?: LogLevel;
  /** Extra DynamoDB client settings (e.g. an endpoint that meters calls). */
  readonly dynamoDb?: Partial<DynamoDBClientConfig>;
  /** Replaces the Ekuaibao client (only to seed a table for a tenant whose base URL is not local). */
  readonly upstream?: UpstreamAuth;
  /**
   * Adds up every metric the service emits (name → sum of values), e.g. `RefreshTriggered`: each
   * one is an asynchronous invocation of the warmer in AWS. Containers may share one map.
   */
  readonly metricCounts?: Map<string, number>;
}

export interface Container {
  readonly vendor: TokenVendor;
  readonly config: ServiceConfig;
  readonly handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  /** Builds the API Gateway event and Lambda context; outside any timed region. */
  prepare(path: string): { event: APIGatewayProxyEvent; context: Context };
  get(path: string): Promise<APIGatewayProxyResult>;
  /** Resolves once the refreshes this container started in the background have ended. */
  refreshesIdle(): Promise<void>;
}

/**
 * Powertools Metrics warns on every invocation that adds no metric (a caller that joined another's
 * in-flight fetch); with EMF output disabled that warning is noise on the console.
 */
const quietMetricsLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (...args: unknown[]) => console.error(...args),
};

/** Lambda's timeout as in local/server.ts: the request budget plus a little. */
const CONTEXT_TIMEOUT_MS = 29_000;

export function tokenPath(tenantId: string): string {
  return `/tenants/${encodeURIComponent(tenantId)}/token`;
}

export function createContainer(options: ContainerOptions): Container {
  const config = loadConfig({ TABLE_NAME: options.tableName, ...options.env });
  // EMF metrics are disabled through POWERTOOLS_METRICS_DISABLED (set by bench/run.ts), as `npm start` does.
  const logger = new Logger({ serviceName: 'ekuaibao-token-vending', logLevel: options.logLevel ?? 'INFO' });
  const metrics = new Metrics({ namespace: 'EkuaibaoTokenVending', serviceName: 'ekuaibao-token-vending', logger: quietMetricsLogger });
  metrics.setThrowOnEmptyMetrics(false);
  if (options.metricCounts) countMetrics(metrics, options.metricCounts);
  // As functions/token/handler.ts with its default TRACE_AWS_CALLS=false: no Powertools Tracer, so
  // the X-Ray SDK is never loaded (functions/token/tracing.ts).
  const { vendor, refreshesIdle } = wireVendor({
    config,
    logger,
    metrics,
    ...(options.credentials && { credentials: options.credentials }),
    ...(options.secretsManager && { secretsManager: options.secretsManager }),
    ...(options.sts && { sts: options.sts }),
    dynamoDb: { ...localDynamoDbConfig(options.dynamoDbEndpoint), ...options.dynamoDb },
    ...(options.upstream && { upstream: options.upstream }),
  });
  if (refreshesIdle === undefined) throw new Error('bench containers run their refreshes in the background');
  const handler = createTokenApi({
    vendor,
    logger,
    metrics,
  }) as unknown as Container['handler'];
  const prepare = (path: string) => ({
    event: toApiGatewayEvent('GET', path, { accept: 'application/json' }, ''),
    context: localLambdaContext(CONTEXT_TIMEOUT_MS),
  });
  return {
    vendor,
    config,
    handler,
    prepare,
    get(path) {
      const { event, context } = prepare(path);
      return handler(event, context);
    },
    refreshesIdle,
  };
}

/** Counts what goes through `metrics.addMetric` into `counts`, then lets Powertools have it. */
export function countMetrics(metrics: Metrics, counts: Map<string, number>): void {
  const addMetric = metrics.addMetric.bind(metrics);
  metrics.addMetric = (name, unit, value, resolution) => {
    counts.set(name, (counts.get(name) ?? 0) + value);
    return addMetric(name, unit, value, resolution);
  };
}

/** Throws with the body when a response is not the expected status: a benchmark of errors is worthless. */
export function expectStatus(result: APIGatewayProxyResult, status: number, what: string): void {
  if (result.statusCode !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${result.statusCode}: ${result.body}`);
  }
}
