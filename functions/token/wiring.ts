/**
 * Builds the vendor from configuration with the AWS adapters. The Lambda handlers use it as is;
 * the local server swaps the credential source and points DynamoDB at a local endpoint.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { EkuaibaoClient } from '../adapters/ekuaibao-client';
import { SecretsManagerCredentials } from '../adapters/tenant-credentials';
import { DynamoTokenTable } from '../adapters/token-table';
import { TokenVendor } from '../domain/token-vendor';
import type { Clock, CredentialSource, UpstreamAuth } from '../domain/types';
import type { ServiceConfig } from './config';
import { powertoolsEvents } from './observability';

export interface VendorWiring {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer?: Tracer;
  /** Replaces Secrets Manager (local mode, tests). */
  readonly credentials?: CredentialSource;
  readonly dynamoDb?: DynamoDBClientConfig;
  readonly upstream?: UpstreamAuth;
  readonly clock?: Clock;
}

export function createVendor(wiring: VendorWiring): TokenVendor {
  const { config, tracer } = wiring;
  const traced = <T>(client: T): T => (tracer ? tracer.captureAWSv3Client(client) : client);
  return new TokenVendor({
    credentials:
      wiring.credentials ??
      new SecretsManagerCredentials({
        secretPrefix: config.secretPrefix,
        maxAgeSeconds: config.secretMaxAgeSeconds,
        defaultBaseUrl: config.defaultBaseUrl,
        allowLoopbackHttp: false,
        client: traced(new SecretsManagerClient({})),
      }),
    store: new DynamoTokenTable({
      tableName: config.tableName,
      client: traced(new DynamoDBClient(wiring.dynamoDb ?? {})),
    }),
    upstream: wiring.upstream ?? new EkuaibaoClient(),
    settings: config.vendor,
    events: powertoolsEvents(wiring.metrics, wiring.logger),
    ...(wiring.clock && { clock: wiring.clock }),
  });
}
