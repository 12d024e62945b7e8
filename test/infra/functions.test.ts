import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LAMBDA_SDK_MODULE } from '../../contract/lazy-modules';
import { leaseDurationMs, REQUEST_OVERHEAD_MS, requestBudgetMs } from '../../contract/lease-timing';
import { loadConfig } from '../../functions/token/config';
import { InvalidTokenVendingSetting } from '../../lib/errors';
import { REPO_ROOT } from '../../lib/paths';
import { API_GATEWAY_INTEGRATION_TIMEOUT, TOKEN_VENDING_BUNDLING, tokenFunctionTimeout } from '../../lib/token-functions';
import { synthesize, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';

let standard: Synthesized;

beforeAll(() => {
  standard = synthesize();
});

const FUNCTIONS = ['TokenVending/TokenFunction/Function/Resource', 'TokenVending/WarmerFunction/Function/Resource'];

const environmentOf = (synth: Synthesized, path: string) =>
  (resourceAt(synth.json, path).resource.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;

describe.each(FUNCTIONS)('%s', (path) => {
  test('runs the newest Node runtime on arm64 with an ESM handler', () => {
    const { resource } = resourceAt(standard.json, path);
    expect(resource.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
    });
  });

  test('traces actively and logs JSON to its own log group with retention', () => {
    const { resource } = resourceAt(standard.json, path);
    const logGroup = resourceAt(standard.json, path.replace('Function/Resource', 'LogGroup/Resource'));
    expect(resource.Properties).toMatchObject({
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', LogGroup: { Ref: logGroup.logicalId } },
    });
    expect(logGroup.resource.Properties!.RetentionInDays).toBe(365);
    expect(render(logGroup.resource.Properties!.KmsKeyId)).toMatch(/^\$\{TokenVendingTelemetryKey\w+\.Arn\}$/);
    expect(logGroup.resource.DeletionPolicy).toBe('Retain');
  });

  test('gets every setting from the environment, and never traces the response', () => {
    const { resource } = resourceAt(standard.json, path);
    const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource').logicalId;
    const tenantRole = resourceAt(standard.json, 'TokenVending/TenantAccessRole/Role/Resource').logicalId;
    expect((resource.Properties!.Environment as { Variables: unknown }).Variables).toEqual({
      TABLE_NAME: { Ref: table },
      // Every tenant's secret and item is read with a session of this role (test/infra/tenant-isolation.test.ts).
      TENANT_ROLE_ARN: { 'Fn::GetAtt': [tenantRole, 'Arn'] },
      TENANT_SECRET_PREFIX: 'ekuaibao/tenants/',
      DEFAULT_BASE_URL: 'https://app.ekuaibao.com',
      LOCATION_BASE_URL: 'https://app.ekuaibao.com',
      V3_AUTH_BASE_URL: 'https://open.hosecloud.com',
      SAFETY_MARGIN_SECONDS: '300',
      REFRESH_WINDOW_SECONDS: '900',
      UPSTREAM_TIMEOUT_MS: '5000',
      UPSTREAM_MAX_ATTEMPTS: '2',
      LEASE_WAIT_MS: '8000',
      SECRET_MAX_AGE_SECONDS: '300',
      REFRESH_LIFETIME_DAYS: '1',
      INVALIDATION_MIN_INTERVAL_SECONDS: '30',
      POWERTOOLS_SERVICE_NAME: 'ekuaibao-token-vending',
      POWERTOOLS_METRICS_NAMESPACE: 'EkuaibaoTokenVending',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      WARMER_INTERVAL_MINUTES: '5',
      // The token function hands refreshes to the warmer; the warmer is where they run.
      ...(path === FUNCTIONS[0] ? { REFRESHER_FUNCTION_NAME: { Ref: resourceAt(standard.json, FUNCTIONS[1]!).logicalId } } : {}),
    });
  });

  test('the function accepts the environment the stack wrote, and reads the intended settings from it', () => {
    const env = Object.fromEntries(
      Object.entries(environmentOf(standard, path)).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k.toLowerCase()}`]),
    );
    const config = loadConfig(env);
    expect(config.tableName).toBe('resolved-table_name');
    expect(config.tenantRoleArn).toBe('resolved-tenant_role_arn');
    expect(config.vendor).toMatchObject({ safetyMarginMs: 300_000, refreshWindowMs: 900_000, leaseWaitMs: 8_000, requestBudgetMs: 25_500 });
    expect(config.warmHorizonMs).toBe(360_000);
    const overridden = synthesize({ upstreamTimeoutMs: '4000', upstreamMaxAttempts: '3', leaseWaitMs: '5000', warmerIntervalMinutes: '3', logLevel: 'debug' });
    const other = Object.fromEntries(
      Object.entries(environmentOf(overridden, path)).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k.toLowerCase()}`]),
    );
    const read = loadConfig(other);
    expect(read.settings).toMatchObject({ upstreamTimeoutMs: 4000, upstreamMaxAttempts: 3, leaseWaitMs: 5000, warmerIntervalMinutes: 3, logLevel: 'DEBUG' });
    expect(read.warmHorizonMs).toBe(240_000);
    // The Lambda's timeout covers the budget the function derived on its own.
    expect((resourceAt(overridden.json, path).resource.Properties!.Timeout as number) * 1000).toBeGreaterThan(read.vendor.requestBudgetMs);
  });

  test('has a role of its own with no managed policy (its grants are its own inline policy)', () => {
    const { resource } = resourceAt(standard.json, path);
    const role = resourceAt(standard.json, path.replace('Function/Resource', 'Role/Resource'));
    expect(render(resource.Properties!.Role)).toBe(`\${${role.logicalId}.Arn}`);
    expect(role.resource.Properties!.ManagedPolicyArns).toBeUndefined();
    standard.template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
  });
});

