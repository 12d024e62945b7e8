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
  'wafRateLimit',
  'manageApiGatewayAccountRole',
  'logRetentionDays',
  'alarmEmail',
  'retainOnDelete',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

export interface StackSettings {
  readonly stackName: string;
  readonly props: EkuaibaoTokenVendingProps;
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
  return {
    stackName: ctx.string('stackName') ?? DEFAULT_STACK_NAME,
    props: {
      secretPrefix: ctx.string('secretPrefix'),
      defaultBaseUrl: ctx.string('defaultBaseUrl'),
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
  if (!RETENTION_VALUES.has(days) || days === RetentionDays.INFINITE) {
    const allowed = [...RETENTION_VALUES].filter((v) => v !== RetentionDays.INFINITE).sort((a, b) => a - b);
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
