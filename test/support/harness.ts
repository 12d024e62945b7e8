/**
 * One "Lambda container" for tests: the real handler, vendor and DynamoDB adapter against DynamoDB
 * Local, the real Secrets Manager adapter over a mocked SDK client (no local engine exists for it),
 * and the upstream simulator over HTTP.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsManagerCredentials } from '../../functions/adapters/tenant-credentials';
import type { Clock, UpstreamAuth } from '../../functions/domain/types';
import { createTokenApi } from '../../functions/token/api';
import { loadConfig } from '../../functions/token/config';
import { wireVendor } from '../../functions/token/wiring';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';

export const SECRET_PREFIX = 'ekuaibao/tenants/';
/**
 * The `CreatedDate` every secret version has unless a test gives it another: fixed, so that tokens
 * carry a non-zero credential rank (`TenantCredentials.rank`) and ranks are compared for real.
 */
export const SECRET_CREATED_DATE = new Date(Date.UTC(2026, 0, 1));

/** A tenant's secret: an object is stored as JSON, a string as is, an Error is thrown by the SDK. */
export type SecretValue = Record<string, unknown> | string | Error;

export interface HarnessOptions {
  readonly tableName: string;
  readonly secrets: Map<string, SecretValue>;
  /** Per tenant: the `CreatedDate` of the secret's current version; default SECRET_CREATED_DATE. */
  readonly createdDates?: Map<string, Date>;
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly upstream?: UpstreamAuth;
  /** Log everything and print EMF metrics, for tests that read the output. Default: silent. */
  readonly verbose?: boolean;
}

export interface Invocation {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly json: any;
}

export function dynamoDbLocalEndpoint(): string {
  const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (!endpoint) throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest (global setup)');
  return endpoint;
}

export function uniqueTableName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function createHarness(options: HarnessOptions) {
  const endpoint = dynamoDbLocalEndpoint();
  await ensureTokenTable(endpoint, options.tableName);
  const config = loadConfig({ TABLE_NAME: options.tableName, SECRET_MAX_AGE_SECONDS: '0', ...options.env });

  const secretsClient = new SecretsManagerClient({ region: 'us-east-1' });
  const secretsMock = mockClient(secretsClient);
  secretsMock.on(GetSecretValueCommand).callsFake(async (input: { SecretId: string }) => {
    const tenantId = input.SecretId.slice(SECRET_PREFIX.length);
    const value = input.SecretId.startsWith(SECRET_PREFIX) ? options.secrets.get(tenantId) : undefined;
    if (value === undefined) {
      throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} });
    }
    if (value instanceof Error) throw value;
    return {
      Name: input.SecretId,
      SecretString: typeof value === 'string' ? value : JSON.stringify(value),
      CreatedDate: options.createdDates?.get(tenantId) ?? SECRET_CREATED_DATE,
    };
  });

  const logger = new Logger({ serviceName: 'ekuaibao-token-vending', logLevel: options.verbose ? 'DEBUG' : 'SILENT' });
  const metrics = quietUnless(options.verbose ?? false, () => new Metrics({ namespace: 'EkuaibaoTokenVending', serviceName: 'ekuaibao-token-vending' }));
  // Without REFRESHER_FUNCTION_NAME, refreshes of refresh-due tokens run in the background of
  // this "container"; `refreshesIdle` waits for them.
  const wired = wireVendor({
    config,
    logger,
    metrics,
    credentials: new SecretsManagerCredentials({
      secretPrefix: SECRET_PREFIX,
      maxAgeSeconds: config.secretMaxAgeSeconds,
      defaultBaseUrl: config.defaultBaseUrl,
      allowLoopbackHttp: true,
      client: secretsClient,
      ...(options.clock && { clock: options.clock }),
    }),
    dynamoDb: localDynamoDbConfig(endpoint),
    ...(options.upstream && { upstream: options.upstream }),
    ...(options.clock && { clock: options.clock }),
  });
  const { vendor } = wired;
  const refreshesIdle = wired.refreshesIdle;
  if (refreshesIdle === undefined) throw new Error('the harness expects refreshes to run in the background of this process');
  const handler = createTokenApi({ vendor, logger, metrics });

  async function invoke(method: string, path: string, body = ''): Promise<Invocation> {
    const event = toApiGatewayEvent(method, path, { 'content-type': 'application/json' }, body);
    const result = await handler(event, localLambdaContext(29_000));
    return {
      statusCode: result.statusCode,
      headers: result.headers as Record<string, string>,
      body: result.body,
      json: result.body === '' ? undefined : JSON.parse(result.body),
    };
  }

  return { vendor, invoke, config, secretsMock, refreshesIdle };
}

/** Everything written to stdout/stderr while `run` runs: Powertools logs and EMF metrics go there. */
export async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: T; output: string }> {
  const chunks: string[] = [];
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  try {
    const result = await run();
    return { result, output: chunks.join('') };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

/**
 * Where manual clocks start: far ahead of the real date, on purpose. The adapter writes each item's
 * `ttl` from the vendor's clock, and DynamoDB Local deletes items whose `ttl` is behind the *real*
 * time within a second or so; a manual clock behind real time would see its items vanish mid-test.
 */
export const MANUAL_CLOCK_START = Date.UTC(2100, 0, 1, 8, 0, 0);

/** A clock tests move by hand; shared by the vendor and the simulator so both agree on expiry. */
export class ManualClock implements Clock {
  constructor(private current = MANUAL_CLOCK_START) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** Powertools Metrics reads whether it is disabled from the environment, once, when built. */
function quietUnless<T>(verbose: boolean, build: () => T): T {
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = verbose ? 'false' : 'true';
  try {
    return build();
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
  }
}
