/**
 * Builds the vendor from configuration with the AWS adapters. The Lambda handlers use it as is;
 * the local server swaps the credential source, points DynamoDB at a local endpoint, and runs
 * refreshes in the background of its own process.
 *
 * Every AWS client it builds is bounded by the request budget (aws-call-limits.ts): timeouts and
 * attempts in the client, a ceiling on each call (DynamoDB's held by its request handler, so that
 * its calls keep the SDK's middleware cache). Configurations given here are merged with them.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import {
  type AwsCallLimits,
  awsCallLimits,
  CeilingHttpHandler,
  DYNAMODB_ATTEMPTS,
  sharedRequestHandler,
  withCallCeiling,
  withCallLimits,
} from '../adapters/aws-call-limits';
import { EkuaibaoClient, EkuaibaoLocator } from '../adapters/ekuaibao-client';
import { BackgroundRefreshTrigger, LambdaRefreshTrigger } from '../adapters/refresh-trigger';
import { SecretsManagerCredentials } from '../adapters/tenant-credentials';
import { DynamoTokenTable } from '../adapters/token-table';
import { TenantScopedCredentialSource, TenantScopedTokenStore } from '../adapters/tenant-scoped';
import { AssumedRoleSessions, type TenantSessions } from '../adapters/tenant-sessions';
import { TokenVendor } from '../domain/token-vendor';
import type { Clock, CredentialSource, RefreshTrigger, TokenStore, UpstreamAuth } from '../domain/types';
import type { ServiceConfig } from './config';
import { powertoolsEvents } from './observability';

export interface VendorWiring {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer?: Tracer;
  /** Replaces Secrets Manager (local mode, tests). */
  readonly credentials?: CredentialSource;
  /** The Secrets Manager client's configuration (tests point it at a local endpoint), merged with the call limits. */
  readonly secretsManager?: SecretsManagerClientConfig;
  /** The DynamoDB client's configuration (local mode: the local engine), merged with the call limits. */
  readonly dynamoDb?: DynamoDBClientConfig;
  /** The STS client's configuration (tests point it at a stand-in), merged with the call limits. */
  readonly sts?: STSClientConfig;
  /** Local mode: the location API may name a prefix on loopback over plain http (the simulator). */
  readonly allowLoopbackHttp?: boolean;
  /** Replaces the tenant sessions (tests); default: sessions of `TENANT_ROLE_ARN`, when set. */
  readonly sessions?: TenantSessions;
  readonly upstream?: UpstreamAuth;
  readonly clock?: Clock;
  /**
   * Where refreshes run. Default: the refresher function named in the config (AWS); without one,
   * a background task in this process (local mode, tests).
   */
  readonly refresher?: RefreshTrigger | 'background';
}

export interface WiredVendor {
  readonly vendor: TokenVendor;
  /** Present when refreshes run in this process: resolves when they have all ended. */
  readonly refreshesIdle?: () => Promise<void>;
}

type Instrument = <T>(client: T) => T;

/**
 * Where tenant secrets and items are read: with `TENANT_ROLE_ARN`, each tenant's through clients
 * holding only that tenant's session (the function's own credentials only list the table);
 * without it (local mode, tests), with the function's own credentials.
 */
