import { Duration } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { InvalidTokenVendingSetting } from './errors';
import type { EkuaibaoTokenVendingProps, TokenVendingLogLevel } from './token-vending';

/** The stack name when the `stackName` context key is not given. */
export const DEFAULT_STACK_NAME = 'EkuaibaoTokenVending';

/**
 * Every CDK context key the app reads (`cdk deploy -c key=value`, or `context` in cdk.json),
 * and the construct prop it sets. README's context table lists the same keys.
 */
export const CONTEXT_KEYS = [
  'stackName',
  'secretPrefix',
  'defaultBaseUrl',
  'locationBaseUrl',
  'v3AuthBaseUrl',
  'secretsKmsKeyArns',
  'safetyMarginSeconds',
  'refreshWindowSeconds',
  'upstreamTimeoutMs',
  'upstreamMaxAttempts',
  'leaseWaitMs',
  'secretMaxAgeSeconds',
  'refreshLifetimeDays',
  'invalidationMinIntervalSeconds',
  'traceAwsCalls',
  'warmerIntervalMinutes',
  'memorySize',
  'logLevel',
  'serviceName',
  'metricsNamespace',
  'stageName',
  'throttlingRateLimit',
  'throttlingBurstLimit',
  'allowedAccountIds',
  'privateVpcEndpointIds',
  'tenantRateLimit',
  'wafRateLimit',
  'vpcId',
  'subnetIds',
  'securityGroupIds',
  'manageApiGatewayAccountRole',
  'logRetentionDays',
  'alarmEmail',
  'retainOnDelete',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** An existing VPC, by id, for the functions (context keys vpcId, subnetIds, securityGroupIds). */
export interface NetworkPlacement {
  readonly vpcId: string;
  /** Private subnets with a route to a NAT (Ekuaibao is on the internet). */
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
}

export interface StackSettings {
  readonly stackName: string;
  readonly props: EkuaibaoTokenVendingProps;
  readonly network?: NetworkPlacement;
}

const VPC_ID_PATTERN = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID_PATTERN = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID_PATTERN = /^sg-[0-9a-f]{8,17}$/;

/** All three network keys, or none. */
function readNetwork(ctx: ContextReader): NetworkPlacement | undefined {
  const vpcId = ctx.string('vpcId');
  const subnetIds = ctx.list('subnetIds');
  const securityGroupIds = ctx.list('securityGroupIds');
  if (vpcId === undefined && subnetIds === undefined && securityGroupIds === undefined) return undefined;
  if (vpcId !== undefined && !VPC_ID_PATTERN.test(vpcId)) throw new InvalidTokenVendingSetting('vpcId', `"${vpcId}" is not a VPC id (vpc-...)`);
  for (const id of subnetIds ?? []) {
    if (!SUBNET_ID_PATTERN.test(id)) throw new InvalidTokenVendingSetting('subnetIds', `"${id}" is not a subnet id (subnet-...)`);
  }
  for (const id of securityGroupIds ?? []) {
    if (!SECURITY_GROUP_ID_PATTERN.test(id)) throw new InvalidTokenVendingSetting('securityGroupIds', `"${id}" is not a security group id (sg-...)`);
  }
  const missing = ([['vpcId', vpcId], ['subnetIds', subnetIds], ['securityGroupIds', securityGroupIds]] as const).find(
    ([, v]) => v === undefined || v.length === 0,
  );
  if (missing) {
    throw new InvalidTokenVendingSetting(missing[0], 'is needed too: vpcId, subnetIds (private subnets with a NAT route) and securityGroupIds go together');
  }
  return { vpcId: vpcId!, subnetIds: subnetIds!, securityGroupIds: securityGroupIds! };
}

/**
 * Reads the stack settings from CDK context once. Values from `-c` arrive as strings, values
 * from cdk.json as JSON; both are accepted. Range checks live in the construct, so the same
 * rules hold for people who use it from their own app.
 */
export function readStackSettings(node: Node): StackSettings {
  const ctx = new ContextReader(node);
  const warmerMinutes = ctx.integer('warmerIntervalMinutes');
  const retentionDays = ctx.integer('logRetentionDays');
  const network = readNetwork(ctx);
  return {
    stackName: ctx.string('stackName') ?? DEFAULT_STACK_NAME,
    ...(network && { network }),
    props: {
      secretPrefix: ctx.string('secretPrefix'),
      defaultBaseUrl: ctx.string('defaultBaseUrl'),
      locationBaseUrl: ctx.string('locationBaseUrl'),
      v3AuthBaseUrl: ctx.string('v3AuthBaseUrl'),
      secretsKmsKeyArns: ctx.list('secretsKmsKeyArns'),
      safetyMarginSeconds: ctx.integer('safetyMarginSeconds'),
      refreshWindowSeconds: ctx.integer('refreshWindowSeconds'),
      upstreamTimeoutMs: ctx.integer('upstreamTimeoutMs'),
      upstreamMaxAttempts: ctx.integer('upstreamMaxAttempts'),
      leaseWaitMs: ctx.integer('leaseWaitMs'),
      secretMaxAgeSeconds: ctx.integer('secretMaxAgeSeconds'),
      refreshLifetimeDays: ctx.integer('refreshLifetimeDays'),
      invalidationMinIntervalSeconds: ctx.integer('invalidationMinIntervalSeconds'),
      traceAwsCalls: ctx.boolean('traceAwsCalls'),
      warmerInterval: warmerMinutes === undefined ? undefined : Duration.minutes(warmerMinutes),
      memorySize: ctx.integer('memorySize'),
      logLevel: ctx.string('logLevel')?.toUpperCase() as TokenVendingLogLevel | undefined,
      serviceName: ctx.string('serviceName'),
      metricsNamespace: ctx.string('metricsNamespace'),
      stageName: ctx.string('stageName'),
      throttlingRateLimit: ctx.integer('throttlingRateLimit'),
      throttlingBurstLimit: ctx.integer('throttlingBurstLimit'),
      allowedAccountIds: ctx.list('allowedAccountIds'),
      privateVpcEndpointIds: ctx.list('privateVpcEndpointIds'),
      tenantRateLimit: ctx.integer('tenantRateLimit'),
      wafRateLimit: ctx.integer('wafRateLimit'),
      manageApiGatewayAccountRole: ctx.boolean('manageApiGatewayAccountRole'),
      logRetention: retentionDays === undefined ? undefined : retention(retentionDays),
      alarmEmail: ctx.string('alarmEmail'),
      retainOnDelete: ctx.boolean('retainOnDelete'),
    },
  };
}

const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'),
);

