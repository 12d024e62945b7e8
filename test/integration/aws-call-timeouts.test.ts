/**
 * Every AWS call is bounded by the request budget (functions/adapters/aws-call-limits.ts): real SDK
 * clients, built by the wiring, against servers on loopback that never answer, or that send the
 * response headers and then stall the body. A vend must end with DEPENDENCY_UNAVAILABLE (503), not
 * INTERNAL_ERROR and not a hang, before the budget plus a margin.
 *
 * The bound: the vendor retries a failed read while its deadline (the budget) has not passed, so
 * its last call may start just before it and take one call ceiling C: a vend ends by budget + C.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  AwsCallTimedOut,
  awsCallLimits,
  CeilingHttpHandler,
  isUnansweredCall,
  withCallCeiling,
  withCallLimits,
  DYNAMODB_ATTEMPTS,
} from '../../functions/adapters/aws-call-limits';
import { LambdaRefreshTrigger } from '../../functions/adapters/refresh-trigger';
import { SecretsManagerCredentials } from '../../functions/adapters/tenant-credentials';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { DependencyUnavailable, VendingError } from '../../functions/domain/errors';
import type { UpstreamAuth } from '../../functions/domain/types';
import { loadConfig } from '../../functions/token/config';
import { errorResponse } from '../../functions/token/error-response';
import { wireVendor } from '../../functions/token/wiring';

/** Small, to keep the test fast: each call's ceiling C is min(1500 ms, budget / 2) = 750 ms. */
const BUDGET_MS = 1_500;
const CALL_TIMEOUT_MS = awsCallLimits({ requestBudgetMs: BUDGET_MS }).callTimeoutMs;
/** Timers and event loop on a busy machine (CI has 2 cores). */
const JITTER_MS = 500;
/** The guarantee, budget + C, with the jitter: 2750 ms. */
const VEND_BOUND_MS = BUDGET_MS + CALL_TIMEOUT_MS + JITTER_MS;
/** Past this, the vend is reported as a hang rather than left to the test timeout. */
const HANG_MS = BUDGET_MS + 10_000;

const FAKE_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'fake-key', secretAccessKey: 'fake-secret' } };

type Stall = 'no byte' | 'headers, then a stalled body';

/** A TCP server on loopback that reads requests and never writes a byte, or only the headers. */
interface StallingServer {
  readonly endpoint: string;
  /** Connections accepted so far: one per SDK attempt. */
  readonly connections: () => number;
  close(): Promise<void>;
}