describe('timeouts', () => {
  test('the token function outlives its request budget and ends before API Gateway gives up', () => {
    const { resource } = resourceAt(standard.json, FUNCTIONS[0]!);
    const timeoutSeconds = resource.Properties!.Timeout as number;
    const env = environmentOf(standard, FUNCTIONS[0]!);
    const budget = loadConfig({ ...(env as Record<string, string>), TABLE_NAME: 'resolved', REFRESHER_FUNCTION_NAME: 'resolved', TENANT_ROLE_ARN: 'resolved' }).vendor.requestBudgetMs;
    // lease wait 8 s + lease 15.5 s (2 attempts x 5 s, 1 s backoff, 3 s store phase, 1 s guard,
    // 0.5 s slack) + 2 s overhead = 25.5 s; +2 s to answer = 27.5 s, rounded up to 28 s.
    expect(budget).toBe(25_500);
    expect(timeoutSeconds).toBe(28);
    expect(timeoutSeconds * 1000).toBeGreaterThan(budget);
    expect(timeoutSeconds).toBeLessThan(API_GATEWAY_INTEGRATION_TIMEOUT.toSeconds());
  });

  test.each([
    { leaseWaitMs: 8000, upstreamTimeoutMs: 5000, upstreamMaxAttempts: 2 },
    { leaseWaitMs: 0, upstreamTimeoutMs: 5000, upstreamMaxAttempts: 3 },
    { leaseWaitMs: 2000, upstreamTimeoutMs: 100, upstreamMaxAttempts: 1 },
  ])('the budget is the lease wait plus the lease the function computes, plus overhead: %o', (settings) => {
    expect(requestBudgetMs(settings)).toBe(settings.leaseWaitMs + leaseDurationMs(settings) + REQUEST_OVERHEAD_MS);
  });

  test('grows with the upstream timeout and attempts', () => {
    expect(tokenFunctionTimeout({ leaseWaitMs: 6000, upstreamTimeoutMs: 6000, upstreamMaxAttempts: 2 }).toSeconds()).toBe(28);
    expect(tokenFunctionTimeout({ leaseWaitMs: 4000, upstreamTimeoutMs: 5000, upstreamMaxAttempts: 2 }).toSeconds()).toBe(24);
    expect(requestBudgetMs({ leaseWaitMs: 0, upstreamTimeoutMs: 5000, upstreamMaxAttempts: 3 })).toBe(
      0 + (15_000 + 2_000 + 3_000 + 1_000 + 500) + 2_000,
    );
  });

  test('refuses settings whose worst request cannot finish under API Gateway’s 29 s', () => {
    expect(() => tokenFunctionTimeout({ leaseWaitMs: 8000, upstreamTimeoutMs: 8000, upstreamMaxAttempts: 2 })).toThrow(
      InvalidTokenVendingSetting,
    );
    expect(() => synthesize({ upstreamMaxAttempts: '4' })).toThrow(/integration timeout/);
    // The function refuses the same values from its environment.
    expect(() => loadConfig({ TABLE_NAME: 't', UPSTREAM_MAX_ATTEMPTS: '4' })).toThrow(/LEASE_WAIT_MS: a request may take .* integration timeout/);
  });

  test('the default lease wait is the largest that fits, and the refusal says so, term by term', () => {
    expect(synthesize({ leaseWaitMs: '8500' }).json).toBeDefined();
    const refusal = () => synthesize({ leaseWaitMs: '8501' });
    expect(refusal).toThrow(InvalidTokenVendingSetting);
    expect(refusal).toThrow(
      'Invalid setting "leaseWaitMs": a request may take 28001 ms: lease wait 8501 + lease 15500 ' +
        '(2 x 5000 upstream timeout + 1 x 1000 backoff + 4500 store phase, guard and slack) + 2000 overhead + 2000 to answer, ' +
        "which does not fit under API Gateway's 29 s integration timeout; with these upstream settings leaseWaitMs may be at most 8500",
    );
  });

  test('when the upstream settings alone do not fit, the refusal says which to lower', () => {
    expect(() => tokenFunctionTimeout({ leaseWaitMs: 0, upstreamTimeoutMs: 10_000, upstreamMaxAttempts: 3 })).toThrow(
      /the upstream settings alone do not fit: lower upstreamTimeoutMs or upstreamMaxAttempts$/,
    );
  });

  test('the warmer may use its whole interval', () => {
    const { resource } = resourceAt(standard.json, FUNCTIONS[1]!);
    expect(resource.Properties!.Timeout).toBe(300);
  });
});

