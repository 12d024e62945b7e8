/**
 * The observed run: what the two functions really send to AWS and really emit as metrics.
 *
 * Both functions' real code, built by their own handler factories (functions/token/create-handler.ts,
 * functions/warmer/create-handler.ts) from the environment the stack gives them
 * (contract/settings.ts `functionEnvironment`), runs in this process against real engines over HTTP:
 * - DynamoDB Local (jest's global setup), behind a small proxy that can fail chosen requests;
 * - the benchmark's Secrets Manager stand-in (bench/support/secrets-stub.ts);
 * - the upstream simulator (local/simulator/), at an https base URL (`UPSTREAM_ORIGIN`, below);
 * - a stand-in for Lambda's Invoke API, where the token function's real `LambdaRefreshTrigger`
 *   sends its refresh requests and which hands them to the warmer's handler.
 *
 * Recorded, per function:
 * - every AWS SDK command its clients send, as the IAM action it needs: an SDK middleware added to
 *   each client's middleware stack through the functions' own instrumentation seam
 *   (`tracer.captureAWSv3Client`, where X-Ray capture goes in the traced entries), so every client
 *   the code builds is covered and nothing else is;
 * - every metric it publishes: the EMF lines Powertools Metrics writes to stdout, attributed to the
 *   function whose invocation wrote them.
 *
 * Scenarios drive every path that sends a distinct command or emits a distinct metric, and each
 * checks that it took the path it is meant to (a run that silently skipped one would under-report).
 *
 * @example
 * const run = await observeRun();
 * run.actions.warmer; // ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem', 'secretsmanager:GetSecretValue']
 * run.metrics.token;  // ['CacheHitTable', 'ClientErrors', ...]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { listenOnLoopback, type LoopbackServer } from '../../bench/support/loopback-server';
import { startSecretsStub } from '../../bench/support/secrets-stub';
import { functionEnvironment, SETTING_DEFAULTS } from '../../contract/settings';
import { TABLE_ATTRIBUTES } from '../../contract/table';
import type { EmittingFunction } from '../../contract/metrics';
import { createTokenHandler } from '../../functions/token/create-handler';
import type { Tracing } from '../../functions/token/tracing';
import { createWarmerHandler } from '../../functions/warmer/create-handler';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';
import { startStsStub, tenantOfAccessKeyId } from '../../bench/support/sts-stub';
import { dynamoDbLocalEndpoint, uniqueTableName } from './harness';

export type { EmittingFunction };

/** One EMF directive as published: where CloudWatch files the metrics it names. */
export interface EmittedMetrics {
  readonly namespace: string;
  /** Dimension sets, e.g. `[['service']]`. */
  readonly dimensions: readonly (readonly string[])[];
  /** The value of every dimension named, e.g. `{ service: 'ekuaibao-token-vending' }`. */
  readonly dimensionValues: Readonly<Record<string, string>>;
  readonly names: readonly string[];
}

export interface ObservedRun {
  /**
   * IAM actions of the SDK commands each function sent with its own credentials (its role),
   * sorted, e.g. `sts:AssumeRole`.
   */
  readonly actions: Readonly<Record<EmittingFunction, readonly string[]>>;
  /** The SDK commands themselves, as `Client Command` (for messages and the report). */
  readonly commands: Readonly<Record<EmittingFunction, readonly string[]>>;
  /**
   * IAM actions sent with a tenant session (the tenant access role), by either function, sorted:
   * every read and write of a tenant's secret and item.
   */
  readonly tenantActions: readonly string[];
  readonly tenantCommands: readonly string[];
  /** Calls made with a tenant session for another tenant than the one they touched (must be none). */
  readonly crossTenantCalls: readonly string[];
  /** Metric names each function published, sorted. */
  readonly metrics: Readonly<Record<EmittingFunction, readonly string[]>>;
  /** Every EMF directive published, by either function. */
  readonly emitted: readonly EmittedMetrics[];
  /** The scenarios that ran, in order, each with what it checked. */
  readonly scenarios: readonly string[];
}