function tenantDataAccess(
  wiring: VendorWiring,
  traced: Instrument,
  limits: AwsCallLimits,
  dynamoDbLimits: AwsCallLimits,
): { credentials: CredentialSource; store: TokenStore } {
  const { config } = wiring;
  const secretsSource = (client: SecretsManagerClient) =>
    new SecretsManagerCredentials({
      secretPrefix: config.secretPrefix,
      maxAgeSeconds: config.secretMaxAgeSeconds,
      defaultBaseUrl: config.defaultBaseUrl,
      allowLoopbackHttp: false,
      client,
      limits,
      ...(wiring.clock && { clock: wiring.clock }),
    });
  const table = (client: DynamoDBClient) => new DynamoTokenTable({ tableName: config.tableName, client });
  const sessions =
    wiring.sessions ??
    (config.tenantRoleArn !== undefined
      ? new AssumedRoleSessions({
          roleArn: config.tenantRoleArn,
          limits,
          client: traced(new STSClient(withCallLimits(limits, wiring.sts))),
        })
      : undefined);
  if (sessions === undefined) {
    return {
      credentials: wiring.credentials ?? secretsSource(traced(new SecretsManagerClient(withCallLimits(limits, wiring.secretsManager)))),
      store: table(traced(new DynamoDBClient(withCallCeiling(dynamoDbLimits, wiring.dynamoDb)))),
    };
  }
  // One connection pool per service for every tenant's client.
  const dynamoDb = withCallCeiling(dynamoDbLimits, wiring.dynamoDb, new CeilingHttpHandler(dynamoDbLimits));
  const secretsManager = { ...wiring.secretsManager, maxAttempts: limits.maxAttempts, requestHandler: sharedRequestHandler(limits) };
  return {
    credentials:
      wiring.credentials ??
      new TenantScopedCredentialSource({
        sessions,
        build: (credentials) => secretsSource(traced(new SecretsManagerClient({ ...secretsManager, credentials }))),
      }),
    store: new TenantScopedTokenStore({
      sessions,
      shared: table(traced(new DynamoDBClient(dynamoDb))),
      build: (credentials) => table(traced(new DynamoDBClient({ ...dynamoDb, credentials }))),
    }),
  };
}

export function createVendor(wiring: VendorWiring): TokenVendor {
  return wireVendor(wiring).vendor;
}

export function wireVendor(wiring: VendorWiring): WiredVendor {
  const { config, tracer } = wiring;
  const limits = awsCallLimits({ requestBudgetMs: config.vendor.requestBudgetMs });
  const dynamoDbLimits = awsCallLimits({ requestBudgetMs: config.vendor.requestBudgetMs, maxAttempts: DYNAMODB_ATTEMPTS });
  const traced = <T>(client: T): T => (tracer ? tracer.captureAWSv3Client(client) : client);
  const events = powertoolsEvents(wiring.metrics, wiring.logger, wiring.clock && (() => wiring.clock!.now()));
  let background: BackgroundRefreshTrigger | undefined;
  let refresher: RefreshTrigger;
  if (wiring.refresher !== undefined && wiring.refresher !== 'background') {
    refresher = wiring.refresher;
  } else if (wiring.refresher === undefined && config.refresherFunctionName !== undefined) {
    refresher = new LambdaRefreshTrigger({
      functionName: config.refresherFunctionName,
      // The caller stops waiting for the Invoke after refreshTriggerTimeoutMs: so does the call.
      limits: awsCallLimits({
        requestBudgetMs: config.vendor.requestBudgetMs,
        callerWaitsMs: config.vendor.refreshTriggerTimeoutMs,
      }),
      instrument: traced,
    });
  } else {
    background = new BackgroundRefreshTrigger(
      (tenantId) => vendor.refresh(tenantId),
      (error) => events.notice('background refresh failed', { error: error instanceof Error ? error.name : typeof error }),
    );
    refresher = background;
  }
  const { credentials, store } = tenantDataAccess(wiring, traced, limits, dynamoDbLimits);
  const vendor: TokenVendor = new TokenVendor({
    credentials,
    store,
    upstream: wiring.upstream ?? new EkuaibaoClient({ v3BaseUrl: config.v3AuthBaseUrl }),
    locator: new EkuaibaoLocator({ baseUrl: config.locationBaseUrl, allowLoopbackHttp: wiring.allowLoopbackHttp ?? false }),
    refresher,
    settings: config.vendor,
    events,
    ...(wiring.clock && { clock: wiring.clock }),
  });
  return { vendor, ...(background && { refreshesIdle: () => background.idle() }) };
}
