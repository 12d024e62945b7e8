import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  EventInvokeConfig,
  type EventInvokeConfigOptions,
  type IFunction,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
// The function computes its lease and budget from the same module: the timeout below can never drift from them.
import {
  API_GATEWAY_INTEGRATION_TIMEOUT_MS,
  type LeaseTimingInput,
  requestBudgetOverrun,
  tokenFunctionTimeoutSeconds,
} from '../contract/lease-timing';
import type { FunctionEnvironment } from '../contract/settings';
import { InvalidTokenVendingSetting } from './errors';
import { LOCK_FILE, REPO_ROOT } from './paths';

/** API Gateway closes a REST integration after 29 seconds unless a quota increase says otherwise. */
export const API_GATEWAY_INTEGRATION_TIMEOUT = Duration.millis(API_GATEWAY_INTEGRATION_TIMEOUT_MS);

/** The warmer refreshes many tenants in one run; it never needs more than this. */
export const WARMER_MAX_TIMEOUT = Duration.minutes(5);

/**
 * How the functions are bundled: one self-contained ESM file that runs with nothing else
 * beside it, including the AWS SDK v3 (so the asset pins the SDK version it was tested with
 * instead of whatever the runtime ships).
 */
export const TOKEN_VENDING_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  // esbuild's ESM output cannot `require` Node built-ins from bundled CommonJS code (the X-Ray
  // SDK under Powertools Tracer does, in the traced entries); without a real `require` it throws
  // `Dynamic require of "util" is not supported` at import.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  minify: true,
  // No keepNames: it wraps every function and class of the bundle in a naming call at import
  // (about 4 ms of cold start, README, Performance). The service's error classes name themselves
  // in strings (functions/domain/errors.ts), and the AWS SDK's errors do too.
  keepNames: false,
  // The map ships in the asset for reading a stack trace offline. NODE_OPTIONS=--enable-source-maps
  // is not set: Node would read the 1 MiB map at every cold start (about 10 ms, README,
  // Performance), and the functions log error names and codes, not stacks.
  sourceMap: true,
  sourcesContent: false,
  externalModules: [],
  bundleAwsSDK: true,
  forceDockerBundling: false,
};

export type RequestBudget = LeaseTimingInput & { readonly leaseWaitMs: number };

/**
 * The token function's timeout: the request budget (`requestBudgetMs` of contract/lease-timing.ts,
 * which the function computes too) plus time to answer. It must end before API Gateway gives up,
 * or the caller sees a bare 504 instead of the service's error.
 *
 * ```
 * |-- lease wait --|-- attempt 1 --|-backoff-|-- attempt 2 --|-store-|-guard+slack-|-overhead-|  = budget
 *                  |------------------------ leaseDurationMs -------------------|
 * |------------------------------------ budget --------------------------------------------|-margin-| = Lambda timeout < 29 s
 * ```
 */
export function tokenFunctionTimeout(budget: RequestBudget): Duration {
  const overrun = requestBudgetOverrun(budget);
  if (overrun !== undefined) throw new InvalidTokenVendingSetting('leaseWaitMs', overrun);
  return Duration.seconds(tokenFunctionTimeoutSeconds(budget));
}

/** The warmer may use the whole interval between runs, within bounds. */
export function warmerTimeout(interval: Duration, tokenTimeout: Duration): Duration {
  const seconds = Math.min(Math.max(interval.toSeconds(), tokenTimeout.toSeconds()), WARMER_MAX_TIMEOUT.toSeconds());
  return Duration.seconds(seconds);
}

