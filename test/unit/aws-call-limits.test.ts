/**
 * The AWS call limits (functions/adapters/aws-call-limits.ts): the formula's bound for any budget,
 * the values for the default budget, the client configuration they make, and which failures count
 * as a call that got no answer.
 */
import {
  DynamoDBClient,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import * as fc from 'fast-check';
import {
  AwsCallTimedOut,
  awsCallLimits,
  CeilingHttpHandler,
  DYNAMODB_ATTEMPTS,
  CALL_TIMEOUT_CAP_MS,
  CONNECTION_TIMEOUT_MS,
  isUnansweredCall,
  MAX_ATTEMPTS,
  RETRY_BACKOFF_ALLOWANCE_MS,
  sendWithin,
  withCallCeiling,
  withCallLimits,
  worstCaseSdkCallMs,
} from '../../functions/adapters/aws-call-limits';
import { SecretsManagerCredentials } from '../../functions/adapters/tenant-credentials';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { DependencyUnavailable } from '../../functions/domain/errors';
import { RESPONSE_MARGIN_MS } from '../../contract/lease-timing';
import { loadConfig } from '../../functions/token/config';

describe('the formula: n × t + (n − 1) × backoff ≤ C ≤ min(cap, budget / 2, caller’s wait)', () => {
  test('holds for every budget and caller wait, down to 1 ms', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        (requestBudgetMs, callerWaitsMs) => {
          const limits = awsCallLimits({ requestBudgetMs, ...(callerWaitsMs !== undefined && { callerWaitsMs }) });
          const { callTimeoutMs, maxAttempts, attemptTimeoutMs, connectionTimeoutMs } = limits;
          for (const value of [callTimeoutMs, maxAttempts, attemptTimeoutMs, connectionTimeoutMs]) {
            expect(Number.isInteger(value) && value >= 1).toBe(true);
          }
          expect(maxAttempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
          expect(worstCaseSdkCallMs(limits)).toBe(maxAttempts * attemptTimeoutMs + (maxAttempts - 1) * RETRY_BACKOFF_ALLOWANCE_MS);
          // The SDK's own timeouts and retries fit in the call's ceiling…
          expect(worstCaseSdkCallMs(limits)).toBeLessThanOrEqual(callTimeoutMs);
          // …which fits in the budget, half of it from 2 ms on, under the cap and the caller's wait.
          expect(callTimeoutMs).toBeLessThanOrEqual(requestBudgetMs);
          if (requestBudgetMs >= 2) expect(callTimeoutMs).toBeLessThanOrEqual(requestBudgetMs / 2);
          expect(callTimeoutMs).toBeLessThanOrEqual(CALL_TIMEOUT_CAP_MS);
          if (callerWaitsMs !== undefined) expect(callTimeoutMs).toBeLessThanOrEqual(callerWaitsMs);
          // A connection never waits longer than its attempt.
          expect(connectionTimeoutMs).toBeLessThanOrEqual(Math.min(CONNECTION_TIMEOUT_MS, attemptTimeoutMs));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test('the default budget (25.5 s): C = 1500 ms, two attempts of 725 ms', () => {
    const budget = loadConfig({ TABLE_NAME: 't' }).vendor.requestBudgetMs;
    expect(budget).toBe(25_500);
    expect(awsCallLimits({ requestBudgetMs: budget })).toEqual({
      callTimeoutMs: 1_500,
      maxAttempts: 2,
      attemptTimeoutMs: 725,
      connectionTimeoutMs: 725,
    });
  });

  test('the refresh trigger’s Invoke: within the second the caller waits for it', () => {
    const { vendor } = loadConfig({ TABLE_NAME: 't' });
    const limits = awsCallLimits({ requestBudgetMs: vendor.requestBudgetMs, callerWaitsMs: vendor.refreshTriggerTimeoutMs });
    expect(limits).toEqual({ callTimeoutMs: 1_000, maxAttempts: 2, attemptTimeoutMs: 475, connectionTimeoutMs: 475 });
  });

  test('extreme settings: the largest budget API Gateway allows, and budgets too small for two attempts', () => {
    expect(awsCallLimits({ requestBudgetMs: 29_000 }).callTimeoutMs).toBe(CALL_TIMEOUT_CAP_MS);
    expect(awsCallLimits({ requestBudgetMs: 500 })).toEqual({ callTimeoutMs: 250, maxAttempts: 2, attemptTimeoutMs: 100, connectionTimeoutMs: 100 });
    expect(awsCallLimits({ requestBudgetMs: 498 })).toEqual({ callTimeoutMs: 249, maxAttempts: 1, attemptTimeoutMs: 249, connectionTimeoutMs: 249 });
    expect(awsCallLimits({ requestBudgetMs: 1 })).toEqual({ callTimeoutMs: 1, maxAttempts: 1, attemptTimeoutMs: 1, connectionTimeoutMs: 1 });
  });

  test('a call started at the deadline still ends within the token function’s response margin', () => {
    // The Lambda timeout is the budget + RESPONSE_MARGIN_MS; the vendor may start a call just before its deadline.
    expect(CALL_TIMEOUT_CAP_MS).toBeLessThan(RESPONSE_MARGIN_MS);
  });
});

describe('withCallLimits', () => {
  const limits = awsCallLimits({ requestBudgetMs: 25_500 });

  test('keeps the given settings (local mode: endpoint, region, credentials) and adds the limits', () => {
    const local = { endpoint: 'http://127.0.0.1:8000', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
    expect(withCallLimits(limits, local)).toEqual({
      ...local,
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 725, requestTimeout: 725, socketTimeout: 725, throwOnRequestTimeout: true },
    });
    expect(withCallLimits(limits)).toEqual({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 725, requestTimeout: 725, socketTimeout: 725, throwOnRequestTimeout: true },
    });
  });

  test('the limits replace attempts and timeouts; other handler options stay', () => {
    const merged = withCallLimits(limits, { maxAttempts: 10, requestHandler: { requestTimeout: 0, socketAcquisitionWarningTimeout: 9 } });
    expect(merged.maxAttempts).toBe(2);
    expect(merged.requestHandler).toEqual({
      socketAcquisitionWarningTimeout: 9,
      connectionTimeout: 725,
      requestTimeout: 725,
      socketTimeout: 725,
      throwOnRequestTimeout: true,
    });
  });

  test('refuses a handler instance, which cannot take them', () => {
    expect(() => withCallLimits(limits, { requestHandler: { handle: async () => ({}) } })).toThrow(/handler instance/);
  });

  test('the SDK client takes them: maxAttempts and the handler’s timeouts', async () => {
    const client = new DynamoDBClient(withCallLimits(limits, { region: 'us-east-1' }));
    try {
      expect(await client.config.maxAttempts()).toBe(2);
      const handler = client.config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> };
      expect(await handler.configProvider).toMatchObject({
        connectionTimeout: 725,
        requestTimeout: 725,
        socketTimeout: 725,
        throwOnRequestTimeout: true,
      });
    } finally {
      client.destroy();
    }
  });
});

describe('withCallCeiling', () => {
  const limits = awsCallLimits({ requestBudgetMs: 25_500, maxAttempts: DYNAMODB_ATTEMPTS });

  test('one attempt, the middleware cache on, and a handler that holds the ceiling with the timeouts', async () => {
    const config = withCallCeiling(limits, { region: 'us-east-1', requestHandler: { socketAcquisitionWarningTimeout: 9 } });
    expect(config.maxAttempts).toBe(1);
    expect(config.cacheMiddleware).toBe(true);
    expect(config.requestHandler.ceilingMs).toBe(1_500);
    const handler = config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> };
    expect(await handler.configProvider).toMatchObject({
      socketAcquisitionWarningTimeout: 9,
      connectionTimeout: 1_000,
      requestTimeout: 1_500,
      socketTimeout: 1_500,
      throwOnRequestTimeout: true,
    });
  });

  test('shares a handler when given one, and refuses a handler instance in the config', () => {
    const shared = new CeilingHttpHandler(limits);
    expect(withCallCeiling(limits, {}, shared).requestHandler).toBe(shared);
    expect(withCallCeiling(limits, { region: 'eu-west-1' }, shared).requestHandler).toBe(shared);
    expect(() => withCallCeiling(limits, { requestHandler: { handle: async () => ({}) } })).toThrow(/handler instance/);
  });

  test('refuses limits of more than one attempt: a bound per attempt would not bound the call', () => {
    expect(() => new CeilingHttpHandler(awsCallLimits({ requestBudgetMs: 25_500 }))).toThrow(/one attempt/);
  });
});

describe('sendWithin', () => {
  const limits = { callTimeoutMs: 50, maxAttempts: 1, attemptTimeoutMs: 50, connectionTimeoutMs: 50 };

  test('without limits: no abort signal', async () => {
    await expect(sendWithin(undefined, async (options) => options)).resolves.toBeUndefined();
  });

  test('gives the call an abort signal that fires at its ceiling, and names the failure it caused', async () => {
    const error = await sendWithin(
      limits,
      (options) =>
        new Promise((_resolve, reject) => {
          options!.abortSignal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
        }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsCallTimedOut);
    expect((error as Error).message).toBe('the call got no answer within 50 ms');
    expect(((error as Error).cause as Error).message).toBe('aborted');
  });

  test('an answer of the service stays what it is, even when the ceiling has passed', async () => {
    const notFound = new ResourceNotFoundException({ message: 'no such secret', $metadata: { httpStatusCode: 400 } });
    const error = await sendWithin(limits, async (options) => {
      await new Promise((resolve) => options!.abortSignal.addEventListener('abort', resolve));
      throw notFound;
    }).catch((e: unknown) => e);
    expect(error).toBe(notFound);
  });
});

describe('isUnansweredCall', () => {
  test.each([
    ['the call’s own ceiling', new AwsCallTimedOut(750)],
    ['an SDK request timeout', Object.assign(new Error('exceeded requestTimeout'), { name: 'TimeoutError', code: 'ETIMEDOUT' })],
    ['an SDK connection timeout', Object.assign(new Error('no connection'), { name: 'TimeoutError' })],
    ['an abort', Object.assign(new Error('Request aborted'), { name: 'AbortError' })],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a 5xx', new InternalServerError({ message: 'fake', $metadata: { httpStatusCode: 500 } })],
    ['a 503 of no modeled type', Object.assign(new Error('Service Unavailable'), { $metadata: { httpStatusCode: 503 } })],
  ])('%s: yes', (_name, error) => {
    expect(isUnansweredCall(error)).toBe(true);
  });

  test.each([
    ['throttling', new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } })],
    ['not found', new ResourceNotFoundException({ message: 'nope', $metadata: { httpStatusCode: 400 } })],
    ['a bug', new TypeError('x is undefined')],
    ['not an error', 'boom'],
    ['nothing', undefined],
  ])('%s: no', (_name, error) => {
    expect(isUnansweredCall(error)).toBe(false);
  });
});

