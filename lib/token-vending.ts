import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, type IGrantable, PolicyStatement, Grant } from 'aws-cdk-lib/aws-iam';
import { ApplicationLogLevel, type EventInvokeConfigOptions } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type ISecurityGroup, type IVpc, type SubnetSelection, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import {
  functionEnvironment,
  type LogLevel,
  type ServiceSettings,
  SETTING_DEFAULTS,
  type SettingName,
  settingsProblems,
} from '../contract/settings';
import { isValidTenantId, TENANT_ID_PATTERN } from '../contract/tenant-id';
import { acknowledgeTokenVendingFindings } from './compliance';
import { InvalidTokenVendingSetting } from './errors';
import { FUNCTION_ENTRIES } from './paths';
import { TokenApi } from './token-api';
import { TelemetryKey } from './telemetry-key';
import { TenantAccessRole } from './tenant-access-role';
import { reservedPropsIn, TokenVendingFunction, type TokenVendingFunctionOverrides, tokenFunctionTimeout, warmerTimeout } from './token-functions';
import { TokenMonitoring } from './token-monitoring';
import { TokenStore } from './token-store';

/**
 * How Lambda treats the warmer's asynchronous invocations: the token function's refresh requests
 * (`{"tenantId"}`) and, since EventBridge invokes asynchronously too, the schedule's events. No
 * retries: a Lambda retry would arrive after the lease logic has moved on, and a failed refresh is
 * asked for again by the next caller in the refresh window or done by the next scheduled run. A
 * request that waited a minute in Lambda's queue is worthless and dropped.
 */
export const WARMER_ASYNC_INVOCATION = {
  retryAttempts: 0,
  maxEventAge: Duration.minutes(1),
} as const satisfies EventInvokeConfigOptions;

export type TokenVendingLogLevel = LogLevel;