function retention(days: number): RetentionDays {
  if (!RETENTION_VALUES.has(days) || days === RetentionDays.INFINITE || days < RetentionDays.ONE_YEAR) {
    // At least a year: Control Tower's CT.CLOUDWATCH.PR.2.
    const allowed = [...RETENTION_VALUES].filter((v) => v !== RetentionDays.INFINITE && v >= RetentionDays.ONE_YEAR).sort((a, b) => a - b);
    throw new InvalidTokenVendingSetting('logRetentionDays', `must be one of ${allowed.join(', ')}`);
  }
  return days as RetentionDays;
}

class ContextReader {
  constructor(private readonly node: Node) {}

  private raw(key: ContextKey): unknown {
    const value: unknown = this.node.tryGetContext(key);
    return value === '' || value === null ? undefined : value;
  }

  string(key: ContextKey): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new InvalidTokenVendingSetting(key, 'must be a string');
    return v.trim();
  }

  integer(key: ContextKey): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new InvalidTokenVendingSetting(key, `must be an integer, got ${JSON.stringify(v)}`);
    return n;
  }

  boolean(key: ContextKey): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new InvalidTokenVendingSetting(key, `must be true or false, got ${JSON.stringify(v)}`);
  }

  /** A JSON array of strings, or a comma-separated string. */
  list(key: ContextKey): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const items = typeof v === 'string' ? v.split(',') : v;
    if (!Array.isArray(items) || !items.every((i) => typeof i === 'string')) {
      throw new InvalidTokenVendingSetting(key, 'must be a comma-separated string or a list of strings');
    }
    return items.map((i) => i.trim()).filter((i) => i.length > 0);
  }
}