export interface TokenVendingFunctionProps {
  /** Absolute path of the TypeScript entry that exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly environment: FunctionEnvironment;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logLevel: ApplicationLogLevel;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Encrypts the function's log group (Control Tower CT.CLOUDWATCH.PR.3). */
  readonly logsKey: IKey;
  /**
   * Function props merged over the construct's own (reserved concurrency, memory, VPC, ...).
   * @default - none
   */
  readonly overrides?: TokenVendingFunctionOverrides;
  /**
   * How Lambda treats the function's asynchronous invocations (EventBridge targets and
   * `InvocationType: 'Event'` calls alike): event age, retries, destinations.
   * @default - Lambda's defaults: 2 retries, events kept up to 6 hours
   */
  readonly asyncInvocation?: EventInvokeConfigOptions;
}

/**
 * The function props an infra team may set, merged over the construct's own (AWS Solutions
 * Constructs style): reserved concurrency, memory, ephemeral storage, the VPC placement, ... What
 * the service's guarantees rest on stays the construct's: the code and its bundling, the role, the
 * log group, the environment (contract/settings.ts) and the timeout (derived from the request
 * budget).
 */
export type TokenVendingFunctionOverrides = Omit<
  NodejsFunctionProps,
  | 'entry'
  | 'handler'
  | 'code'
  | 'runtime'
  | 'bundling'
  | 'projectRoot'
  | 'depsLockFilePath'
  | 'role'
  | 'logGroup'
  | 'logRetention'
  | 'environment'
  | 'timeout'
>;

/**
 * What Lambda needs to attach a function to a VPC, as AWS's AWSLambdaVPCAccessExecutionRole
 * grants it (inline, since the roles here carry no AWS managed policy). The Describe call cannot
 * be scoped; the others act on network interfaces Lambda creates in the subnets it is given.
 */
export const VPC_ACCESS_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

/**
 * One function of the service: its own role (no managed policies; its log group, X-Ray and, in a
 * VPC, the network interfaces, and whatever the construct grants it afterwards: tenant sessions,
 * invoking the warmer, listing the table), its own KMS-encrypted log group with retention, active
 * tracing, JSON logs, and the bundling above. The role has no access to tenant data of its own.
 *
 * @example
 * const fn = new TokenVendingFunction(this, 'TokenFunction', {
 *   entry: FUNCTION_ENTRIES.token, description: 'Token API',
 *   environment: functionEnvironment(settings, { tableName: table.tableName, tenantRoleArn: tenantAccess.roleArn }),
 *   timeout: Duration.seconds(28), memorySize: 512, logLevel: ApplicationLogLevel.INFO,
 *   logRetention: RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN, logsKey,
 * });
 * tenantAccess.allowTenantSessions(fn.role);
 */
export class TokenVendingFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;
  /** The asynchronous invocation settings, when `asyncInvocation` is given. */
  public readonly asyncInvokeConfig?: EventInvokeConfig;

  constructor(scope: Construct, id: string, props: TokenVendingFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      encryptionKey: props.logsKey,
      removalPolicy: props.removalPolicy,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup.grantWrite(this.role);
    const overrides = props.overrides ?? {};
    if (overrides.vpc) {
      this.role.addToPrincipalPolicy(new PolicyStatement({ sid: 'AttachToTheVpc', actions: [...VPC_ACCESS_ACTIONS], resources: ['*'] }));
    }

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel,
      systemLogLevelV2: SystemLogLevel.INFO,
      tracing: Tracing.ACTIVE,
      environment: {
        ...props.environment,
        // The token function's response carries the access token; it must not reach X-Ray, even
        // with traceAwsCalls on (the middleware says so too).
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      },
      bundling: TOKEN_VENDING_BUNDLING,
      // Last, so they win; their type leaves out what the service's guarantees rest on.
      ...overrides,
    });
    if (props.asyncInvocation) {
      this.asyncInvokeConfig = new EventInvokeConfig(this, 'AsyncInvokeConfig', { ...props.asyncInvocation, function: this.function });
    }
  }

  /**
   * Lets this function invoke `target` by its name, and nothing else. Not `target.grantInvoke`:
   * that also grants `<arn>:*` (every version and alias), a wildcard an unqualified invoke does
   * not need.
   */
  public allowInvoking(target: IFunction): void {
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }));
  }
}