/** Settings of {@link EkuaibaoTokenVending}. Every field is optional; the defaults are the secure choice. */
export interface EkuaibaoTokenVendingProps {
  /**
   * Secrets Manager name prefix of the tenant credentials; tenant `acme` reads the secret
   * `${secretPrefix}acme`. Only the tenant access role reads them, and its session for tenant
   * `acme` reads `${secretPrefix}acme` alone; the functions' own roles read no secret.
   * @default 'ekuaibao/tenants/'
   */
  readonly secretPrefix?: string;
  /**
   * Ekuaibao base URL for tenants whose secret does not name one (`TENANT_SECRET_PREFIX`'s
   * secrets may carry `baseUrl` for DingTalk, WeCom, ... environments).
   * @default 'https://app.ekuaibao.com'
   */
  readonly defaultBaseUrl?: string;
  /**
   * Host of Ekuaibao's location API (`LOCATION_BASE_URL`), which names the current prefix of a
   * tenant whose secret gives `corpId` instead of `baseUrl`.
   * @default 'https://app.ekuaibao.com'
   */
  readonly locationBaseUrl?: string;
  /**
   * Host of Ekuaibao's v3 auth API (`V3_AUTH_BASE_URL`), for secrets with `"authVersion": "v3"`.
   * @default 'https://open.hosecloud.com'
   */
  readonly v3AuthBaseUrl?: string;
  /**
   * ARNs of customer managed KMS keys that encrypt tenant secrets. The tenant access role gets
   * `kms:Decrypt` on them only through Secrets Manager and only for the session tenant's secret.
   * Not needed for the AWS managed `aws/secretsmanager` key.
   * @default - none
   */
  readonly secretsKmsKeyArns?: string[];
  /**
   * A token is not served when it expires within this many seconds (`SAFETY_MARGIN_SECONDS`).
   * @default 300
   */
  readonly safetyMarginSeconds?: number;
  /**
   * A token that expires within this many seconds is still served, and its refresh is handed to
   * the warmer (`REFRESH_WINDOW_SECONDS`); must exceed `safetyMarginSeconds`.
   * @default 900
   */
  readonly refreshWindowSeconds?: number;
  /**
   * Timeout of one upstream call, in milliseconds (`UPSTREAM_TIMEOUT_MS`).
   * @default 5000
   */
  readonly upstreamTimeoutMs?: number;
  /**
   * Upstream attempts per token fetch (`UPSTREAM_MAX_ATTEMPTS`).
   * @default 2
   */
  readonly upstreamMaxAttempts?: number;
  /**
   * How long a caller waits for another caller's upstream fetch, in milliseconds (`LEASE_WAIT_MS`).
   * @default 8000
   */
  readonly leaseWaitMs?: number;
  /**
   * How long a function instance reuses a tenant secret before reading it again
   * (`SECRET_MAX_AGE_SECONDS`); bounds how long a rotated credential keeps being used.
   * @default 300
   */
  readonly secretMaxAgeSeconds?: number;
  /**
   * Lifetime in days that refreshes ask for (`REFRESH_LIFETIME_DAYS`, the refresh endpoint's
   * `/expireDate` variant); 0 takes the upstream's own 32 days. Short lifetimes bound what a
   * leaked token is worth.
   * @default 1
   */
  readonly refreshLifetimeDays?: number;
  /**
   * At most one accepted invalidation per tenant in this many seconds
   * (`INVALIDATION_MIN_INTERVAL_SECONDS`); more get 429.
   * @default 30
   */
  readonly invalidationMinIntervalSeconds?: number;
  /**
   * How often the warmer runs.
   * @default Duration.minutes(5)
   */
  readonly warmerInterval?: Duration;
  /**
   * Memory of both functions, in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Record every DynamoDB, Secrets Manager and Lambda call of both functions as an X-Ray
   * subsegment, through Powertools Tracer (the functions are built from their `traced-handler.ts`
   * entries). Off, the functions still trace actively (Lambda records each invocation, API Gateway
   * each request) and their assets hold no X-Ray SDK, which costs cold start and a tenth of a warm
   * request's CPU (README, Performance). Responses are never recorded either way.
   * @default false
   */
  readonly traceAwsCalls?: boolean;
  /**
   * Log level of both functions (`POWERTOOLS_LOG_LEVEL` and the Lambda application log level).
   * @default 'INFO'
   */
  readonly logLevel?: TokenVendingLogLevel;
  /**
   * `POWERTOOLS_SERVICE_NAME`: the `service` dimension of every metric and log line.
   * @default 'ekuaibao-token-vending'
   */
  readonly serviceName?: string;
  /**
   * `POWERTOOLS_METRICS_NAMESPACE`: CloudWatch namespace of the service metrics.
   * @default 'EkuaibaoTokenVending'
   */
  readonly metricsNamespace?: string;
  /**
   * Name of the REST API (also the `ApiName` metric dimension).
   * @default - the stack name
   */
  readonly apiName?: string;
  /**
   * API stage name; part of the URL and of every `execute-api` ARN.
   * @default 'v1'
   */
  readonly stageName?: string;
  /**
   * Stage-wide steady-state request rate, requests per second.
   * @default 50
   */
  readonly throttlingRateLimit?: number;
  /**
   * Stage-wide burst, requests.
   * @default 100
   */
  readonly throttlingBurstLimit?: number;
  /**
   * AWS accounts, besides this one, whose IAM principals may call the API. When set, a
   * resource policy denies every other account. Callers still need an IAM policy for the
   * tenant routes they use.
   * @default - no resource policy: only principals of this account, per their IAM policies
   */
  readonly allowedAccountIds?: string[];
  /**
   * Interface VPC endpoint ids (`vpce-...`) for `execute-api`. When set, the API is PRIVATE
   * and a resource policy denies calls that do not come through these endpoints.
   * @default - a REGIONAL API
   */
  readonly privateVpcEndpointIds?: string[];
  /**
   * Requests per tenant route per minute (GET token and POST invalidate count separately) before
   * the stage's AWS WAF web ACL answers 429 `THROTTLED` for that route: one tenant's callers cannot
   * spend the stage throttle that every tenant shares. At least 10.
   * @default 300
   */
  readonly tenantRateLimit?: number;
  /**
   * Requests per source IP per 5 minutes before the web ACL blocks the IP (10 or more).
   * @default - no per-IP rule
   */
  readonly wafRateLimit?: number;
  /**
   * Set the account-wide API Gateway CloudWatch Logs role (`AWS::ApiGateway::Account`), which
   * access and execution logging need. Turn off where the account already has one and another
   * team owns it.
   * @default true
   */
  readonly manageApiGatewayAccountRole?: boolean;
  /**
   * Retention of the function and API log groups; at least a year (Control Tower CT.CLOUDWATCH.PR.2).
   * @default RetentionDays.ONE_YEAR
   */
  readonly logRetention?: RetentionDays;
  /**
   * An existing customer managed KMS key for the log groups and the alarm topic. Its policy must
   * let CloudWatch Logs (`logs.<region>.amazonaws.com`) and CloudWatch alarms
   * (`cloudwatch.amazonaws.com`) use it, as lib/telemetry-key.ts does.
   * @default - a key created by the construct (TelemetryKey)
   */
  readonly encryptionKey?: IKey;
  /**
   * The VPC to run both functions in (Control Tower CT.LAMBDA.PR.3). They reach DynamoDB,
   * Secrets Manager, STS (tenant sessions), Lambda and Ekuaibao from the subnets below: through
   * the VPC's NAT, or interface/gateway endpoints for the AWS services where the VPC has them.
   * @default - the functions run outside any VPC
   */
  readonly vpc?: IVpc;
  /**
   * The subnets of `vpc` the functions use: private subnets with a route to a NAT.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Security groups of both functions in `vpc`; they need outbound HTTPS only.
   * @default - one security group per function, all outbound traffic allowed
   */
  readonly securityGroups?: ISecurityGroup[];
  /**
   * Props of the token function merged over the construct's (reserved concurrency, memory,
   * ephemeral storage, ...). The code and its bundling, role, log group, environment and timeout
   * stay the construct's: the type leaves them out, and synth refuses them if given anyway (a
   * `bundling` would replace the construct's whole and drop the asset's lazily loaded Lambda
   * client file, lib/token-functions.ts). A `vpc` given here wins over `vpc` above, for this function.
   * @default - none
   */
  readonly tokenFunctionProps?: TokenVendingFunctionOverrides;
  /**
   * Props of the warmer function merged over the construct's, as `tokenFunctionProps`.
   * @default - none
   */
  readonly warmerFunctionProps?: TokenVendingFunctionOverrides;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - no subscription: subscribe to the `AlarmTopicArn` output yourself
   */
  readonly alarmEmail?: string;
  /**
   * Existing SNS topic for alarm and OK notifications.
   * @default - a topic created by the construct, encrypted with the telemetry key
   */
  readonly alarmTopic?: ITopic;
  /**
   * Keep the table, its key and the log groups when the stack is deleted, and turn on the
   * table's deletion protection. Set `false` for throwaway stacks only.
   * @default true
   */
  readonly retainOnDelete?: boolean;
}

