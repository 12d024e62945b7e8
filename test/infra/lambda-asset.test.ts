/**
 * The token function's asset, exactly as CDK uploads it, runs on its own: its folder copied whole,
 * and alone, into an empty folder outside the repository (no node_modules anywhere above it) and
 * started the way Lambda starts it, with Node 24, its environment from the template and an API
 * Gateway event; and the refresh path between the two assets against loopback stand-ins for the
 * AWS APIs, tenant sessions (STS) included. The refresh request loads the Lambda client from its
 * own file in the asset (contract/lazy-modules.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startStsStub, type StsStub } from '../../bench/support/sts-stub';
import { TENANT_SESSION_DURATION_SECONDS, TENANT_SESSION_TAG, tenantSessionName } from '../../contract/tenant-session';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { credentialFingerprint } from '../../functions/domain/fingerprint';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LAMBDA_SDK_MODULE } from '../../contract/lazy-modules';
import { synthesize, type TemplateJson } from './support/synth';

interface FunctionUnderTest {
  /** The copied asset: Lambda's /var/task. */
  readonly taskRoot: string;
  readonly handlerFile: string;
  readonly handlerExport: string;
  readonly env: Record<string, string>;
}

interface Invocation {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly result: unknown;
}

const RESULT_MARK = '@@RESULT@@';
let workDir: string;
let tokenFunction: FunctionUnderTest;
let warmerFunction: FunctionUnderTest;
/** The token function of a stack synthesized with `traceAwsCalls`. */
let tracedTokenFunction: FunctionUnderTest;

