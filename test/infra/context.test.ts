/**
 * The stack reads its settings from CDK context (`cdk deploy -c key=value`), rejects values it
 * cannot use, and keeps its logical ids whatever the values are.
 */
import { InvalidTokenVendingSetting } from '../../lib/errors';
import { CONTEXT_KEYS } from '../../lib/settings';
import { synthesize, type Synthesized } from './support/synth';
import { resourceAt } from './support/template';

const OVERRIDES: Record<string, string> = {
  secretPrefix: 'staging/ekuaibao/',
  defaultBaseUrl: 'https://dd2.hosecloud.com',
  locationBaseUrl: 'https://location.example.com',
  v3AuthBaseUrl: 'https://open.example.com',
  safetyMarginSeconds: '120',
  refreshWindowSeconds: '600',
  upstreamTimeoutMs: '4000',
  upstreamMaxAttempts: '3',
  // With 3 attempts of 4 s the lease is 18.5 s, so at most 5.5 s of lease wait fit under 29 s.
  leaseWaitMs: '5000',
  secretMaxAgeSeconds: '60',
  refreshLifetimeDays: '0',
  invalidationMinIntervalSeconds: '120',
  traceAwsCalls: 'true',
  memorySize: '1024',
  logLevel: 'debug',
  serviceName: 'token-vending-staging',
  metricsNamespace: 'TokenVendingStaging',
  stageName: 'staging',
  throttlingRateLimit: '10',
  throttlingBurstLimit: '20',
  logRetentionDays: '731',
  warmerIntervalMinutes: '3',
};

let standard: Synthesized;
let overridden: Synthesized;

beforeAll(() => {
  standard = synthesize();
  overridden = synthesize(OVERRIDES);
});

test('every documented context key is read', () => {
  expect([...CONTEXT_KEYS].sort()).toEqual(
    [...Object.keys(OVERRIDES), 'stackName', 'secretsKmsKeyArns', 'allowedAccountIds', 'privateVpcEndpointIds', 'wafRateLimit', 'alarmEmail', 'retainOnDelete', 'manageApiGatewayAccountRole', 'tenantRateLimit', 'vpcId', 'subnetIds', 'securityGroupIds'].sort(),
  );
});

test('stackName names the stack (one stack per environment in one account)', () => {
  expect(standard.stack.stackName).toBe('EkuaibaoTokenVending');
  expect(synthesize({ stackName: 'TokenVendingStaging' }).stack.stackName).toBe('TokenVendingStaging');
});

test('context values reach the functions and the API', () => {
  const fn = resourceAt(overridden.json, 'TokenVending/TokenFunction/Function/Resource').resource.Properties!;
  expect(fn.MemorySize).toBe(1024);
  expect((fn.LoggingConfig as Record<string, unknown>).ApplicationLogLevel).toBe('DEBUG');
  expect((fn.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
    TENANT_SECRET_PREFIX: 'staging/ekuaibao/',
    DEFAULT_BASE_URL: 'https://dd2.hosecloud.com',
    LOCATION_BASE_URL: 'https://location.example.com',
    V3_AUTH_BASE_URL: 'https://open.example.com',
    SAFETY_MARGIN_SECONDS: '120',
    REFRESH_WINDOW_SECONDS: '600',
    UPSTREAM_TIMEOUT_MS: '4000',
    UPSTREAM_MAX_ATTEMPTS: '3',
    LEASE_WAIT_MS: '5000',
    SECRET_MAX_AGE_SECONDS: '60',
    REFRESH_LIFETIME_DAYS: '0',
    INVALIDATION_MIN_INTERVAL_SECONDS: '120',
    POWERTOOLS_SERVICE_NAME: 'token-vending-staging',
    POWERTOOLS_METRICS_NAMESPACE: 'TokenVendingStaging',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    WARMER_INTERVAL_MINUTES: '3',
  });
  overridden.template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'staging' });
  overridden.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 731 });
  overridden.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(3 minutes)' });
});

test('the network keys go together', () => {
  expect(() => synthesize({ vpcId: 'vpc-0a1b2c3d4e5f60718' })).toThrow(/"subnetIds": is needed too/);
  expect(() => synthesize({ subnetIds: 'subnet-0a1b2c3d4e5f60718', securityGroupIds: 'sg-0a1b2c3d4e5f60718' })).toThrow(/"vpcId": is needed too/);
});

test('cdk.json-style typed values are accepted too', () => {
  const typed = synthesize({ throttlingRateLimit: 7, retainOnDelete: false, allowedAccountIds: ['444455556666'] } as never);
  typed.template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
});

test.each([
  ['secretPrefix', 'tenants/*'],
  ['defaultBaseUrl', 'http://app.ekuaibao.com'],
  ['defaultBaseUrl', 'not a url'],
  ['locationBaseUrl', 'http://app.ekuaibao.com'],
  ['v3AuthBaseUrl', 'not a url'],
  ['throttlingRateLimit', 'fast'],
  ['upstreamMaxAttempts', '0'],
  ['logRetentionDays', '42'],
  ['logRetentionDays', '90'],
  ['secretPrefix', 'ekuaibao/tenants'],
  ['tenantRateLimit', '9'],
  ['vpcId', 'vpc-123'],
  ['subnetIds', 'subnet-0a1b2c3d4e5f60718, igw-0a1b2c3d'],
  ['securityGroupIds', 'default'],
  ['logLevel', 'chatty'],
  ['retainOnDelete', 'yes'],
  ['allowedAccountIds', '12345'],
  ['privateVpcEndpointIds', 'vpc-123'],
  ['secretsKmsKeyArns', 'alias/aws/secretsmanager'],
  ['wafRateLimit', '5'],
  ['alarmEmail', 'oncall'],
  ['refreshWindowSeconds', '100'],
])('rejects %s=%s, naming the key', (key, value) => {
  expect(() => synthesize({ [key]: value })).toThrow(InvalidTokenVendingSetting);
  expect(() => synthesize({ [key]: value })).toThrow(new RegExp(`"${key}`));
});

test('logical ids do not depend on setting values', () => {
  // The stage's id carries its name, and API Gateway deployments are meant to change with the
  // API; everything else in a stack keeps its id whatever the context says.
  const ids = (s: Synthesized) =>
    Object.keys(s.json.Resources).filter((id) => !/^TokenVendingApiDeployment/.test(id) && !/DeploymentStage/.test(id)).sort();
  const moved = ids(standard).filter((id) => !ids(overridden).includes(id));
  expect(moved).toEqual([]);
});

test('the main resources keep their logical ids', () => {
  const ids = Object.keys(standard.json.Resources);
  expect(ids).toEqual(
    expect.arrayContaining([
      'TokenVendingStoreTableKey100A7538',
      'TokenVendingStoreTable84567E6C',
      'TokenVendingTenantAccessRole567D5DBC',
      'TokenVendingTokenFunction8428528D',
      'TokenVendingWarmerFunction4359CE51',
      'TokenVendingWarmerScheduleFACA4BCB',
      'TokenVendingApiAFD464C2',
      'TokenVendingApiDeploymentStagev10738D6FB',
      'TokenVendingMonitoringDashboard9EED2853',
    ]),
  );
});