/** Props without a default value: absent means "not used" (or "created by the construct"). */
type OptionalProp =
  | 'wafRateLimit'
  | 'alarmEmail'
  | 'alarmTopic'
  | 'encryptionKey'
  | 'vpc'
  | 'vpcSubnets'
  | 'securityGroups'
  | 'tokenFunctionProps'
  | 'warmerFunctionProps';

/** The props with every default applied and every value checked. */
export type ResolvedTokenVendingProps = Required<Omit<EkuaibaoTokenVendingProps, OptionalProp | 'apiName'>> &
  Pick<EkuaibaoTokenVendingProps, OptionalProp> & { readonly apiName: string };

/**
 * The defaults of every optional prop. Those the function shares come from contract/settings.ts,
 * which the function reads its own defaults from.
 */
export const TOKEN_VENDING_DEFAULTS = {
  secretPrefix: SETTING_DEFAULTS.secretPrefix,
  defaultBaseUrl: SETTING_DEFAULTS.defaultBaseUrl,
  locationBaseUrl: SETTING_DEFAULTS.locationBaseUrl,
  v3AuthBaseUrl: SETTING_DEFAULTS.v3AuthBaseUrl,
  safetyMarginSeconds: SETTING_DEFAULTS.safetyMarginSeconds,
  refreshWindowSeconds: SETTING_DEFAULTS.refreshWindowSeconds,
  upstreamTimeoutMs: SETTING_DEFAULTS.upstreamTimeoutMs,
  upstreamMaxAttempts: SETTING_DEFAULTS.upstreamMaxAttempts,
  leaseWaitMs: SETTING_DEFAULTS.leaseWaitMs,
  secretMaxAgeSeconds: SETTING_DEFAULTS.secretMaxAgeSeconds,
  refreshLifetimeDays: SETTING_DEFAULTS.refreshLifetimeDays,
  invalidationMinIntervalSeconds: SETTING_DEFAULTS.invalidationMinIntervalSeconds,
  traceAwsCalls: false,
  warmerInterval: Duration.minutes(SETTING_DEFAULTS.warmerIntervalMinutes),
  memorySize: 512,
  logLevel: SETTING_DEFAULTS.logLevel,
  serviceName: SETTING_DEFAULTS.serviceName,
  metricsNamespace: SETTING_DEFAULTS.metricsNamespace,
  stageName: 'v1',
  throttlingRateLimit: 50,
  throttlingBurstLimit: 100,
  tenantRateLimit: 300,
  manageApiGatewayAccountRole: true,
  logRetention: RetentionDays.ONE_YEAR,
  retainOnDelete: true,
} as const satisfies Partial<EkuaibaoTokenVendingProps>;