beforeAll(() => {
  const { json, assembly } = synthesize({}, { bundle: true });
  workDir = mkdtempSync(path.join(tmpdir(), 'token-vending-asset-'));
  tokenFunction = isolate(json, assembly.directory, 'TokenVending/TokenFunction/Function/Resource', 'token');
  warmerFunction = isolate(json, assembly.directory, 'TokenVending/WarmerFunction/Function/Resource', 'warmer');
  const traced = synthesize({ traceAwsCalls: true }, { bundle: true });
  tracedTokenFunction = isolate(traced.json, traced.assembly.directory, 'TokenVending/TokenFunction/Function/Resource', 'token-traced');
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** The lazy module's file in the asset: what the bundled `import()` of LAMBDA_SDK_MODULE loads. */
const LAMBDA_SDK_FILE = path.basename(LAMBDA_SDK_MODULE);

test('the asset is index.mjs and the lazily loaded Lambda client, each with its source map, and the package.json that makes the client ESM', () => {
  for (const fn of [tokenFunction, warmerFunction]) {
    expect(readdirSync(fn.taskRoot).sort()).toEqual(['index.mjs', 'index.mjs.map', LAMBDA_SDK_FILE, `${LAMBDA_SDK_FILE}.map`, 'package.json']);
    expect(fn.handlerFile).toBe('index.mjs');
    expect(JSON.parse(readFileSync(path.join(fn.taskRoot, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
    expect(ancestorsWithNodeModules(fn.taskRoot)).toEqual([]);
  }
});

test('index.mjs leaves the Lambda client to its own file, and imports that file by its name', () => {
  // The service shape and the Invoke path are client-lambda's own; the map names its sources.
  // (Matches, not whole files, in the expectations: a failure would print half a megabyte.)
  const lambdaClient = /AWSGirApiService|\/2015-03-31\/functions\//g;
  const found = (file: string, pattern: RegExp) => [...new Set(readFileSync(file, 'utf8').match(pattern) ?? [])];
  const sources = (file: string) => (JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] }).sources;
  const fromClientLambda = (file: string) => sources(file).filter((s) => s.includes('@aws-sdk/client-lambda/'));
  // The warmer's code holds the same import() (it never runs it): its asset is built the same way.
  for (const fn of [tokenFunction, warmerFunction, tracedTokenFunction]) {
    const index = path.join(fn.taskRoot, 'index.mjs');
    const split = path.join(fn.taskRoot, LAMBDA_SDK_FILE);
    expect(found(index, lambdaClient)).toEqual([]);
    expect(fromClientLambda(index)).toEqual([]);
    expect(found(index, new RegExp(JSON.stringify(LAMBDA_SDK_MODULE).replaceAll('.', '\\.'), 'g'))).toHaveLength(1);
    expect(found(split, lambdaClient).sort()).toEqual(['/2015-03-31/functions/', 'AWSGirApiService']);
    expect(fromClientLambda(split)).toContainEqual(expect.stringMatching(/commands\/InvokeCommand\.js$/));
    // Built as index.mjs is: the same banner first, a map beside it without the sources' text.
    const firstLine = (file: string) => readFileSync(file, 'utf8').split('\n', 1)[0];
    expect(firstLine(split)).toBe(firstLine(index));
    expect(readFileSync(split, 'utf8').trimEnd().split('\n').at(-1)).toBe(`//# sourceMappingURL=${LAMBDA_SDK_FILE}.map`);
    expect(JSON.parse(readFileSync(`${split}.map`, 'utf8'))).not.toHaveProperty('sourcesContent');
  }
});

test('the token asset imports alone in an empty folder', () => {
  const run = invoke(tokenFunction, undefined);
  expect(run.stderr).not.toMatch(/Dynamic require|ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  expect(run.status).toBe(0);
  expect(run.result).toEqual({ handlerType: 'function', node: expect.stringMatching(/^24\./) });
});

test('the warmer asset imports alone in an empty folder', () => {
  const run = invoke(warmerFunction, undefined);
  expect(run.stderr).not.toMatch(/Dynamic require|ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  expect(run.status).toBe(0);
  expect(run.result).toEqual({ handlerType: 'function', node: expect.stringMatching(/^24\./) });
});

test('answers GET /tenants/bad%20id/token with 400 INVALID_TENANT_ID, without touching AWS', () => {
  const run = invoke(tokenFunction, apiGatewayEvent('GET', '/tenants/{tenantId}/token', { tenantId: 'bad id' }));
  expect(run.stderr).not.toMatch(/Dynamic require/);
  expect(run.status).toBe(0);
  const response = run.result as { statusCode: number; body: string };
  expect(response.statusCode).toBe(400);
  const body = JSON.parse(response.body) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe('INVALID_TENANT_ID');
  // Minified without keepNames, the error still logs under its own name.
  expect(run.stdout).toContain('"errorName":"InvalidTenantId"');
});

describe('the refresh path, asset to asset', () => {
  // Loopback stand-ins for the AWS APIs the assets call, reached through the SDK's standard
  // per-service endpoint variables; DynamoDB is DynamoDB Local.
  let stubs: Server;
  let stubUrl: string;
  /** STS: the assets read the tenant's secret and item with a session of the template's tenant access role. */
  let sts: StsStub;
  const invocations: Array<{ path: string; type: string | undefined; body: string }> = [];
  const tableName = `asset-refresh-${Date.now()}`;
  const tenantSecret = JSON.stringify({ appKey: 'fake-app-key-asset', appSecurity: 'fake-app-security-asset', baseUrl: 'https://127.0.0.1:1' });

  beforeAll(async () => {
    stubs = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (req.headers['x-amz-target'] === 'secretsmanager.GetSecretValue') {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ Name: 'ekuaibao/tenants/acme', SecretString: tenantSecret, CreatedDate: 1_700_000_000, VersionStages: ['AWSCURRENT'] }));
          return;
        }
        if (req.url?.startsWith('/2015-03-31/functions/')) {
          invocations.push({ path: req.url, type: req.headers['x-amz-invocation-type'] as string | undefined, body });
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end();
          return;
        }
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException' }));
      });
    });
    await new Promise<void>((resolve) => stubs.listen(0, '127.0.0.1', resolve));
    stubUrl = `http://127.0.0.1:${(stubs.address() as AddressInfo).port}`;
    sts = await startStsStub();

    // A refresh-due token for tenant acme: 10 minutes left, inside the 15-minute window.
    const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT!;
    await ensureTokenTable(endpoint, tableName);
    const table = new DynamoTokenTable({ tableName, clientConfig: localDynamoDbConfig(endpoint) });
    const now = Date.now();
    const lease = { owner: 'seed', expiresAt: now + 10_000 };
    await table.acquireLease('acme', { lease, seenVersion: 0, now, credentialRank: 1_700_000_000_000, markTokenInDoubt: false, keepItemUntil: lease.expiresAt });
    await table.storeToken('acme', 'seed', {
      accessToken: 'fake-asset-access-token',
      refreshToken: 'fake-asset-refresh-token',
      expireTime: now + 10 * 60_000,
      corporationId: 'FAKEcorpASSET',
      issuedAt: now,
      fingerprint: credentialFingerprint({ appKey: 'fake-app-key-asset', appSecurity: '', baseUrl: 'https://127.0.0.1:1', authVersion: 'v1', rank: 0 }),
      credentialRank: 1_700_000_000_000,
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => stubs.close(() => resolve()));
    await sts?.close();
  });

  const localAws = () => ({
    TABLE_NAME: tableName,
    // DynamoDB Local keeps one database per access key and region: use the tests' own.
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: process.env.DYNAMODB_LOCAL_ENDPOINT!,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: stubUrl,
    AWS_ENDPOINT_URL_LAMBDA: stubUrl,
    AWS_ENDPOINT_URL_STS: sts.endpoint,
  });

  test('the token asset serves a refresh-due token at once and hands the refresh to the warmer asynchronously', async () => {
    const run = await invokeAsync(tokenFunction, apiGatewayEvent('GET', '/tenants/{tenantId}/token', { tenantId: 'acme' }), localAws());
    const response = run.result as { statusCode: number; body: string };
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).accessToken).toBe('fake-asset-access-token');
    expect(invocations).toHaveLength(1);
    // The function the stack named, invoked asynchronously, with the tenant and nothing else.
    expect(invocations[0]!.path).toBe(`/2015-03-31/functions/${encodeURIComponent(tokenFunction.env.REFRESHER_FUNCTION_NAME!)}/invocations`);
    expect(invocations[0]!.type).toBe('Event');
    expect(JSON.parse(invocations[0]!.body)).toEqual({ tenantId: 'acme' });
    // The secret and the item were read with a session of the role the template names, tagged with
    // the tenant alone, as the role's trust policy requires.
    expect(sts.calls).toContainEqual({
      roleArn: tokenFunction.env.TENANT_ROLE_ARN,
      sessionName: tenantSessionName('acme'),
      durationSeconds: TENANT_SESSION_DURATION_SECONDS,
      tags: { [TENANT_SESSION_TAG]: 'acme' },
    });
    // The function's own output (logs, EMF metrics) never holds the token; the harness's result line does.
    const ownOutput = run.stdout.split('\n').filter((line) => !line.startsWith(RESULT_MARK)).join('\n') + run.stderr;
    expect(ownOutput).toContain('RefreshTriggered');
    expect(ownOutput).not.toContain('fake-asset-access-token');
  });

  test('the default assets hold no X-Ray SDK; with traceAwsCalls the token asset loads it, still serves and records no token', async () => {
    // cls-hooked, which the X-Ray SDK loads, is what installs the async hooks on every promise.
    for (const fn of [tokenFunction, warmerFunction]) {
      for (const file of [fn.handlerFile, LAMBDA_SDK_FILE]) {
        expect(readFileSync(path.join(fn.taskRoot, file), 'utf8')).not.toMatch(/AWS_XRAY_CONTEXT_MISSING|cls-hooked/);
      }
    }
    const event = apiGatewayEvent('GET', '/tenants/{tenantId}/token', { tenantId: 'acme' });
    const plain = await invokeAsync(tokenFunction, event, { ...localAws(), REPORT_XRAY: '1' });
    expect(plain.result).toMatchObject({ response: { statusCode: 200 }, xrayLoaded: false });
    const traced = await invokeAsync(tracedTokenFunction, event, { ...localAws(), REPORT_XRAY: '1' });
    expect(traced.stderr).not.toMatch(/Dynamic require/);
    expect(traced.result).toMatchObject({ response: { statusCode: 200 }, xrayLoaded: true });
    const ownOutput = traced.stdout.split('\n').filter((line) => !line.startsWith(RESULT_MARK)).join('\n') + traced.stderr;
    expect(ownOutput).not.toContain('fake-asset-access-token');
  });

  test('the warmer asset handles the refresh request event for that tenant', async () => {
    // It takes the lease and calls the tenant's upstream (a closed loopback port here, so the
    // refresh fails), and reports the outcome; the token stays servable for callers.
    const run = await invokeAsync(warmerFunction, { tenantId: 'acme' }, localAws());
    expect(run.status).toBe(0);
    expect(run.result).toEqual({ refreshed: 0, skipped: 0, failed: 1 });
    expect(run.stdout).toContain('refresh request finished');
    expect(run.stdout).toContain('"operation":"refreshToken"');
    expect(run.stdout + run.stderr).not.toMatch(/fake-asset-(access|refresh)-token/);
    const after = await invokeAsync(tokenFunction, apiGatewayEvent('GET', '/tenants/{tenantId}/token', { tenantId: 'acme' }), localAws());
    expect(JSON.parse((after.result as { body: string }).body).accessToken).toBe('fake-asset-access-token');
  });
});