/**
 * The IAM action of each SDK command the functions could plausibly send (Service Authorization
 * Reference). A command missing here is recorded as `(no IAM action known for ...)`, which no
 * grant can match: a new command fails the least-privilege test until it is named here.
 */
const IAM_ACTIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  DynamoDBClient: {
    GetItemCommand: 'dynamodb:GetItem',
    PutItemCommand: 'dynamodb:PutItem',
    UpdateItemCommand: 'dynamodb:UpdateItem',
    DeleteItemCommand: 'dynamodb:DeleteItem',
    QueryCommand: 'dynamodb:Query',
    ScanCommand: 'dynamodb:Scan',
    BatchGetItemCommand: 'dynamodb:BatchGetItem',
    BatchWriteItemCommand: 'dynamodb:BatchWriteItem',
    DescribeTableCommand: 'dynamodb:DescribeTable',
    // @aws-sdk/lib-dynamodb's document commands run as the client commands above (the context
    // names those); listed in case a future SDK reports its own names.
    GetCommand: 'dynamodb:GetItem',
    PutCommand: 'dynamodb:PutItem',
    UpdateCommand: 'dynamodb:UpdateItem',
    DeleteCommand: 'dynamodb:DeleteItem',
    BatchGetCommand: 'dynamodb:BatchGetItem',
    BatchWriteCommand: 'dynamodb:BatchWriteItem',
  },
  SecretsManagerClient: {
    GetSecretValueCommand: 'secretsmanager:GetSecretValue',
    DescribeSecretCommand: 'secretsmanager:DescribeSecret',
    ListSecretsCommand: 'secretsmanager:ListSecrets',
  },
  LambdaClient: {
    // The one service here whose action is not named after the operation.
    InvokeCommand: 'lambda:InvokeFunction',
    InvokeWithResponseStreamCommand: 'lambda:InvokeFunction',
  },
  STSClient: {
    AssumeRoleCommand: 'sts:AssumeRole',
  },
};

export function iamActionOf(clientName: string, commandName: string): string {
  return IAM_ACTIONS[clientName]?.[commandName] ?? `(no IAM action known for ${clientName} ${commandName})`;
}

/** The IAM actions one call needs: an AssumeRole that passes session tags needs `sts:TagSession` too. */
function iamActionsOfCall(clientName: string, commandName: string, input: Record<string, unknown> | undefined): string[] {
  const action = iamActionOf(clientName, commandName);
  return action === 'sts:AssumeRole' && Array.isArray(input?.Tags) && input.Tags.length > 0 ? [action, 'sts:TagSession'] : [action];
}

/**
 * Where the secrets send the upstream: an https origin, because the functions' own credential
 * parsing refuses plain http in Lambda (`allowLoopbackHttp: false` in functions/token/wiring.ts).
 * Calls to it reach the simulator's plain-http origin through `globalThis.fetch`, for the run only:
 * the stand-in for TLS termination, nothing else changes (method, path, query, headers, body).
 */