/**
 * Token vending for the Ekuaibao Open API: a REST API (IAM authorized per tenant route) in
 * front of a Lambda function that serves cached upstream access tokens, a warmer that refreshes
 * them on a schedule and whenever the token function asks, the encrypted DynamoDB cache, alarms
 * and a dashboard. Both functions read a tenant's secret and item only with a session of the
 * tenant access role tagged with that tenant (`tenantAccessRole`).
 *
 * @example
 * const vending = new EkuaibaoTokenVending(stack, 'TokenVending', {
 *   secretPrefix: 'ekuaibao/tenants/',
 *   alarmEmail: 'oncall@example.com',
 * });
 * vending.grantTenantAccess(callerRole, 'acme');
 */
export class EkuaibaoTokenVending extends Construct {
  public readonly settings: ResolvedTokenVendingProps;
  public readonly store: TokenStore;
  /**
   * The only principal that reads tenant secrets and token items, each session the tagged tenant's
   * own; both functions assume it per tenant (`TENANT_ROLE_ARN`).
   */
  public readonly tenantAccessRole: TenantAccessRole;
  public readonly tokenFunction: TokenVendingFunction;
  public readonly warmerFunction: TokenVendingFunction;
  public readonly warmerSchedule: Rule;
  public readonly api: TokenApi;
  public readonly monitoring: TokenMonitoring;
  /** Encrypts the log groups and the alarm topic: `encryptionKey`, or the construct's own. */
  public readonly telemetryKey: IKey;

