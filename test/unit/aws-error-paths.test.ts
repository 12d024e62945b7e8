/**
 * What no local engine can produce: Secrets Manager versions, access denied and throttling,
 * DynamoDB throttling and server errors. The SDK clients are mocked with aws-sdk-client-mock; the
 * adapters are real.
 */
import { DynamoDBClient, GetItemCommand, InternalServerError, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import {
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsManagerCredentials } from '../../functions/adapters/tenant-credentials';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { DependencyThrottled, DependencyUnavailable, TenantMisconfigured, TenantNotFound } from '../../functions/domain/errors';
import type { Clock } from '../../functions/domain/types';

const serviceError = (name: string) =>
  new SecretsManagerServiceException({ name, $fault: 'client', message: `${name} for fake`, $metadata: {} });

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 10, 25)) {
  let now = start;
  const clock: Clock = { now: () => now };
  return { clock, advance: (ms: number) => void (now += ms) };
}

function credentials(maxAgeSeconds = 300) {
  const client = new SecretsManagerClient({ region: 'us-east-1' });
  const mock = mockClient(client);
  const time = manualClock();
  const source = new SecretsManagerCredentials({
    secretPrefix: 'ekuaibao/tenants/',
    maxAgeSeconds,
    defaultBaseUrl: 'https://app.ekuaibao.com',
    allowLoopbackHttp: false,
    client,
    clock: time.clock,
  });
  return { mock, source, time };
}

/** One version of a secret, as GetSecretValue returns it. */
const version = (appKey: string, createdAt: number) => ({
  SecretString: JSON.stringify({ appKey, appSecurity: `fake-security-${appKey}` }),
  CreatedDate: new Date(createdAt),
});
const OLD = Date.UTC(2026, 0, 1);
const NEW = Date.UTC(2026, 5, 1);

describe('Secrets Manager credentials', () => {
  test('reads the tenant’s secret under the prefix; its rank is the version’s CreatedDate', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand, { SecretId: 'ekuaibao/tenants/acme' }).resolves(version('k', OLD));
    expect(await source.get('acme')).toEqual({
      appKey: 'k',
      appSecurity: 'fake-security-k',
      baseUrl: 'https://app.ekuaibao.com',
      authVersion: 'v1',
      rank: OLD,
    });
  });

  test('a version without CreatedDate has rank 0', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).resolves({ SecretString: '{"appKey":"k","appSecurity":"s"}' });
    expect((await source.get('acme')).rank).toBe(0);
  });

  test('caches each tenant’s secret for maxAgeSeconds, then reads it again', async () => {
    const { mock, source, time } = credentials(300);
    mock.on(GetSecretValueCommand, { SecretId: 'ekuaibao/tenants/acme' }).resolves(version('k', OLD));
    mock.on(GetSecretValueCommand, { SecretId: 'ekuaibao/tenants/other' }).resolves(version('o', OLD));
    await source.get('acme');
    await source.get('other');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);

    // A rotation within the max age is not seen yet…
    mock.on(GetSecretValueCommand, { SecretId: 'ekuaibao/tenants/acme' }).resolves(version('k2', NEW));
    time.advance(300_000 - 1);
    expect((await source.get('acme')).appKey).toBe('k');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);

    // …and is once the cached copy is maxAgeSeconds old.
    time.advance(1);
    expect(await source.get('acme')).toMatchObject({ appKey: 'k2', rank: NEW });
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    expect((await source.get('acme')).appKey).toBe('k2');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  test('maxAgeSeconds 0 reads the secret on every call', async () => {
    const { mock, source } = credentials(0);
    mock.on(GetSecretValueCommand).resolves(version('k', OLD));
    await source.get('acme');
    await source.get('acme');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('{ fresh: true } skips the cache, and the fresh copy is cached from then on', async () => {
    const { mock, source } = credentials(300);
    mock.on(GetSecretValueCommand).resolves(version('k', OLD));
    await source.get('acme');
    mock.on(GetSecretValueCommand).resolves(version('k2', NEW));
    expect(await source.get('acme', { fresh: true })).toMatchObject({ appKey: 'k2', rank: NEW });
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(await source.get('acme')).toMatchObject({ appKey: 'k2', rank: NEW });
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('a forced read that returns an older version than the cached one keeps the newer one', async () => {
    const { mock, source } = credentials(300);
    mock.on(GetSecretValueCommand).resolves(version('k2', NEW));
    await source.get('acme');
    // An eventually consistent answer: the previous version.
    mock.on(GetSecretValueCommand).resolves(version('k', OLD));
    expect(await source.get('acme', { fresh: true })).toMatchObject({ appKey: 'k2', rank: NEW });
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(await source.get('acme')).toMatchObject({ appKey: 'k2', rank: NEW });
  });

  test('a forced read of the same version answers it', async () => {
    const { mock, source } = credentials(300);
    mock.on(GetSecretValueCommand).resolves(version('k', OLD));
    const first = await source.get('acme');
    expect(await source.get('acme', { fresh: true })).toEqual(first);
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
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

  test.each([
    ['InternalServiceError', new InternalServiceError({ message: 'fake failure', $metadata: {} })],
    ['TimeoutError', Object.assign(new Error('socket timed out'), { name: 'TimeoutError' })],
  ])('%s → DependencyUnavailable (503 with Retry-After)', async (_name, failure) => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).rejects(failure);
    const error = await source.get('acme').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect((error as DependencyUnavailable).code).toBe('DEPENDENCY_UNAVAILABLE');
    expect((error as DependencyUnavailable).retryAfterSeconds).toBe(1);
  });

  test('a failed read is not cached: the next call reads again', async () => {
    const { mock, source } = credentials(300);
    mock.on(GetSecretValueCommand).rejectsOnce(serviceError('ThrottlingException')).resolves(version('k', OLD));
    await expect(source.get('acme')).rejects.toBeInstanceOf(DependencyThrottled);
    expect((await source.get('acme')).appKey).toBe('k');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('a binary secret is misconfigured', async () => {
    const { mock, source } = credentials();
    mock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    await expect(source.get('acme')).rejects.toThrow('no SecretString');
  });
});

describe('DynamoDB token table', () => {
  const documents = mockClient(DynamoDBClient);
  afterEach(() => {
    documents.reset();
  });
  afterAll(() => {
    documents.restore();
  });
  const table = () => new DynamoTokenTable({ tableName: 'tokens', client: new DynamoDBClient({ region: 'us-east-1' }) });

  test('every read is strongly consistent', async () => {
    documents.on(GetItemCommand).resolves({});
    expect(await table().read('acme')).toEqual({ tenantId: 'acme', version: 0, credentialRank: 0 });
    expect(documents.commandCalls(GetItemCommand)[0]!.args[0].input).toMatchObject({
      TableName: 'tokens',
      Key: { tenantId: { S: 'acme' } },
      ConsistentRead: true,
    });
  });

  test('throttling → DependencyThrottled, not retried by the adapter', async () => {
    documents.on(GetItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    await expect(table().read('acme')).rejects.toBeInstanceOf(DependencyThrottled);
    expect(documents.commandCalls(GetItemCommand)).toHaveLength(1);
  });

  test('a server error → DependencyUnavailable, not retried by the adapter', async () => {
    documents.on(GetItemCommand).rejects(new InternalServerError({ message: 'fake failure', $metadata: {} }));
    const error = await table().read('acme').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect((error as DependencyUnavailable).code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(documents.commandCalls(GetItemCommand)).toHaveLength(1);
  });
});