/** Like `invoke`, without blocking this process, so that loopback stubs here can answer. */
async function invokeAsync(fn: FunctionUnderTest, event: unknown, extraEnv: Record<string, string>): Promise<Invocation> {
  const script = invokeScript(fn);
  const cwd = path.join(path.dirname(fn.taskRoot), 'cwd');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { ...fn.env, ...extraEnv, TEST_EVENT: JSON.stringify(event) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const marked = stdout.split('\n').find((line) => line.startsWith(RESULT_MARK));
  if (status !== 0 || !marked) console.error(`exit ${status}\nstdout:\n${clip(stdout)}\nstderr:\n${clip(stderr)}`);
  return { status, stdout, stderr, result: marked ? JSON.parse(marked.slice(RESULT_MARK.length)) : undefined };
}

/** Copies one function's asset folder, and only it, into an empty folder under the OS temp dir. */
function isolate(json: TemplateJson, assemblyDir: string, pathSuffix: string, name: string): FunctionUnderTest {
  const entry = Object.values(json.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && String((r.Metadata as Record<string, unknown>)['aws:cdk:path']).endsWith(pathSuffix),
  );
  if (!entry) throw new Error(`no Lambda function at ${pathSuffix}`);
  const metadata = entry.Metadata as Record<string, string>;
  const props = entry.Properties as { Handler: string; Environment: { Variables: Record<string, unknown> }; MemorySize: number; Timeout: number };
  const source = path.join(assemblyDir, metadata['aws:asset:path']!);
  const taskRoot = path.join(workDir, name, 'task');
  cpSync(source, taskRoot, { recursive: true });
  mkdirSync(path.join(workDir, name, 'cwd'));

  const [module, handlerExport] = props.Handler.split('.') as [string, string];
  const handlerFile = [`${module}.mjs`, `${module}.js`].find((f) => existsSync(path.join(taskRoot, f)));
  if (!handlerFile) throw new Error(`no ${module}.mjs in the asset`);

  const fromTemplate = Object.fromEntries(
    Object.entries(props.Environment.Variables).map(([k, v]) => [k, typeof v === 'string' ? v : `placeholder-${k.toLowerCase()}`]),
  );
  const functionName = `token-vending-${name}`;
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    ...fromTemplate,
    // What the Lambda runtime sets; credentials are fake and nothing may reach AWS.
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFORTESTS0000',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
    AWS_SESSION_TOKEN: 'fake-session-token',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(props.MemorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/01/[$LATEST]0123456789abcdef',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    AWS_LAMBDA_LOG_LEVEL: 'INFO',
    LAMBDA_TASK_ROOT: taskRoot,
    _HANDLER: props.Handler,
    _X_AMZN_TRACE_ID: 'Root=1-65a1b2c3-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1',
    AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    FUNCTION_TIMEOUT_MS: String(props.Timeout * 1000),
  };
  return { taskRoot, handlerFile, handlerExport, env };
}

/** The script a fresh Node 24 process runs: import the handler; with TEST_EVENT, invoke it once. */
function invokeScript(fn: FunctionUnderTest): string {
  return `
    import { pathToFileURL } from 'node:url';
    import * as path from 'node:path';
    const mod = await import(pathToFileURL(path.join(process.env.LAMBDA_TASK_ROOT, ${JSON.stringify(fn.handlerFile)})).href);
    const handler = mod[${JSON.stringify(fn.handlerExport)}];
    let result = { handlerType: typeof handler, node: process.versions.node };
    if (process.env.TEST_EVENT) {
      const started = Date.now();
      const context = {
        awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
        functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
        memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
        logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
        callbackWaitsForEmptyEventLoop: true,
        getRemainingTimeInMillis: () => Number(process.env.FUNCTION_TIMEOUT_MS) - (Date.now() - started),
      };
      result = await handler(JSON.parse(process.env.TEST_EVENT), context);
    }
    // cls-hooked, which the X-Ray SDK loads, registers its namespaces on process.
    if (process.env.REPORT_XRAY) result = { response: result, xrayLoaded: typeof process.namespaces === 'object' };
    process.stdout.write('\\n${RESULT_MARK}' + JSON.stringify(result) + '\\n');
    process.exit(0);
  `;
}

/** Imports the handler in a fresh Node 24 process; with an event, invokes it once. */
function invoke(fn: FunctionUnderTest, event: unknown): Invocation {
  const script = invokeScript(fn);
  const cwd = path.join(path.dirname(fn.taskRoot), 'cwd');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { ...fn.env, ...(event === undefined ? {} : { TEST_EVENT: JSON.stringify(event) }) },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const marked = child.stdout.split('\n').find((line) => line.startsWith(RESULT_MARK));
  if (child.status !== 0 || !marked) {
    // Shown by Jest when an assertion below fails.
    console.error(`exit ${child.status}\nstdout:\n${clip(child.stdout)}\nstderr:\n${clip(child.stderr)}`);
  }
  return {
    status: child.status,
    stdout: child.stdout,
    stderr: child.stderr,
    result: marked ? JSON.parse(marked.slice(RESULT_MARK.length)) : undefined,
  };
}

function apiGatewayEvent(httpMethod: string, resource: string, pathParameters: Record<string, string>) {
  const path = resource.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(pathParameters[name] ?? ''));
  const headers = { Host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'User-Agent': 'lambda-asset-test' };
  return {
    resource,
    path,
    httpMethod,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters,
    stageVariables: null,
    requestContext: {
      accountId: '111122223333',
      apiId: 'abc123',
      resourceId: 'r1',
      resourcePath: resource,
      httpMethod,
      requestId: 'f1b2c3d4-0000-4000-8000-000000000001',
      extendedRequestId: 'Ab1CdEfGhIjKlM=',
      stage: 'v1',
      path: `/v1${path}`,
      protocol: 'HTTP/1.1',
      requestTimeEpoch: 1_700_000_000_000,
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      identity: {
        accountId: '111122223333',
        caller: 'AROAFAKE:caller',
        userArn: 'arn:aws:sts::111122223333:assumed-role/caller/session',
        sourceIp: '192.0.2.1',
        userAgent: 'lambda-asset-test',
      },
    },
    body: null,
    isBase64Encoded: false,
  };
}

/** Minified bundles put whole files on one line of a stack trace; keep the output readable. */
function clip(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.length > 300 ? `${line.slice(0, 300)}...` : line))
    .join('\n')
    .slice(-6000);
}

function ancestorsWithNodeModules(dir: string): string[] {
  const found: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'node_modules'))) found.push(d);
    if (path.dirname(d) === d) return found;
  }
}