  constructor(scope: Construct, id: string, props: EkuaibaoTokenVendingProps = {}) {
    super(scope, id);
    const settings = resolveProps(props, Stack.of(this).stackName);
    this.settings = settings;
    const removalPolicy = settings.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.store = new TokenStore(this, 'Store', { retainOnDelete: settings.retainOnDelete });
    // Tenant data is read and written with tenant sessions only: the functions assume this role
    // tagged with the tenant, and its policy reaches that tenant's secret and item alone.
    this.tenantAccessRole = new TenantAccessRole(this, 'TenantAccessRole', {
      store: this.store,
      secretPrefix: settings.secretPrefix,
      secretsKmsKeyArns: settings.secretsKmsKeyArns,
    });

    // What both functions read (typed by the function's own contract); the token function gets
    // the refresher's name on top.
    const shared = serviceSettings(settings);
    const resources = { tableName: this.store.table.tableName, tenantRoleArn: this.tenantAccessRole.roleArn };
    const environment = functionEnvironment(shared, resources);
    const tokenTimeout = tokenFunctionTimeout(settings);
    // What the service writes about itself (logs, alarm notifications) is encrypted with one key.
    this.telemetryKey = settings.encryptionKey ?? new TelemetryKey(this, 'TelemetryKey', { removalPolicy }).key;
    const common = {
      memorySize: settings.memorySize,
      logLevel: ApplicationLogLevel[settings.logLevel],
      logRetention: settings.logRetention,
      logsKey: this.telemetryKey,
      removalPolicy,
    };
    // Where the functions run: outside any VPC, or in the one given (each function's own props win).
    const placement = settings.vpc && {
      vpc: settings.vpc,
      vpcSubnets: settings.vpcSubnets ?? { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      ...(settings.securityGroups && { securityGroups: settings.securityGroups }),
    };

    // The warmer refreshes tokens before they expire: every due tenant on its schedule, and one
    // tenant whenever the token function asks. It comes first because the token function names it.
    this.warmerFunction = new TokenVendingFunction(this, 'WarmerFunction', {
      ...common,
      environment,
      entry: settings.traceAwsCalls ? FUNCTION_ENTRIES.warmerTraced : FUNCTION_ENTRIES.warmer,
      description: 'Ekuaibao token vending: refreshes cached tokens before they expire (on schedule and on request)',
      timeout: warmerTimeout(settings.warmerInterval, tokenTimeout),
      asyncInvocation: WARMER_ASYNC_INVOCATION,
      overrides: { ...placement, ...settings.warmerFunctionProps },
    });
    this.warmerSchedule = new Rule(this, 'WarmerSchedule', {
      description: 'Runs the Ekuaibao token warmer',
      schedule: Schedule.rate(settings.warmerInterval),
      // EventBridge's own retries: handing the event to Lambda. Once Lambda has it, the warmer's
      // asynchronous invocation settings apply (no retries, one minute in Lambda's queue at most).
      // A run that could not start before the next one is worthless; the next one replaces it.
      targets: [new LambdaFunction(this.warmerFunction.function, { maxEventAge: settings.warmerInterval, retryAttempts: 2 })],
    });

    // The API's function. A caller never waits on the upstream while a valid token exists: a
    // token in its refresh window is served at once, and the refresh is handed to the warmer
    // (an asynchronous invoke with {"tenantId"}).
    this.tokenFunction = new TokenVendingFunction(this, 'TokenFunction', {
      ...common,
      environment: functionEnvironment(shared, { ...resources, refresherFunctionName: this.warmerFunction.function.functionName }),
      entry: settings.traceAwsCalls ? FUNCTION_ENTRIES.tokenTraced : FUNCTION_ENTRIES.token,
      description: 'Ekuaibao token vending: serves cached upstream access tokens per tenant',
      timeout: tokenTimeout,
      overrides: { ...placement, ...settings.tokenFunctionProps },
    });
    // What each function's own role may do: get tenant sessions (both), hand refreshes to the
    // warmer (the token function), list the table for due tenants (the warmer's scheduled run).
    // Neither reads a secret or an item with it.
    for (const fn of [this.tokenFunction, this.warmerFunction]) this.tenantAccessRole.allowTenantSessions(fn.role);
    this.tokenFunction.allowInvoking(this.warmerFunction.function);
    this.store.grantWarmerTableAccess(this.warmerFunction.role);

    this.api = new TokenApi(this, 'Api', {
      tokenFunction: this.tokenFunction.function,
      apiName: settings.apiName,
      stageName: settings.stageName,
      throttlingRateLimit: settings.throttlingRateLimit,
      throttlingBurstLimit: settings.throttlingBurstLimit,
      allowedAccountIds: settings.allowedAccountIds,
      privateVpcEndpointIds: settings.privateVpcEndpointIds,
      tenantRateLimit: settings.tenantRateLimit,
      wafRateLimit: settings.wafRateLimit,
      logRetention: settings.logRetention,
      logsKey: this.telemetryKey,
      removalPolicy,
      manageAccountCloudWatchRole: settings.manageApiGatewayAccountRole,
    });

    this.monitoring = new TokenMonitoring(this, 'Monitoring', {
      tokenFunction: this.tokenFunction.function,
      warmerFunction: this.warmerFunction.function,
      stage: this.api.api.deploymentStage,
      metricsNamespace: settings.metricsNamespace,
      serviceName: settings.serviceName,
      apiLatencyThreshold: Duration.millis(settings.upstreamTimeoutMs),
      alarmEmail: settings.alarmEmail,
      alarmTopic: settings.alarmTopic,
      topicKey: this.telemetryKey,
    });

    acknowledgeTokenVendingFindings(this);
  }

  /**
   * The `execute-api:Invoke` resource ARNs of one tenant: its GET token route and its POST
   * invalidate route.
   */
  public tenantRouteArns(tenantId: string): string[] {
    if (!isValidTenantId(tenantId)) {
      throw new InvalidTokenVendingSetting('tenantId', `"${tenantId}" does not match ${TENANT_ID_PATTERN}`);
    }
    return this.api.tenantRouteArns(tenantId);
  }

  /** Lets `grantee` call both routes of one tenant (and no other tenant's). */
  public grantTenantAccess(grantee: IGrantable, tenantId: string): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: this.tenantRouteArns(tenantId),
    });
  }

  /**
   * An IAM policy document (JSON string) that a caller attaches to call one tenant's routes;
   * the stack prints it as an output for the placeholder tenant `TENANT_ID`.
   */
  public exampleCallerPolicy(tenantId: string): string {
    return Stack.of(this).toJsonString({
      Version: '2012-10-17',
      Statement: [
        new PolicyStatement({
          sid: 'CallEkuaibaoTokenVendingForOneTenant',
          effect: Effect.ALLOW,
          actions: ['execute-api:Invoke'],
          resources: this.tenantRouteArns(tenantId),
        }).toStatementJson(),
      ],
    });
  }
}