export const UPSTREAM_ORIGIN = 'https://ekuaibao.observed-run.test';
const REFRESHER_NAME = 'observed-run-warmer';
const TENANT_ROLE_ARN = 'arn:aws:iam::111122223333:role/observed-run-tenant-access';
const CREDENTIAL = { appKey: 'observed-app-key', appSecurity: 'observed-app-security', corporationId: 'OBSERVEDcorp' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let memo: Promise<ObservedRun> | undefined;

/** Runs once per test file (module registry), however many suites ask. */
export function observeRun(): Promise<ObservedRun> {
  memo ??= runObserved();
  return memo;
}

/** Which function's invocation is running: EMF lines and background work are attributed by it. */
const running = new AsyncLocalStorage<EmittingFunction>();

async function runObserved(): Promise<ObservedRun> {
  const tableName = uniqueTableName('observed');
  const dynamoDbLocal = dynamoDbLocalEndpoint();
  await ensureTokenTable(dynamoDbLocal, tableName);
  const tokenEnvironment = functionEnvironment(SETTING_DEFAULTS, { tableName, refresherFunctionName: REFRESHER_NAME, tenantRoleArn: TENANT_ROLE_ARN });
  const warmerEnvironment = functionEnvironment(SETTING_DEFAULTS, { tableName, tenantRoleArn: TENANT_ROLE_ARN });
  const secretName = (tenantId: string) => `${SETTING_DEFAULTS.secretPrefix}${tenantId}`;
  const t = (name: string) => `observed-${name}`;
  const secret = JSON.stringify({ appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: UPSTREAM_ORIGIN });

  const closers: Array<() => Promise<unknown>> = [];
  const sent: Record<EmittingFunction | 'tenant', Map<string, Set<string>>> = { token: new Map(), warmer: new Map(), tenant: new Map() };
  const crossTenantCalls: string[] = [];
  const output = captureOutput();
  let restoreSdkEnvironment = () => {};
  let restoreFetch = () => {};
  const scenarios: string[] = [];
  try {
    const dynamoDb = await startDynamoDbProxy(dynamoDbLocal);
    closers.push(dynamoDb.close);
    const simulator = await startSimulator({ issueDelayMs: 0, tokenLifetimeMs: 2 * HOUR, credentials: [CREDENTIAL] });
    closers.push(() => simulator.close());
    const tenants = ['fresh', 'down', 'doubt', 'inval', 'wait', 'unstored', 'due', 'fallback', 'stale', 'trigger', 'warm'].map(t);
    // Every tenant but `observed-nobody` has a secret.
    const secrets = await startSecretsStub(new Map(tenants.map((tenant) => [secretName(tenant), secret])));
    closers.push(secrets.close);
    const sts = await startStsStub();
    closers.push(sts.close);
    restoreFetch = routeUpstream(simulator);

    // What the SDK reads when a client is built with no endpoint: Lambda sets region and
    // credentials; the endpoints point the functions' own clients at the engines above. (DynamoDB
    // Local runs with -sharedDb: one set of tables for every access key, as in one account.)
    const local = localDynamoDbConfig(dynamoDbLocal);
    restoreSdkEnvironment = setEnvironment({
      AWS_REGION: local.region,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_ENDPOINT_URL: undefined,
      AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDb.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: undefined, // set once the stand-in listens
      AWS_ENDPOINT_URL_STS: sts.endpoint,
    });

    const recorder = (fn: EmittingFunction): Tracing => ({
      tracer: {
        captureAWSv3Client<T>(client: T): T {
          (client as unknown as SdkClient).middlewareStack.add(
            (next, context) => async (args) => {
              const command = `${context.clientName} ${context.commandName}`;
              const input = (args as { input?: Record<string, unknown> }).input;
              // Whose credentials sign it: a tenant session (the stand-in names its tenant in the key) or the role's own.
              const { accessKeyId } = await (client as unknown as { config: { credentials: () => Promise<{ accessKeyId: string }> } }).config.credentials();
              const sessionTenant = tenantOfAccessKeyId(accessKeyId);
              const principal = sessionTenant === undefined ? fn : 'tenant';
              const actions = sent[principal].get(command) ?? new Set<string>();
              for (const a of iamActionsOfCall(String(context.clientName), String(context.commandName), input)) actions.add(a);
              sent[principal].set(command, actions);
              const touched = touchedTenant(input);
              if (sessionTenant !== undefined && touched !== sessionTenant) crossTenantCalls.push(`${command} for ${touched} with ${sessionTenant}'s session`);
              return next(args);
            },
            { step: 'initialize', name: 'observedRunRecorder', priority: 'high' },
          );
          return client;
        },
      } as unknown as Tracer,
      middleware: { before: async () => {} } as unknown as Tracing['middleware'],
    });

    // The warmer: one container, taking its events one at a time like a Lambda container.
    const warmerHandler = build(warmerEnvironment, () => createWarmerHandler(recorder('warmer')));
    let warmerQueue: Promise<unknown> = Promise.resolve();
    const invokeWarmer = (event: unknown): Promise<WarmerCounts> => {
      const result = warmerQueue.then(() =>
        running.run('warmer', () => warmerHandler(event as never, localLambdaContext(5 * MINUTE)) as Promise<WarmerCounts>),
      );
      warmerQueue = result.catch(() => {});
      return result;
    };
    const lambda = await startLambdaStandIn(REFRESHER_NAME, invokeWarmer);
    closers.push(lambda.close);
    process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;
    // The trigger loads the Lambda SDK on its first request and gives the hand-off 1 s: load it now,
    // as a warm container has, so that jest's first import cannot turn the first hand-off into a timeout.
    await import('../../functions/adapters/lambda-sdk');

    const tokenContainer = (overrides: Record<string, string> = {}) => {
      const handler = build({ ...tokenEnvironment, ...overrides }, () => createTokenHandler(recorder('token')));
      return async (method: 'GET' | 'POST', path: string, body = ''): Promise<Answer> => {
        const event = toApiGatewayEvent(method, path, { 'content-type': 'application/json' }, body);
        const result = (await running.run('token', () => handler(event, localLambdaContext(29_000)))) as APIGatewayProxyResult;
        return { statusCode: result.statusCode, json: result.body === '' ? undefined : JSON.parse(result.body) };
      };
    };
    // Separate containers of the token function: Lambda runs one invocation per container at a time.
    const a = tokenContainer();
    const b = tokenContainer();
    // The same function with a short lease wait, so a wait can run out within the run.
    const impatient = tokenContainer({ LEASE_WAIT_MS: '200' });
    // The same function with a short request budget (the tests' override), so a store can keep failing until it ends.
    const hurried = tokenContainer({ REQUEST_BUDGET_MS: '1000' });

    const path = (tenant: string) => `/tenants/${tenant}/token`;
    const invalidatePath = (tenant: string) => `/tenants/${tenant}/token/invalidate`;
    const scenario = async (name: string, run: (check: Check) => Promise<void>) => {
      const check: Check = (ok, what) => {
        if (!ok) throw new Error(`observed run, scenario "${name}": expected ${what}`);
      };
      await run(check);
      scenarios.push(name);
    };
    const expectAnswer = (check: Check, answer: Answer, status: number, code?: string) =>
      check(answer.statusCode === status && (code === undefined || answer.json?.error?.code === code),
        `HTTP ${status}${code ? ` ${code}` : ''}, got ${answer.statusCode} ${JSON.stringify(answer.json)}`);

    await scenario('client errors: a bad tenant id, an unknown tenant, a bad invalidate body', async (check) => {
      expectAnswer(check, await a('GET', path('-bad')), 400, 'INVALID_TENANT_ID');
      expectAnswer(check, await a('GET', path('observed-nobody')), 404, 'TENANT_NOT_FOUND');
      expectAnswer(check, await a('POST', invalidatePath(t('fresh')), 'not json'), 400, 'INVALID_REQUEST_BODY');
    });

    await scenario('cold fetch, then a table hit from another container', async (check) => {
      const first = await a('GET', path(t('fresh')));
      expectAnswer(check, first, 200);
      const second = await b('GET', path(t('fresh')));
      check(second.json?.accessToken === first.json?.accessToken, 'the stored token');
    });

    await scenario('the upstream is down: every attempt fails, the caller gets 503', async (check) => {
      simulator.injectFault({ endpoint: 'getAccessToken', mode: 'status', status: 503, times: SETTING_DEFAULTS.upstreamMaxAttempts });
      expectAnswer(check, await a('GET', path(t('down'))), 503, 'UPSTREAM_UNAVAILABLE');
    });

    await scenario('a holder died with the lease: the token is in doubt, refresh is refused, getAccessToken replaces it', async (check) => {
      const before = await a('GET', path(t('doubt')));
      expectAnswer(check, before, 200);
      await abandonLease(dynamoDbLocal, tableName, t('doubt'));
      simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: 403, times: 1 });
      const rejectedBefore = simulator.counters().rejected;
      const after = await a('GET', path(t('doubt')));
      expectAnswer(check, after, 200);
      check(after.json.accessToken !== before.json.accessToken, 'a new token');
      check(simulator.counters().rejected === rejectedBefore + 1, 'the refresh to be refused once');
    });

    await scenario('invalidations: the current token, a stale report, then one too soon', async (check) => {
      const first = await a('GET', path(t('inval')));
      const retired = await a('POST', invalidatePath(t('inval')), JSON.stringify({ accessToken: first.json.accessToken }));
      expectAnswer(check, retired, 200);
      check(retired.json.accessToken !== first.json.accessToken, 'a replacement');
      const stale = await b('POST', invalidatePath(t('inval')), JSON.stringify({ accessToken: first.json.accessToken }));
      check(stale.statusCode === 200 && stale.json.accessToken === retired.json.accessToken, 'the current token for a stale report');
      const tooSoon = await b('POST', invalidatePath(t('inval')), JSON.stringify({ accessToken: retired.json.accessToken }));
      expectAnswer(check, tooSoon, 429, 'INVALIDATION_RATE_LIMITED');
    });

    await scenario('lease waits: one container waits for another’s fetch and is served, one gives up', async (check) => {
      simulator.configure({ issueDelayMs: 1200 });
      try {
        const holding = a('GET', path(t('wait')));
        // Both others start once the holder's lease is in the table, so that they wait on it.
        await leaseTaken(dynamoDbLocal, tableName, t('wait'));
        const [holder, waiter, gaveUp] = await Promise.all([holding, b('GET', path(t('wait'))), impatient('GET', path(t('wait')))]);
        expectAnswer(check, holder, 200);
        check(waiter.statusCode === 200 && waiter.json.accessToken === holder.json.accessToken, 'the waiter to get the holder’s token');
        expectAnswer(check, gaveUp, 503, 'TOKEN_REFRESH_IN_PROGRESS');
      } finally {
        simulator.configure({ issueDelayMs: 0 });
      }
    });

    await scenario('DynamoDB fails every store: the holder retries, then hands its token out unstored', async (check) => {
      const fault = dynamoDb.fail({ tenantId: t('unstored'), updatePrefix: 'SET #accessToken', error: 'InternalServerError' });
      try {
        expectAnswer(check, await hurried('GET', path(t('unstored'))), 200);
        check(fault.hits() > 1, 'the store to fail more than once');
      } finally {
        fault.clear();
      }
    });

    await scenario('cold fetches of tokens that are in their refresh window from the start', async (check) => {
      // They live 10 minutes: servable (the safety margin is 5) and due for a refresh (the window is 15).
      simulator.configure({ tokenLifetimeMs: 10 * MINUTE });
      for (const name of ['due', 'fallback', 'stale', 'trigger']) expectAnswer(check, await a('GET', path(t(name))), 200);
      check((await lambda.drain()).length === 0, 'no refresh requested by a fetch');
    });

    await scenario('a token in its refresh window: served, and the refresh handed to the warmer (Lambda Invoke)', async (check) => {
      expectAnswer(check, await a('GET', path(t('due'))), 200);
      const [invocation] = await lambda.drain();
      check(invocation?.result?.refreshed === 1, `the warmer to refresh it, got ${JSON.stringify(invocation)}`);
    });

    await scenario('the warmer’s refresh is refused (403): it falls back to getAccessToken', async (check) => {
      simulator.injectFault({ endpoint: 'refreshToken', mode: 'status', status: 403, times: 1 });
      await a('GET', path(t('fallback')));
      const [invocation] = await lambda.drain();
      check(invocation?.result?.refreshed === 1, `the warmer to refresh it, got ${JSON.stringify(invocation)}`);
    });

    await scenario('the warmer’s refresh fails on every attempt: callers are served the still-valid token', async (check) => {
      simulator.injectFault({ endpoint: '*', mode: 'status', status: 500, times: SETTING_DEFAULTS.upstreamMaxAttempts });
      const served = await a('GET', path(t('stale')));
      const [invocation] = await lambda.drain();
      check(invocation?.result?.failed === 1, `the warmer to fail, got ${JSON.stringify(invocation)}`);
      const stale = await b('GET', path(t('stale')));
      check(stale.statusCode === 200 && stale.json.accessToken === served.json.accessToken, 'the same token, served stale');
    });

    await scenario('the refresh hand-off fails (the warmer function is missing): the token is still served', async (check) => {
      lambda.failNext();
      expectAnswer(check, await a('GET', path(t('trigger'))), 200);
      check((await lambda.drain()).length === 0, 'no warmer invocation');
    });

    await scenario('the warmer’s scheduled run refreshes every token due before the next run, retrying a failed store', async (check) => {
      simulator.configure({ tokenLifetimeMs: 20 * MINUTE });
      expectAnswer(check, await a('GET', path(t('warm'))), 200);
      // Not an outage: one write refused because an item is in a transaction; its outcome is unknown.
      const fault = dynamoDb.fail({ tenantId: t('warm'), updatePrefix: 'SET #accessToken', error: 'TransactionConflictException', times: 1 });
      const counts = await invokeWarmer(scheduledEvent());
      check(fault.hits() === 1, 'the store to fail once');
      check(counts.failed === 0 && counts.refreshed >= 2, `refreshes and no failures, got ${JSON.stringify(counts)}`);
    });

    await scenario('the warmer ignores a refresh request with an invalid tenant id', async (check) => {
      const counts = await invokeWarmer({ tenantId: '../other' });
      check(counts.failed === 1, `one failure, got ${JSON.stringify(counts)}`);
    });
  } catch (error) {
    const tail = output.lines().slice(-40).map((l) => `  [${l.fn ?? '-'}] ${l.line}`).join('\n');
    throw new Error(`${(error as Error).message}\nlast output:\n${tail}`, { cause: error });
  } finally {
    output.restore();
    restoreFetch();
    restoreSdkEnvironment();
    for (const close of closers.reverse()) await close().catch(() => {});
  }

  const emitted: Array<EmittedMetrics & { fn?: EmittingFunction }> = [];
  for (const { fn, line } of output.lines()) {
    if (!line.startsWith('{')) continue;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const directives = (json._aws as { CloudWatchMetrics?: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } | undefined)
      ?.CloudWatchMetrics;
    for (const d of directives ?? []) {
      const dimensionValues = Object.fromEntries(d.Dimensions.flat().map((name) => [name, String(json[name])]));
      emitted.push({ fn, namespace: d.Namespace, dimensions: d.Dimensions, dimensionValues, names: d.Metrics.map((m) => m.Name) });
    }
  }
  const unattributed = emitted.filter((e) => e.fn === undefined);
  if (unattributed.length > 0) throw new Error(`observed run: metrics published outside any invocation: ${JSON.stringify(unattributed)}`);
  const metricsOf = (fn: EmittingFunction) => sortedUnique(emitted.filter((e) => e.fn === fn).flatMap((e) => e.names));
  return {
    actions: { token: sortedUnique([...sent.token.values()].flatMap((a) => [...a])), warmer: sortedUnique([...sent.warmer.values()].flatMap((a) => [...a])) },
    commands: { token: sortedUnique([...sent.token.keys()]), warmer: sortedUnique([...sent.warmer.keys()]) },
    tenantActions: sortedUnique([...sent.tenant.values()].flatMap((a) => [...a])),
    tenantCommands: sortedUnique([...sent.tenant.keys()]),
    crossTenantCalls,
    metrics: { token: metricsOf('token'), warmer: metricsOf('warmer') },
    emitted: emitted.map(({ namespace, dimensions, dimensionValues, names }) => ({ namespace, dimensions, dimensionValues, names })),
    scenarios,
  };
}