describe('the adapters: each call gets its ceiling, and a call that got no answer is DependencyUnavailable', () => {
  const limits = awsCallLimits({ requestBudgetMs: 25_500 });
  /** The options `send` got, after the command (the mock's types know only the command). */
  const sendOptions = (call: { args: readonly unknown[] }) => call.args[1] as { abortSignal?: AbortSignal } | undefined;
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

  test('Secrets Manager', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    const mock = mockClient(client);
    const source = new SecretsManagerCredentials({
      secretPrefix: 'ekuaibao/tenants/',
      maxAgeSeconds: 0,
      defaultBaseUrl: 'https://app.ekuaibao.com',
      allowLoopbackHttp: false,
      client,
      limits,
    });
    for (const error of [refused(), new AwsCallTimedOut(1_500), Object.assign(new Error('Bad Gateway'), { $metadata: { httpStatusCode: 502 } })]) {
      mock.on(GetSecretValueCommand).rejects(error);
      const thrown = await source.get('acme').catch((e: unknown) => e);
      expect(thrown).toBeInstanceOf(DependencyUnavailable);
      expect((thrown as DependencyUnavailable).cause).toBe(error);
    }
    expect(sendOptions(mock.commandCalls(GetSecretValueCommand)[0]!)).toEqual({ abortSignal: expect.any(AbortSignal) });
  });

  test('DynamoDB: every request is sent without options (the middleware cache applies); its client holds the ceiling', async () => {
    const dynamoDbLimits = awsCallLimits({ requestBudgetMs: 25_500, maxAttempts: DYNAMODB_ATTEMPTS });
    const client = new DynamoDBClient(withCallCeiling(dynamoDbLimits, { region: 'us-east-1' }));
    const mock = mockClient(client);
    try {
      const table = new DynamoTokenTable({ tableName: 'tokens', client });
      mock.on(GetItemCommand).rejects(new AwsCallTimedOut(1_500));
      await expect(table.read('acme')).rejects.toBeInstanceOf(DependencyUnavailable);
      expect(sendOptions(mock.commandCalls(GetItemCommand)[0]!)).toBeUndefined();

      mock
        .on(ScanCommand)
        .resolvesOnce({ Items: [{ tenantId: { S: 'a' } }], LastEvaluatedKey: { tenantId: { S: 'a' } } })
        .resolvesOnce({ Items: [{ tenantId: { S: 'b' } }] });
      expect(await table.listExpiringBefore(1)).toEqual(['a', 'b']);
      const pages = mock.commandCalls(ScanCommand);
      expect(pages.map((call) => call.args[0].input.ExclusiveStartKey)).toEqual([undefined, { tenantId: { S: 'a' } }]);
      for (const page of pages) expect(sendOptions(page)).toBeUndefined();
      expect(client.config.cacheMiddleware).toBe(true);
      expect(client.config.requestHandler).toBeInstanceOf(CeilingHttpHandler);
      expect((client.config.requestHandler as unknown as CeilingHttpHandler).ceilingMs).toBe(dynamoDbLimits.callTimeoutMs);
    } finally {
      mock.restore();
      client.destroy();
    }
  });
});