const ACCOUNT_ID_PATTERN = /^\d{12}$/;
const VPC_ENDPOINT_ID_PATTERN = /^vpce-[0-9a-f]{8,17}$/;
const KMS_KEY_ARN_PATTERN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const STAGE_NAME_PATTERN = /^[A-Za-z0-9_]{1,128}$/;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** The settings the functions share with the stack, as contract/settings.ts names them. */
export function serviceSettings(p: ResolvedTokenVendingProps): ServiceSettings {
  return {
    secretPrefix: p.secretPrefix,
    defaultBaseUrl: p.defaultBaseUrl,
    locationBaseUrl: p.locationBaseUrl,
    v3AuthBaseUrl: p.v3AuthBaseUrl,
    safetyMarginSeconds: p.safetyMarginSeconds,
    refreshWindowSeconds: p.refreshWindowSeconds,
    upstreamTimeoutMs: p.upstreamTimeoutMs,
    upstreamMaxAttempts: p.upstreamMaxAttempts,
    leaseWaitMs: p.leaseWaitMs,
    secretMaxAgeSeconds: p.secretMaxAgeSeconds,
    refreshLifetimeDays: p.refreshLifetimeDays,
    invalidationMinIntervalSeconds: p.invalidationMinIntervalSeconds,
    warmerIntervalMinutes: p.warmerInterval.toMinutes({ integral: false }),
    serviceName: p.serviceName,
    metricsNamespace: p.metricsNamespace,
    logLevel: p.logLevel,
  };
}

/** The prop (and context key) that sets each shared setting. */
const PROP_OF_SETTING: Partial<Record<SettingName, string>> = { warmerIntervalMinutes: 'warmerInterval' };

/** Applies defaults and rejects settings the stack cannot be built with. */
export function resolveProps(props: EkuaibaoTokenVendingProps, stackName: string): ResolvedTokenVendingProps {
  const d = TOKEN_VENDING_DEFAULTS;
  const resolved: ResolvedTokenVendingProps = {
    secretPrefix: props.secretPrefix ?? d.secretPrefix,
    defaultBaseUrl: props.defaultBaseUrl ?? d.defaultBaseUrl,
    locationBaseUrl: props.locationBaseUrl ?? d.locationBaseUrl,
    v3AuthBaseUrl: props.v3AuthBaseUrl ?? d.v3AuthBaseUrl,
    secretsKmsKeyArns: props.secretsKmsKeyArns ?? [],
    safetyMarginSeconds: props.safetyMarginSeconds ?? d.safetyMarginSeconds,
    refreshWindowSeconds: props.refreshWindowSeconds ?? d.refreshWindowSeconds,
    upstreamTimeoutMs: props.upstreamTimeoutMs ?? d.upstreamTimeoutMs,
    upstreamMaxAttempts: props.upstreamMaxAttempts ?? d.upstreamMaxAttempts,
    leaseWaitMs: props.leaseWaitMs ?? d.leaseWaitMs,
    secretMaxAgeSeconds: props.secretMaxAgeSeconds ?? d.secretMaxAgeSeconds,
    refreshLifetimeDays: props.refreshLifetimeDays ?? d.refreshLifetimeDays,
    invalidationMinIntervalSeconds: props.invalidationMinIntervalSeconds ?? d.invalidationMinIntervalSeconds,
    traceAwsCalls: props.traceAwsCalls ?? d.traceAwsCalls,
    warmerInterval: props.warmerInterval ?? d.warmerInterval,
    memorySize: props.memorySize ?? d.memorySize,
    logLevel: props.logLevel ?? d.logLevel,
    serviceName: props.serviceName ?? d.serviceName,
    metricsNamespace: props.metricsNamespace ?? d.metricsNamespace,
    apiName: props.apiName ?? stackName,
    stageName: props.stageName ?? d.stageName,
    throttlingRateLimit: props.throttlingRateLimit ?? d.throttlingRateLimit,
    throttlingBurstLimit: props.throttlingBurstLimit ?? d.throttlingBurstLimit,
    tenantRateLimit: props.tenantRateLimit ?? d.tenantRateLimit,
    allowedAccountIds: props.allowedAccountIds ?? [],
    privateVpcEndpointIds: props.privateVpcEndpointIds ?? [],
    wafRateLimit: props.wafRateLimit,
    manageApiGatewayAccountRole: props.manageApiGatewayAccountRole ?? d.manageApiGatewayAccountRole,
    logRetention: props.logRetention ?? d.logRetention,
    alarmEmail: props.alarmEmail,
    alarmTopic: props.alarmTopic,
    encryptionKey: props.encryptionKey,
    vpc: props.vpc,
    vpcSubnets: props.vpcSubnets,
    securityGroups: props.securityGroups,
    tokenFunctionProps: props.tokenFunctionProps,
    warmerFunctionProps: props.warmerFunctionProps,
    retainOnDelete: props.retainOnDelete ?? d.retainOnDelete,
  };
  check(resolved);
  return resolved;
}