type Check = (ok: boolean, what: string) => void;

interface Answer {
  readonly statusCode: number;
  readonly json: any;
}

interface WarmerCounts {
  readonly refreshed: number;
  readonly skipped: number;
  readonly failed: number;
}

/** The part of an SDK client the recorder uses (typed here: @smithy/types is not a dependency of ours). */
interface SdkClient {
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { clientName?: string; commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string; priority: 'high' },
    ): void;
  };
}

/** The tenant a call is about: its item key or its secret's name; undefined for a Scan, an Invoke, an AssumeRole. */
function touchedTenant(input: Record<string, unknown> | undefined): string | undefined {
  const key = input?.Key as { tenantId?: unknown } | undefined;
  if (key !== undefined) return String((key.tenantId as { S?: string } | undefined)?.S ?? key.tenantId);
  if (typeof input?.SecretId === 'string') return input.SecretId.slice(SETTING_DEFAULTS.secretPrefix.length);
  return undefined;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sets environment variables (undefined: unset) and returns what puts them back. The handler
 * factories read theirs once, when built; the SDK reads its own when a client first sends.
 */
function setEnvironment(vars: Record<string, string | undefined>): () => void {
  const previous = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(vars);
  return () => apply(previous);
}

/** Builds a handler with `environment` as its Lambda environment (plus what Powertools needs to publish). */
function build<T>(environment: Record<string, string | undefined>, factory: () => T): T {
  const restore = setEnvironment({
    ...environment,
    // Publish EMF to stdout as in Lambda: not disabled, not the dev console.
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_DEV: undefined,
  });
  try {
    return factory();
  } finally {
    restore();
  }
}

/** Everything written to stdout and stderr until `restore`, with the function whose invocation wrote it. */
function captureOutput() {
  const chunks: Array<{ fn: EmittingFunction | undefined; text: string }> = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const capture = function (chunk: unknown) {
    chunks.push({
      fn: running.getStore(),
      text: typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
    });
    return true;
  } as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  return {
    lines: () => chunks.flatMap(({ fn, text }) => text.split('\n').filter((line) => line !== '').map((line) => ({ fn, line }))),
    restore: () => {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    },
  };
}

/** Sends calls for `UPSTREAM_ORIGIN` to the simulator; returns what restores `fetch`. */
function routeUpstream(simulator: Simulator): () => void {
  const realFetch = globalThis.fetch;
  globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(`${UPSTREAM_ORIGIN}/`)) return realFetch(`${simulator.baseUrl}${url.slice(UPSTREAM_ORIGIN.length)}`, init);
    return realFetch(input, init);
  }) as typeof fetch;
  return () => {
    globalThis.fetch = realFetch;
  };
}

