import { Match } from 'aws-cdk-lib/assertions';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { InvalidTokenVendingSetting } from '../../lib/errors';
import {
  API_GATEWAY_INTEGRATION_TIMEOUT,
  requestBudgetMs,
  TOKEN_VENDING_BUNDLING,
  tokenFunctionTimeout,
} from '../../lib/token-functions';
import { synthesize, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';

let standard: Synthesized;

beforeAll(() => {
  standard = synthesize();
});

const FUNCTIONS = ['TokenVending/TokenFunction/Function/Resource', 'TokenVending/WarmerFunction/Function/Resource'];

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
    expect(logGroup.resource.Properties!.RetentionInDays).toBe(90);
    expect(logGroup.resource.DeletionPolicy).toBe('Retain');
  });

  test('gets every setting from the environment, and never traces the response', () => {
    const { resource } = resourceAt(standard.json, path);
    const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource').logicalId;
    expect((resource.Properties!.Environment as { Variables: unknown }).Variables).toEqual({
      TABLE_NAME: { Ref: table },
      TENANT_SECRET_PREFIX: 'ekuaibao/tenants/',
      DEFAULT_BASE_URL: 'https://app.ekuaibao.com',
      SAFETY_MARGIN_SECONDS: '300',
      REFRESH_WINDOW_SECONDS: '900',
      UPSTREAM_TIMEOUT_MS: '5000',
      UPSTREAM_MAX_ATTEMPTS: '2',
      LEASE_WAIT_MS: '8000',
      SECRET_MAX_AGE_SECONDS: '300',
      REFRESH_LIFETIME_DAYS: '1',
      MEMORY_CACHE_SECONDS: '5',
      INVALIDATION_MIN_INTERVAL_SECONDS: '30',
      POWERTOOLS_SERVICE_NAME: 'ekuaibao-token-vending',
      POWERTOOLS_METRICS_NAMESPACE: 'EkuaibaoTokenVending',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      REQUEST_BUDGET_MS: '21000',
      WARM_HORIZON_SECONDS: '360',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  test('has a role of its own with no AWS managed policy', () => {
    const { resource } = resourceAt(standard.json, path);
    const role = resourceAt(standard.json, path.replace('Function/Resource', 'Role/Resource'));
    expect(render(resource.Properties!.Role)).toBe(`\${${role.logicalId}.Arn}`);
    const managed = (role.resource.Properties!.ManagedPolicyArns as unknown[]).map(render);
    expect(managed).toEqual([expect.stringMatching(/^\$\{TokenVendingStoreAccessPolicy\w+\}$/)]);
  });
});

describe('timeouts', () => {
  test('the token function outlives its request budget and ends before API Gateway gives up', () => {
    const { resource } = resourceAt(standard.json, FUNCTIONS[0]!);
    const timeoutSeconds = resource.Properties!.Timeout as number;
    const budget = Number((resource.Properties!.Environment as { Variables: Record<string, string> }).Variables.REQUEST_BUDGET_MS);
    // lease wait 8 s + 2 attempts x 5 s + 1 s backoff + 2 s overhead = 21 s; +2 s to answer.
    expect(budget).toBe(21_000);
    expect(timeoutSeconds).toBe(23);
    expect(timeoutSeconds * 1000).toBeGreaterThan(budget);
    expect(timeoutSeconds).toBeLessThan(API_GATEWAY_INTEGRATION_TIMEOUT.toSeconds());
  });

  test('grows with the upstream timeout and attempts', () => {
    expect(tokenFunctionTimeout({ leaseWaitMs: 8000, upstreamTimeoutMs: 6000, upstreamMaxAttempts: 2 }).toSeconds()).toBe(25);
    expect(requestBudgetMs({ leaseWaitMs: 0, upstreamTimeoutMs: 5000, upstreamMaxAttempts: 3 })).toBe(0 + 15_000 + 2_000 + 2_000);
  });

  test('refuses settings whose worst request cannot finish under API Gateway’s 29 s', () => {
    expect(() => tokenFunctionTimeout({ leaseWaitMs: 8000, upstreamTimeoutMs: 8000, upstreamMaxAttempts: 2 })).toThrow(
      InvalidTokenVendingSetting,
    );
    expect(() => synthesize({ upstreamMaxAttempts: '4' })).toThrow(/integration timeout/);
  });

  test('the warmer may use its whole interval', () => {
    const { resource } = resourceAt(standard.json, FUNCTIONS[1]!);
    expect(resource.Properties!.Timeout).toBe(300);
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
    const { resource } = resourceAt(tenMinutes.json, FUNCTIONS[1]!);
    expect((resource.Properties!.Environment as { Variables: Record<string, string> }).Variables.WARM_HORIZON_SECONDS).toBe('660');
  });
});

describe('bundling', () => {
  test('produces one minified ESM file with source maps and the AWS SDK inside, built locally', () => {
    expect(TOKEN_VENDING_BUNDLING).toMatchObject({
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      sourceMap: true,
      externalModules: [],
      bundleAwsSDK: true,
      forceDockerBundling: false,
    });
    // CommonJS dependencies (the X-Ray SDK under Powertools Tracer) need a real `require` in ESM.
    expect(TOKEN_VENDING_BUNDLING.banner).toBe(
      "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    );
  });
});