function check(p: ResolvedTokenVendingProps): void {
  const fail = (setting: string, reason: string): never => {
    throw new InvalidTokenVendingSetting(setting, reason);
  };
  // The shared settings: the function runs exactly these checks on the environment built from them.
  for (const problem of settingsProblems(serviceSettings(p))) fail(PROP_OF_SETTING[problem.setting] ?? problem.setting, problem.message);
  const wholeAtLeast = (setting: keyof ResolvedTokenVendingProps, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = p[setting] as number;
    if (!Number.isInteger(v) || v < min || v > max) fail(setting, `must be an integer from ${min} to ${max}, got ${v}`);
  };
  wholeAtLeast('memorySize', 128, 10240);
  wholeAtLeast('throttlingRateLimit', 1);
  wholeAtLeast('throttlingBurstLimit', 1);
  wholeAtLeast('tenantRateLimit', 10, 2_000_000_000);
  if (p.logRetention !== RetentionDays.INFINITE && p.logRetention < RetentionDays.ONE_YEAR) {
    fail('logRetention', `must be at least ${RetentionDays.ONE_YEAR} days (Control Tower CT.CLOUDWATCH.PR.2), got ${p.logRetention}`);
  }
  if ((p.vpcSubnets !== undefined || p.securityGroups !== undefined) && p.vpc === undefined) {
    fail('vpcSubnets/securityGroups', 'need vpc');
  }
  if (!Token.isUnresolved(p.apiName) && !NAME_PATTERN.test(p.apiName)) fail('apiName', 'must be 1-128 letters, digits or _.-');
  if (!STAGE_NAME_PATTERN.test(p.stageName)) fail('stageName', 'must be 1-128 letters, digits or _');
  for (const a of p.allowedAccountIds) if (!ACCOUNT_ID_PATTERN.test(a)) fail('allowedAccountIds', `"${a}" is not a 12-digit account id`);
  for (const v of p.privateVpcEndpointIds) if (!VPC_ENDPOINT_ID_PATTERN.test(v)) fail('privateVpcEndpointIds', `"${v}" is not a VPC endpoint id`);
  for (const k of p.secretsKmsKeyArns) if (!KMS_KEY_ARN_PATTERN.test(k)) fail('secretsKmsKeyArns', `"${k}" is not a KMS key ARN (aliases are not accepted)`);
  if (p.wafRateLimit !== undefined && (!Number.isInteger(p.wafRateLimit) || p.wafRateLimit < 10)) {
    fail('wafRateLimit', 'must be an integer of at least 10 (requests per IP per 5 minutes)');
  }
  if (p.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(p.alarmEmail)) fail('alarmEmail', `"${p.alarmEmail}" is not an e-mail address`);
  for (const prop of ['tokenFunctionProps', 'warmerFunctionProps'] as const) {
    for (const key of reservedPropsIn(p[prop] ?? {})) fail(`${prop}.${key}`, 'is the construct\'s and cannot be overridden');
  }
}