async function startStallingServer(stall: Stall, contentType: string): Promise<StallingServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    if (stall === 'headers, then a stalled body') {
      socket.once('data', () =>
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nContent-Length: 1000\r\n\r\n{"Item":{`),
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Secrets Manager that answers every GetSecretValue at once, for the DynamoDB cases. */
async function startSecretsManager(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server: HttpServer = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
      response.end(
        JSON.stringify({
          ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:ekuaibao/tenants/acme-AbCdEf',
          Name: 'ekuaibao/tenants/acme',
          VersionId: 'fake-version',
          SecretString: JSON.stringify({ appKey: 'fake-app-key', appSecurity: 'fake-app-security' }),
          CreatedDate: 1_767_225_600,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The upstream is never reached: the vend fails on an AWS call first. */
const unreachableUpstream: UpstreamAuth = {
  getAccessToken: async () => {
    throw new Error('the upstream must not be called');
  },
  refreshToken: async () => {
    throw new Error('the upstream must not be called');
  },
};

function wire(endpoints: { secretsManager: string; dynamoDb: string }) {
  const config = loadConfig({ TABLE_NAME: 'fake-tokens', REQUEST_BUDGET_MS: String(BUDGET_MS) });
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    return wireVendor({
      config,
      logger: new Logger({ serviceName: 'ekuaibao-token-vending', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'EkuaibaoTokenVending', serviceName: 'ekuaibao-token-vending' }),
      secretsManager: { ...FAKE_AWS, endpoint: endpoints.secretsManager },
      dynamoDb: { ...FAKE_AWS, endpoint: endpoints.dynamoDb },
      upstream: unreachableUpstream,
    }).vendor;
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
  }
}

type Settled = { readonly outcome: 'resolved' | 'rejected' | 'hung'; readonly error?: unknown; readonly elapsedMs: number };

/** How `run` settles, and when; 'hung' if it has not by `hangMs`. */
async function settle(run: () => Promise<unknown>, hangMs = HANG_MS): Promise<Settled> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ outcome: 'hung', elapsedMs: performance.now() - started }), hangMs);
  });
  const settled = run().then(
    (): Settled => ({ outcome: 'resolved', elapsedMs: performance.now() - started }),
    (error: unknown): Settled => ({ outcome: 'rejected', error, elapsedMs: performance.now() - started }),
  );
  try {
    return await Promise.race([settled, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('a vend whose AWS dependency never answers', () => {
  test.each([
    ['Secrets Manager', 'no byte'],
    ['Secrets Manager', 'headers, then a stalled body'],
    ['DynamoDB', 'no byte'],
    ['DynamoDB', 'headers, then a stalled body'],
  ] as const)(
    '%s sends %s: DEPENDENCY_UNAVAILABLE (503) within the budget + one call ceiling, after the SDK tried again',
    async (dependency, stall) => {
      const stalled = await startStallingServer(
        stall,
        dependency === 'DynamoDB' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      );
      cleanups.push(() => stalled.close());
      let secretsManager = stalled.endpoint;
      if (dependency === 'DynamoDB') {
        const secrets = await startSecretsManager();
        cleanups.push(() => secrets.close());
        secretsManager = secrets.endpoint;
      }
      const vendor = wire({ secretsManager, dynamoDb: stalled.endpoint });

      const result = await settle(() => vendor.vend('acme'));

      expect(result.outcome).toBe('rejected');
      expect(result.error).toBeInstanceOf(VendingError);
      expect((result.error as VendingError).code).toBe('DEPENDENCY_UNAVAILABLE');
      const response = errorResponse(result.error, 'fake-request-id');
      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body).error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(response.headers?.['Retry-After']).toBe('1');
      expect(CALL_TIMEOUT_MS).toBe(750);
      expect(result.elapsedMs).toBeLessThan(VEND_BOUND_MS);
      // The vendor tried again within its budget (the vend's calls, each on a connection of its own).
      expect(stalled.connections()).toBeGreaterThanOrEqual(2);
    },
    30_000,
  );
});

describe('one call, with the clients configured as the wiring configures them', () => {
  // DynamoDB gets one attempt (a retried conditional write could fail its own condition); the others two.
  const limitsFor = (dependency: 'DynamoDB' | 'Secrets Manager') =>
    awsCallLimits({ requestBudgetMs: BUDGET_MS, ...(dependency === 'DynamoDB' && { maxAttempts: DYNAMODB_ATTEMPTS }) });

  test.each([
    ['Secrets Manager', 'no byte'],
    ['Secrets Manager', 'headers, then a stalled body'],
    ['DynamoDB', 'no byte'],
    ['DynamoDB', 'headers, then a stalled body'],
  ] as const)(
    '%s sends %s: the SDK times each attempt out (Secrets Manager makes a second on a new connection), within the ceiling',
    async (dependency, stall) => {
      const limits = limitsFor(dependency);
      expect(limits.maxAttempts).toBe(dependency === 'DynamoDB' ? 1 : 2);
      const stalled = await startStallingServer(
        stall,
        dependency === 'DynamoDB' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      );
      cleanups.push(() => stalled.close());
      const clientConfig = { ...FAKE_AWS, endpoint: stalled.endpoint };
      let call: () => Promise<unknown>;
      if (dependency === 'DynamoDB') {
        const client = new DynamoDBClient(withCallCeiling(limits, clientConfig));
        cleanups.push(async () => client.destroy());
        const table = new DynamoTokenTable({ tableName: 'fake-tokens', client });
        call = () => table.read('acme');
      } else {
        const client = new SecretsManagerClient(withCallLimits(limits, clientConfig));
        cleanups.push(async () => client.destroy());
        const source = new SecretsManagerCredentials({
          secretPrefix: 'ekuaibao/tenants/',
          maxAgeSeconds: 0,
          defaultBaseUrl: 'https://app.ekuaibao.com',
          allowLoopbackHttp: false,
          client,
          limits,
        });
        call = () => source.get('acme');
      }

      const result = await settle(call);

      expect(result.outcome).toBe('rejected');
      expect(result.error).toBeInstanceOf(DependencyUnavailable);
      // Each attempt's own timeout fired (Secrets Manager: t = 350 ms, twice), on a connection of its own.
      expect(stalled.connections()).toBe(limits.maxAttempts);
      expect(result.elapsedMs).toBeLessThan(limits.callTimeoutMs + JITTER_MS);
    },
  );
});

describe('the refresher’s Invoke, when Lambda never answers', () => {
  test('ends within how long the caller waits for it, as a call that got no answer', async () => {
    const stalled = await startStallingServer('no byte', 'application/json');
    cleanups.push(() => stalled.close());
    const config = loadConfig({ TABLE_NAME: 'fake-tokens', REQUEST_BUDGET_MS: String(BUDGET_MS) });
    // The limits as the wiring gives them to the trigger.
    const limits = awsCallLimits({
      requestBudgetMs: config.vendor.requestBudgetMs,
      callerWaitsMs: config.vendor.refreshTriggerTimeoutMs,
    });
    expect(limits.callTimeoutMs).toBeLessThanOrEqual(config.vendor.refreshTriggerTimeoutMs);
    const trigger = new LambdaRefreshTrigger({
      functionName: 'fake-warmer',
      clientConfig: { ...FAKE_AWS, endpoint: stalled.endpoint },
      limits,
    });

    const result = await settle(() => trigger.requestRefresh('acme'));

    expect(result.outcome).toBe('rejected');
    expect(isUnansweredCall(result.error)).toBe(true);
    expect(result.elapsedMs).toBeLessThan(limits.callTimeoutMs + JITTER_MS);
  });

  test('a call its ceiling cut short is AwsCallTimedOut', async () => {
    const stalled = await startStallingServer('no byte', 'application/json');
    cleanups.push(() => stalled.close());
    // Attempts far longer than the ceiling: only the call's abort signal can end it.
    const limits = { callTimeoutMs: 300, maxAttempts: 1, attemptTimeoutMs: 60_000, connectionTimeoutMs: 1_000 };
    const trigger = new LambdaRefreshTrigger({
      functionName: 'fake-warmer',
      clientConfig: { ...FAKE_AWS, endpoint: stalled.endpoint },
      limits,
    });

    const result = await settle(() => trigger.requestRefresh('acme'));

    expect(result.outcome).toBe('rejected');
    expect(result.error).toBeInstanceOf(AwsCallTimedOut);
    expect(isUnansweredCall(result.error)).toBe(true);
    expect(result.elapsedMs).toBeLessThan(300 + JITTER_MS);
  });
});

describe('DynamoDB’s ceiling, held by its request handler (CeilingHttpHandler)', () => {
  // Attempts far longer than the ceiling: only the handler's ceiling can end these calls.
  const limits = { callTimeoutMs: 300, maxAttempts: 1, attemptTimeoutMs: 60_000, connectionTimeoutMs: 1_000 };

  /** Sends the headers, then one byte of the body every 50 ms: never silent long enough for a socket timeout. */
  async function startTricklingServer(): Promise<{ endpoint: string; close(): Promise<void> }> {
    const sockets = new Set<Socket>();
    const timers = new Set<NodeJS.Timeout>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 100000\r\n\r\n{"Item":{');
        const timer = setInterval(() => socket.write(' '), 50);
        timers.add(timer);
        socket.on('close', () => clearInterval(timer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      endpoint: `http://127.0.0.1:${port}`,
      close: async () => {
        for (const timer of timers) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  const clientAt = (endpoint: string) => {
    const client = new DynamoDBClient(withCallCeiling(limits, { ...FAKE_AWS, endpoint }));
    cleanups.push(async () => client.destroy());
    return client;
  };
  const tableAt = (endpoint: string) => new DynamoTokenTable({ tableName: 'fake-tokens', client: clientAt(endpoint) });

  test('a body that keeps trickling in is cut at the ceiling: DependencyUnavailable, caused by AwsCallTimedOut', async () => {
    const trickling = await startTricklingServer();
    cleanups.push(() => trickling.close());

    const client = clientAt(trickling.endpoint);
    const result = await settle(() => new DynamoTokenTable({ tableName: 'fake-tokens', client }).read('acme'));

    expect(result.outcome).toBe('rejected');
    expect(result.error).toBeInstanceOf(DependencyUnavailable);
    expect((result.error as Error).cause).toBeInstanceOf(AwsCallTimedOut);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(limits.callTimeoutMs - 5);
    expect(result.elapsedMs).toBeLessThan(limits.callTimeoutMs + JITTER_MS);
    expect((client.config.requestHandler as unknown as CeilingHttpHandler).armed).toBe(0);
  });

  test('no byte at all: the request is aborted at the ceiling, as an unanswered call', async () => {
    const stalled = await startStallingServer('no byte', 'application/x-amz-json-1.0');
    cleanups.push(() => stalled.close());

    const result = await settle(() => tableAt(stalled.endpoint).read('acme'));

    expect(result.outcome).toBe('rejected');
    expect(result.error).toBeInstanceOf(DependencyUnavailable);
    expect(isUnansweredCall((result.error as Error).cause)).toBe(true);
    expect(result.elapsedMs).toBeLessThan(limits.callTimeoutMs + JITTER_MS);
  });

  test('a call that was answered leaves no ceiling armed, and its connection serves the next call', async () => {
    let requests = 0;
    const server: HttpServer = createHttpServer((request, response) => {
      requests++;
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify({ Item: { tenantId: { S: 'acme' }, v: { N: '3' } } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const client = clientAt(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    const handler = client.config.requestHandler as unknown as CeilingHttpHandler;
    const table = new DynamoTokenTable({ tableName: 'fake-tokens', client });
    const settled = () => new Promise((resolve) => setImmediate(resolve));

    expect((await table.read('acme')).version).toBe(3);
    await settled();
    expect(handler.armed).toBe(0);
    expect((await table.read('acme')).version).toBe(3);
    await settled();
    expect(handler.armed).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, limits.callTimeoutMs + 100));
    // Past both ceilings: had one stayed armed, it would have destroyed a finished body.
    expect((await table.read('acme')).version).toBe(3);
    expect(requests).toBe(3);
  });
});

