/**
 * Error paths no local engine can produce: Secrets Manager access denied and throttling,
 * DynamoDB throttling. The SDK clients are mocked with aws-sdk-client-mock; the adapters are real.
 */
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsManagerCredentials } from '../../functions/adapters/tenant-credentials';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { DependencyThrottled, TenantMisconfigured, TenantNotFound } from '../../functions/domain/errors';

const serviceError = (name: string) =>
  new SecretsManagerServiceException({ name, $fault: 'client', message: `${name} for fake`, $metadata: {} });

function credentials(maxAgeSeconds = 300) {
  const client = new SecretsManagerClient({ region: 'us-east-1' });
  const mock = mockClient(client);
  const source = new SecretsManagerCredentials({
    secretPrefix: 'ekuaibao/tenants/',
    maxAgeSeconds,
    defaultBaseUrl: 'https://app.ekuaibao.com',
    allowLoopbackHttp: false,
    client,
  });
  return { mock, source };
}

describe('Secrets Manager credentials', () => {
  test('reads the tenant’s secret under the prefix and caches it for the max age', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand, { SecretId: 'ekuaibao/tenants/acme' }).resolves({
      SecretString: '{"appKey":"k","appSecurity":"s"}',
    });
    expect(await source.get('acme')).toEqual({ appKey: 'k', appSecurity: 's', baseUrl: 'https://app.ekuaibao.com' });
    await source.get('acme');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  test('not found → TenantNotFound', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'nope', $metadata: {} }));
    await expect(source.get('acme')).rejects.toBeInstanceOf(TenantNotFound);
  });

  test.each(['AccessDeniedException', 'DecryptionFailure'])('%s → TenantMisconfigured', async (name) => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).rejects(serviceError(name));
    await expect(source.get('acme')).rejects.toThrow(TenantMisconfigured);
    await expect(source.get('acme')).rejects.toThrow(name);
  });

  test('throttling → DependencyThrottled (503 with Retry-After)', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).rejects(serviceError('ThrottlingException'));
    const error = await source.get('acme').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyThrottled);
    expect((error as DependencyThrottled).retryAfterSeconds).toBe(1);
  });

  test('a binary secret is misconfigured', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    await expect(source.get('acme')).rejects.toThrow('no SecretString');
  });
});

describe('DynamoDB token table', () => {
  test('throttling → DependencyThrottled', async () => {
    const documents = mockClient(DynamoDBDocumentClient);
    documents.on(GetCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    try {
      const table = new DynamoTokenTable({ tableName: 'tokens', client: new DynamoDBClient({ region: 'us-east-1' }) });
      await expect(table.read('acme', false)).rejects.toBeInstanceOf(DependencyThrottled);
      expect(documents.commandCalls(GetCommand)).toHaveLength(1);
    } finally {
      documents.restore();
    }
  });
});
