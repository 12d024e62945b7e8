/**
 * Where the AWS credentials for one tenant's calls come from: a session of the tenant access role,
 * tagged with the tenant (contract/tenant-session.ts), whose policy reaches only that tenant's
 * secret and item. A bug that picks the wrong secret name or table key is then refused by IAM
 * instead of crossing tenants.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { LRUCache } from 'lru-cache';
import {
  TENANT_SESSION_DURATION_SECONDS,
  TENANT_SESSION_RENEW_BEFORE_SECONDS,
  TENANT_SESSION_TAG,
  tenantSessionName,
} from '../../contract/tenant-session';
import { DependencyThrottled, DependencyUnavailable, TenantSessionDenied } from '../domain/errors';
import type { Clock } from '../domain/types';
import { systemClock } from '../domain/types';
import { type AwsCallLimits, isUnansweredCall, sendWithin, withCallLimits } from './aws-call-limits';

/** Temporary credentials, in the shape the AWS SDK's `credentials` option takes. */
export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Port: credentials to act for one tenant. */
export interface TenantSessions {
  /** @throws TenantSessionDenied, DependencyThrottled, DependencyUnavailable */
  credentialsFor(tenantId: string): Promise<SessionCredentials>;
}

export interface AssumedRoleSessionsOptions {
  /** The tenant access role (`TENANT_ROLE_ARN`). */
  readonly roleArn: string;
  /** Timeouts and attempts of the STS calls, and each call's ceiling. */
  readonly limits?: AwsCallLimits;
  /** Tests and local stand-ins: the STS client, already configured. */
  readonly client?: STSClient;
  /** Most tenants whose session a container keeps; the least recently used goes first. */
  readonly maxTenants?: number;
  readonly clock?: Clock;
}

/** Enough for every tenant a warm container serves in a session's lifetime, small enough to bound memory. */
export const DEFAULT_MAX_TENANT_SESSIONS = 1_000;

/**
 * Sessions of the tenant access role, one per tenant, each kept until
 * TENANT_SESSION_RENEW_BEFORE_SECONDS before it expires: one `sts:AssumeRole` per container per
 * tenant per session lifetime. Concurrent requests for a tenant without a session share one
 * AssumeRole (lru-cache's `fetch`), so a stampede of cold requests costs one STS call too.
 *
 * @example
 * const sessions = new AssumedRoleSessions({ roleArn: process.env.TENANT_ROLE_ARN! });
 * const client = new DynamoDBClient({ credentials: () => sessions.credentialsFor('acme') });
 */
export class AssumedRoleSessions implements TenantSessions {
  private readonly client: STSClient;
  private readonly clock: Clock;
  private readonly cache: LRUCache<string, SessionCredentials>;

  constructor(private readonly options: AssumedRoleSessionsOptions) {
    this.client = options.client ?? new STSClient(options.limits ? withCallLimits(options.limits) : {});
    this.clock = options.clock ?? systemClock;
    this.cache = new LRUCache<string, SessionCredentials>({
      max: options.maxTenants ?? DEFAULT_MAX_TENANT_SESSIONS,
      fetchMethod: (tenantId) => this.assume(tenantId),
      // Rejections are not cached: the next request asks STS again.
      noDeleteOnFetchRejection: false,
    });
  }

  async credentialsFor(tenantId: string): Promise<SessionCredentials> {
    const cached = this.cache.get(tenantId);
    if (cached !== undefined && this.usable(cached)) return cached;
    if (cached !== undefined) this.cache.delete(tenantId);
    const session = await this.cache.fetch(tenantId);
    if (session === undefined) throw new DependencyUnavailable('STS');
    return session;
  }

  private usable(session: SessionCredentials): boolean {
    return session.expiration.getTime() - TENANT_SESSION_RENEW_BEFORE_SECONDS * 1000 > this.clock.now();
  }

  private async assume(tenantId: string): Promise<SessionCredentials> {
    const command = new AssumeRoleCommand({
      RoleArn: this.options.roleArn,
      RoleSessionName: tenantSessionName(tenantId),
      DurationSeconds: TENANT_SESSION_DURATION_SECONDS,
      Tags: [{ Key: TENANT_SESSION_TAG, Value: tenantId }],
    });
    let answer;
    try {
      answer = await sendWithin(this.options.limits, (sendOptions) => this.client.send(command, sendOptions));
    } catch (error) {
      throw translateStsError(error);
    }
    const c = answer.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
      throw new DependencyUnavailable('STS');
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  }
}

/** STS's answers as the service's errors. Never quotes the answer: it may carry credentials. */
function translateStsError(error: unknown): unknown {
  const name = error instanceof Error ? error.name : '';
  switch (name) {
    case 'AccessDenied':
    case 'AccessDeniedException':
    case 'RegionDisabledException':
    case 'MalformedPolicyDocument':
    case 'PackedPolicyTooLarge':
    case 'ValidationError':
      return new TenantSessionDenied({ cause: new Error(name) });
    case 'Throttling':
    case 'ThrottlingException':
      return new DependencyThrottled('STS', { cause: new Error(name) });
    default:
      return isUnansweredCall(error) || name === 'IDPCommunicationError'
        ? new DependencyUnavailable('STS', { cause: new Error(name) })
        : error;
  }
}
