import * as path from 'node:path';
import { AssetStaging, Duration, type RemovalPolicy } from 'aws-cdk-lib';
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
import { LAZY_MODULE_ENTRIES, LOCK_FILE, REPO_ROOT } from './paths';

/** API Gateway closes a REST integration after 29 seconds unless a quota increase says otherwise. */
export const API_GATEWAY_INTEGRATION_TIMEOUT = Duration.millis(API_GATEWAY_INTEGRATION_TIMEOUT_MS);

/** The warmer refreshes many tenants in one run; it never needs more than this. */
export const WARMER_MAX_TIMEOUT = Duration.minutes(5);

/**
 * How each file of a function's asset is built: ESM for Node 24, AWS SDK v3 included (so the asset
 * pins the SDK version it was tested with instead of whatever the runtime ships), nothing left to
 * a node_modules. The type names every option set: the lazy modules' build below passes each one
 * to esbuild as NodejsFunction does (`esbuildArgs`, which the compiler holds to the same list).
 */
export const ASSET_FILE_BUNDLING: Required<
  Pick<BundlingOptions, 'format' | 'target' | 'mainFields' | 'banner' | 'minify' | 'keepNames' | 'sourceMap' | 'sourcesContent' | 'externalModules'>
> = {
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
};

/** A module the functions' code imports only when needed (contract/lazy-modules.ts). */
export interface LazyModule {
  /** What the code passes to `import()`: `./<file>.js`, the file's name beside index.mjs. */
  readonly specifier: string;
  /** Absolute path of its TypeScript source. */
  readonly entry: string;
}

export const LAZY_MODULES: readonly LazyModule[] = Object.entries(LAZY_MODULE_ENTRIES).map(([specifier, entry]) => ({ specifier, entry }));

/** The file a lazy module is in, in the asset: where the bundled `import()` finds it. */
export function lazyModuleFile(module: LazyModule): string {
  const file = /^\.\/([\w.-]+\.js)$/.exec(module.specifier)?.[1];
  if (file === undefined) throw new Error(`lazy module ${module.specifier}: expected ./<name>.js, a file beside index.mjs`);
  return file;
}

/**
 * The asset's package.json: Node (Lambda's, in /var/task, too) then loads the lazy modules' `.js`
 * files as ESM outright. Without it Node 24 tries CommonJS first and falls back to ESM on seeing
 * an `import`; index.mjs is ESM by its extension alone.
 */
export const ASSET_PACKAGE_JSON = '{"type":"module"}';

/**
 * How the functions are bundled: index.mjs (plus its map) holds everything a function loads at
 * import; each lazy module is a file of its own beside it, with its map. NodejsFunction cannot
 * split code (it gives esbuild one --outfile), so an afterBundling step builds those files, with
 * the same options, and the package.json that makes Node load them as ESM.
 *
 * Both functions get them: the warmer's code holds the same `import()` (functions/token/wiring.ts),
 * although it never runs it.
 */
export const TOKEN_VENDING_BUNDLING: BundlingOptions = {
  ...ASSET_FILE_BUNDLING,
  // The code imports them by a variable, which esbuild does not follow. Listed here, a literal
  // import of the same path stays out of index.mjs too: esbuild compares import paths with these
  // before resolving them, and keeps a match verbatim.
  externalModules: [...ASSET_FILE_BUNDLING.externalModules, ...LAZY_MODULES.map((m) => m.specifier)],
  bundleAwsSDK: true,
  forceDockerBundling: false,
  commandHooks: {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) => [
      ...LAZY_MODULES.map((m) =>
        shellCommand([
          ...esbuildRunner(inputDir),
          '--bundle',
          path.posix.join(inputDir, path.relative(REPO_ROOT, m.entry)),
          `--outfile=${path.posix.join(outputDir, lazyModuleFile(m))}`,
          '--platform=node',
          ...esbuildArgs(ASSET_FILE_BUNDLING),
        ]),
      ),
      `${shellCommand(['echo', ASSET_PACKAGE_JSON])} > ${shellCommand([path.posix.join(outputDir, 'package.json')])}`,
    ],
  },
};

/** NodejsFunction's esbuild flags for these options (aws-lambda-nodejs/lib/bundling.js), each option once. */
function esbuildArgs(o: typeof ASSET_FILE_BUNDLING): string[] {
  const flags: { [K in keyof typeof ASSET_FILE_BUNDLING]: (value: (typeof ASSET_FILE_BUNDLING)[K]) => string[] } = {
    format: (v) => [`--format=${v}`],
    target: (v) => [`--target=${v}`],
    mainFields: (v) => [`--main-fields=${v.join(',')}`],
    banner: (v) => [`--banner:js=${v}`],
    minify: (v) => (v ? ['--minify'] : []),
    keepNames: (v) => (v ? ['--keep-names'] : []),
    sourceMap: (v) => (v ? ['--sourcemap'] : []),
    sourcesContent: (v) => (v ? [] : ['--sources-content=false']),
    externalModules: (v) => v.map((m) => `--external:${m}`),
  };
  return (Object.keys(flags) as Array<keyof typeof flags>).flatMap((k) => (flags[k] as (v: unknown) => string[])(o[k]));
}

/**
 * esbuild as NodejsFunction runs it: the project's (a devDependency) through `npx --no-install`
 * when bundling locally, the image's when bundling in Docker.
 */
function esbuildRunner(inputDir: string): string[] {
  return inputDir === AssetStaging.BUNDLING_INPUT_DIR ? ['esbuild'] : ['npx', '--no-install', 'esbuild'];
}

/** One command line for bash (commandHooks run through `bash -c`): every word single-quoted. */
function shellCommand(words: readonly string[]): string {
  return words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(' ');
}

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
 * The function props that stay the construct's, because the service's guarantees rest on them: the
 * code and its bundling (the lazy modules' files and the external that points at them, above),
 * the role, the log group, the environment (contract/settings.ts) and the timeout (derived from
 * the request budget).
 */
export const RESERVED_FUNCTION_PROPS = [
  'entry',
  'handler',
  'code',
  'runtime',
  'bundling',
  'projectRoot',
  'depsLockFilePath',
  'role',
  'logGroup',
  'logRetention',
  'environment',
  'timeout',
] as const satisfies ReadonlyArray<keyof NodejsFunctionProps>;

/**
 * The function props an infra team may set, merged over the construct's own (AWS Solutions
 * Constructs style): reserved concurrency, memory, ephemeral storage, the VPC placement, ... The
 * type leaves out RESERVED_FUNCTION_PROPS; given anyway (from JavaScript, or through a cast), they
 * are refused, not merged: a `bundling` of one's own would replace the construct's whole, and the
 * asset would lose its lazy modules' files.
 */
export type TokenVendingFunctionOverrides = Omit<NodejsFunctionProps, (typeof RESERVED_FUNCTION_PROPS)[number]>;

/** The reserved props that `overrides` sets, which the type cannot keep out at run time. */
export function reservedPropsIn(overrides: object): string[] {
  return RESERVED_FUNCTION_PROPS.filter((key) => (overrides as Record<string, unknown>)[key] !== undefined);
}

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
    const [reserved] = reservedPropsIn(overrides);
    if (reserved !== undefined) throw new InvalidTokenVendingSetting(`overrides.${reserved}`, 'is the construct\'s and cannot be overridden');
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