describe('refreshes handed to the warmer', () => {
  test('the token function knows the warmer by name; the warmer is not told of itself', () => {
    const warmer = resourceAt(standard.json, FUNCTIONS[1]!).logicalId;
    expect(environmentOf(standard, FUNCTIONS[0]!).REFRESHER_FUNCTION_NAME).toEqual({ Ref: warmer });
    expect(environmentOf(standard, FUNCTIONS[1]!)).not.toHaveProperty('REFRESHER_FUNCTION_NAME');
  });

  test('the warmer drops asynchronous events after a minute and never retries them', () => {
    const warmer = resourceAt(standard.json, FUNCTIONS[1]!).logicalId;
    standard.template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
    standard.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: warmer },
      Qualifier: '$LATEST',
      MaximumEventAgeInSeconds: 60,
      MaximumRetryAttempts: 0,
    });
  });

  test('the schedule keeps its own delivery retries, separate from the warmer’s asynchronous settings', () => {
    const warmer = resourceAt(standard.json, FUNCTIONS[1]!).logicalId;
    const rule = resourceAt(standard.json, 'TokenVending/WarmerSchedule/Resource').resource;
    expect(rule.Properties!.Targets).toEqual([
      expect.objectContaining({ Arn: { 'Fn::GetAtt': [warmer, 'Arn'] }, RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 2 } }),
    ]);
    // EventBridge may still invoke the warmer: the async settings are no resource policy of their own.
    standard.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [warmer, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
  });
});

describe('warmer schedule', () => {
  test('runs the warmer every 5 minutes by default', () => {
    const warmer = resourceAt(standard.json, FUNCTIONS[1]!).logicalId;
    standard.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [warmer, 'Arn'] }, RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 2 } })],
    });
  });

  test('follows warmerIntervalMinutes, and tells the warmer how far ahead to look', () => {
    const tenMinutes = synthesize({ warmerIntervalMinutes: '10' });
    tenMinutes.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    const env = environmentOf(tenMinutes, FUNCTIONS[1]!) as Record<string, string>;
    expect(loadConfig({ ...env, TABLE_NAME: 'resolved', TENANT_ROLE_ARN: 'resolved' }).warmHorizonMs).toBe(660_000);
  });
});

describe('bundling', () => {
  test('produces minified ESM files with source maps and the AWS SDK inside, built locally', () => {
    expect(TOKEN_VENDING_BUNDLING).toMatchObject({
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      // Naming calls at import cost cold start; the service's errors name themselves.
      keepNames: false,
      sourceMap: true,
      sourcesContent: false,
      // Only the lazy modules, which are files of their own in the asset; nothing is left to a node_modules.
      externalModules: [LAMBDA_SDK_MODULE],
      bundleAwsSDK: true,
      forceDockerBundling: false,
    });
    // CommonJS dependencies (the X-Ray SDK under Powertools Tracer) need a real `require` in ESM.
    expect(TOKEN_VENDING_BUNDLING.banner).toBe(
      "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    );
  });

  test('bundles each lazy module beside index.mjs with the same esbuild options, under the name the code imports it by', () => {
    const hooks = TOKEN_VENDING_BUNDLING.commandHooks!;
    expect(hooks.beforeBundling(REPO_ROOT, '/tmp/out dir')).toEqual([]);
    const [bundle, packageJson, ...more] = hooks.afterBundling(REPO_ROOT, '/tmp/out dir');
    expect(more).toEqual([]);
    // The words bash runs (commandHooks run through `bash -c`): quoting keeps the banner and the space whole.
    const words = spawnSync('bash', ['-c', `printf '%s\\0' ${bundle}`], { encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
    // The project's esbuild, as NodejsFunction runs it locally.
    expect(words.slice(0, 5)).toEqual(['npx', '--no-install', 'esbuild', '--bundle', path.join(REPO_ROOT, 'functions', 'adapters', 'lambda-sdk.ts')]);
    expect(words.slice(5).sort()).toEqual(
      [
        `--outfile=/tmp/out dir/${path.basename(LAMBDA_SDK_MODULE)}`,
        '--platform=node',
        '--format=esm',
        '--target=node24',
        '--main-fields=module,main',
        `--banner:js=${TOKEN_VENDING_BUNDLING.banner}`,
        '--minify',
        '--sourcemap',
        '--sources-content=false',
      ].sort(),
    );
    expect(packageJson).toBe(`'echo' '{"type":"module"}' > '/tmp/out dir/package.json'`);
    // In Docker, the image's esbuild and the mounted input folder.
    expect(hooks.afterBundling('/asset-input', '/asset-output')[0]).toMatch(/^'esbuild' '--bundle' '\/asset-input\/functions\/adapters\/lambda-sdk\.ts'/);
  });
});