/** An EventBridge scheduled event, as the warmer's rule sends it. */
function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/observed-run-warmer-schedule'],
    detail: {},
  };
}

/** Reads a tenant's item the way an operator would, outside the functions (not recorded). */
async function readItem(endpoint: string, tableName: string, tenantId: string) {
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  try {
    const key = { [TABLE_ATTRIBUTES.tenantId]: { S: tenantId } };
    return (await client.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;
  } finally {
    client.destroy();
  }
}

/** Resolves once somebody holds the tenant's lease. */
async function leaseTaken(endpoint: string, tableName: string, tenantId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await readItem(endpoint, tableName, tenantId))?.[TABLE_ATTRIBUTES.leaseOwner]?.S === undefined) {
    if (Date.now() > deadline) throw new Error(`observed run: nobody took the lease of ${tenantId}`);
    await sleep(10);
  }
}

/** What a container that died holding the tenant's lease leaves behind (set up outside the functions). */
async function abandonLease(endpoint: string, tableName: string, tenantId: string): Promise<void> {
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  try {
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [TABLE_ATTRIBUTES.tenantId]: { S: tenantId } },
        UpdateExpression: 'SET #owner = :owner, #expires = :expired',
        ConditionExpression: 'attribute_exists(#token)',
        ExpressionAttributeNames: {
          '#owner': TABLE_ATTRIBUTES.leaseOwner,
          '#expires': TABLE_ATTRIBUTES.leaseExpiresAt,
          '#token': TABLE_ATTRIBUTES.accessToken,
        },
        ExpressionAttributeValues: { ':owner': { S: 'a-container-that-died' }, ':expired': { N: String(Date.now() - 1000) } },
      }),
    );
  } finally {
    client.destroy();
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface DynamoDbFaultSpec {
  /** The item the failing UpdateItem writes. */
  readonly tenantId: string;
  /** How its UpdateExpression starts, e.g. `SET #accessToken` (a holder's store). */
  readonly updatePrefix: string;
  /** InternalServerError: 500, which the SDK retries; TransactionConflictException: 400, which it does not. */
  readonly error: 'InternalServerError' | 'TransactionConflictException';
  /** Requests to fail; default: until cleared. */
  readonly times?: number;
}

/**
 * A proxy in front of DynamoDB Local that forwards every request untouched, except the UpdateItem
 * requests a fault names, which it answers with DynamoDB's own error instead.
 */
async function startDynamoDbProxy(target: string) {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const faults: Array<DynamoDbFaultSpec & { remaining: number; hits: number }> = [];

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop();
    const fault = operation === 'UpdateItem' ? faults.find((f) => f.remaining > 0 && matches(f, body)) : undefined;
    if (fault) {
      fault.remaining--;
      fault.hits++;
      const text = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${fault.error}`, message: 'injected by the observed run' });
      res.writeHead(fault.error === 'InternalServerError' ? 500 : 400, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(Buffer.byteLength(text)),
        'x-amzn-requestid': randomUUID(),
      });
      res.end(text);
      return;
    }
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    out.end(body);
  }

  function matches(fault: DynamoDbFaultSpec, body: Buffer): boolean {
    try {
      const input = JSON.parse(body.toString('utf8')) as { Key?: Record<string, { S?: string }>; UpdateExpression?: string };
      return input.Key?.[TABLE_ATTRIBUTES.tenantId]?.S === fault.tenantId && (input.UpdateExpression ?? '').startsWith(fault.updatePrefix);
    } catch {
      return false;
    }
  }

  const server: LoopbackServer = await listenOnLoopback((req, res) => void forward(req, res));
  return {
    endpoint: server.endpoint,
    fail(spec: DynamoDbFaultSpec) {
      const fault = { ...spec, remaining: spec.times ?? Number.POSITIVE_INFINITY, hits: 0 };
      faults.push(fault);
      return { hits: () => fault.hits, clear: () => void (fault.remaining = 0) };
    },
    close: async () => {
      await server.close();
      agent.destroy();
    },
  };
}

/**
 * A stand-in for Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`) that knows
 * one function: it accepts asynchronous invocations (`X-Amz-Invocation-Type: Event`) with 202, as
 * Lambda does, then runs the event through `invoke`. `failNext` makes the next one fail as if the
 * function did not exist.
 */
async function startLambdaStandIn(functionName: string, invoke: (event: unknown) => Promise<WarmerCounts>) {
  let failNext = false;
  let pending: Array<Promise<{ event: unknown; result?: WarmerCounts; error?: string }>> = [];

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(new URL(req.url ?? '/', 'http://stand-in').pathname);
    const name = match ? decodeURIComponent(match[1]!) : undefined;
    if (req.method !== 'POST' || name !== functionName || failNext) {
      failNext = false;
      return sendLambdaError(res, 404, 'ResourceNotFoundException', `Function not found: ${name}`);
    }
    if (req.headers['x-amz-invocation-type'] !== 'Event') {
      return sendLambdaError(res, 400, 'InvalidParameterValueException', 'the stand-in takes asynchronous invocations only');
    }
    const event = JSON.parse(body.toString('utf8')) as unknown;
    res.writeHead(202, { 'content-length': '0', 'x-amzn-requestid': randomUUID() });
    res.end();
    pending.push(
      invoke(event).then(
        (result) => ({ event, result }),
        (error: unknown) => ({ event, error: String(error) }),
      ),
    );
  }

  const server = await listenOnLoopback((req, res) => void answer(req, res));
  return {
    endpoint: server.endpoint,
    failNext: () => void (failNext = true),
    /** Waits for the invocations accepted so far to finish, and hands them over. */
    async drain() {
      const taken = pending;
      pending = [];
      return Promise.all(taken);
    },
    close: server.close,
  };
}

function sendLambdaError(res: ServerResponse, status: number, type: string, message: string): void {
  const text = JSON.stringify({ Type: 'User', Message: message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'x-amzn-errortype': type,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}
