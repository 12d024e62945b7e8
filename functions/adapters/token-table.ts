/**
 * The token table in DynamoDB: one item per tenant holding its token, the lease of whoever is
 * fetching the next one, the last upstream failure and the last invalidation. Every write is a
 * single conditional UpdateItem; the conditions are spelled out as named parts below, and a loser
 * gets the winning item back (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) instead of
 * re-reading it.
 *
 * Lease timeline for one tenant (A and B are invocations in any containers):
 *
 *   A: acquire(v=3) ──── upstream call ────► store(v=4, lease removed)
 *   B:      acquire(v=3) ✗ lease live → wait … read(v=4) → serve
 *   If A dies: its lease runs out at leaseExpiresAt; B's next acquire(v=3) succeeds, and A's late
 *   store fails its `leaseOwner = A` condition.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  paginateScan,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DependencyThrottled } from '../domain/errors';
import type {
  AcquireResult,
  CachedToken,
  RecordedFailure,
  RetireResult,
  TenantTokenState,
  TokenLease,
  TokenStore,
} from '../domain/types';

/** Attribute names, in one place: the item layout is part of the table's contract. */
const A = {
  tenantId: 'tenantId',
  version: 'v',
  accessToken: 'accessToken',
  refreshToken: 'refreshToken',
  expireTime: 'expireTime',
  corporationId: 'corporationId',
  issuedAt: 'issuedAt',
  fingerprint: 'fingerprint',
  retiredAt: 'retiredAt',
  leaseOwner: 'leaseOwner',
  leaseExpiresAt: 'leaseExpiresAt',
  failureCode: 'failureCode',
  failureAt: 'failureAt',
  failureLeaseOwner: 'failureLeaseOwner',
  lastInvalidatedAt: 'lastInvalidatedAt',
  ttl: 'ttl',
} as const;

/** The TTL attribute's name, for the CDK table and local table creation. */
export const TTL_ATTRIBUTE = A.ttl;
export const PARTITION_KEY = A.tenantId;

const names = Object.fromEntries(Object.values(A).map((name) => [`#${name}`, name]));

/** Named parts of the conditions, joined below. */
const NO_LIVE_LEASE = '(attribute_not_exists(#leaseExpiresAt) OR #leaseExpiresAt <= :now)';
const UNCHANGED_SINCE_READ = '(attribute_not_exists(#tenantId) OR #v = :seenVersion)';
const HOLDS_LEASE = '#leaseOwner = :owner';
const IS_CURRENT_TOKEN = '#accessToken = :reportedToken AND attribute_not_exists(#retiredAt)';
const NOT_INVALIDATED_RECENTLY = '(attribute_not_exists(#lastInvalidatedAt) OR #lastInvalidatedAt <= :cutoff)';

type Item = Record<string, unknown>;

export interface DynamoTokenTableOptions {
  readonly tableName: string;
  readonly client?: DynamoDBClient;
  readonly clientConfig?: DynamoDBClientConfig;
}

export class DynamoTokenTable implements TokenStore {
  private readonly tableName: string;
  private readonly documents: DynamoDBDocumentClient;

  constructor(options: DynamoTokenTableOptions) {
    this.tableName = options.tableName;
    this.documents = DynamoDBDocumentClient.from(options.client ?? new DynamoDBClient(options.clientConfig ?? {}), {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async read(tenantId: string, consistent: boolean): Promise<TenantTokenState> {
    const { Item } = await this.call(() =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: { [A.tenantId]: tenantId }, ConsistentRead: consistent }),
      ),
    );
    return toState(tenantId, Item);
  }

  async acquireLease(tenantId: string, seen: TenantTokenState, lease: TokenLease, now: number): Promise<AcquireResult> {
    // The item must outlive both the token it may still hold and the lease.
    const keepUntil = Math.max(seen.token?.expireTime ?? 0, lease.expiresAt);
    const result = await this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #leaseOwner = :owner, #leaseExpiresAt = :leaseExpiresAt, #v = if_not_exists(#v, :zero), #ttl = :ttl',
      ConditionExpression: `${UNCHANGED_SINCE_READ} AND ${NO_LIVE_LEASE}`,
      ExpressionAttributeValues: {
        ':owner': lease.owner,
        ':leaseExpiresAt': lease.expiresAt,
        ':now': now,
        ':seenVersion': seen.version,
        ':zero': 0,
        ':ttl': epochSeconds(keepUntil),
      },
    });
    return result.ok
      ? { acquired: true, state: toState(tenantId, result.item) }
      : { acquired: false, state: toState(tenantId, result.item) };
  }

  async storeToken(
    tenantId: string,
    owner: string,
    token: Omit<CachedToken, 'version'>,
  ): Promise<TenantTokenState | undefined> {
    const result = await this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #accessToken = :accessToken, #refreshToken = :refreshToken, #expireTime = :expireTime, ' +
        '#corporationId = :corporationId, #issuedAt = :issuedAt, #fingerprint = :fingerprint, ' +
        '#v = #v + :one, #ttl = :ttl ' +
        'REMOVE #leaseOwner, #leaseExpiresAt, #retiredAt, #failureCode, #failureAt, #failureLeaseOwner',
      ConditionExpression: HOLDS_LEASE,
      ExpressionAttributeValues: {
        ':owner': owner,
        ':accessToken': token.accessToken,
        ':refreshToken': token.refreshToken,
        ':expireTime': token.expireTime,
        ':corporationId': token.corporationId,
        ':issuedAt': token.issuedAt,
        ':fingerprint': token.fingerprint,
        ':one': 1,
        ':ttl': epochSeconds(token.expireTime),
      },
    });
    return result.ok ? toState(tenantId, result.item) : undefined;
  }

  async releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<void> {
    // A failed condition means the lease already ran out and moved on: nothing left to release.
    await this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #failureCode = :code, #failureAt = :at, #failureLeaseOwner = :owner REMOVE #leaseOwner, #leaseExpiresAt',
      ConditionExpression: HOLDS_LEASE,
      ExpressionAttributeValues: { ':owner': owner, ':code': failure.code, ':at': failure.at },
    });
  }

  async retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<RetireResult> {
    const result = await this.conditionalUpdate(tenantId, {
      UpdateExpression: 'SET #retiredAt = :now, #lastInvalidatedAt = :now',
      ConditionExpression: `${IS_CURRENT_TOKEN} AND ${NOT_INVALIDATED_RECENTLY}`,
      ExpressionAttributeValues: { ':reportedToken': accessToken, ':now': now, ':cutoff': now - minIntervalMs },
    });
    if (result.ok) return { outcome: 'retired' };
    const current = result.item;
    const stillCurrent = current?.[A.accessToken] === accessToken && current[A.retiredAt] === undefined;
    return stillCurrent
      ? { outcome: 'rate-limited', lastInvalidatedAt: Number(current[A.lastInvalidatedAt]) }
      : { outcome: 'stale' };
  }

  async listExpiringBefore(before: number): Promise<string[]> {
    const tenants: string[] = [];
    const pages = paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        FilterExpression: '#expireTime < :before',
        ProjectionExpression: '#tenantId',
        ExpressionAttributeNames: { '#expireTime': A.expireTime, '#tenantId': A.tenantId },
        ExpressionAttributeValues: { ':before': before },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) tenants.push(String(item[A.tenantId]));
    }
    return tenants;
  }

  private async conditionalUpdate(
    tenantId: string,
    input: Pick<UpdateCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'>,
  ): Promise<{ ok: boolean; item: Item | undefined }> {
    const expressions = `${input.UpdateExpression} ${input.ConditionExpression}`;
    try {
      const { Attributes } = await this.call(() =>
        this.documents.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { [A.tenantId]: tenantId },
            ...input,
            // DynamoDB rejects names that the expressions do not use.
            ExpressionAttributeNames: Object.fromEntries(
              Object.entries(names).filter(([placeholder]) => expressions.includes(placeholder)),
            ),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { ok: true, item: Attributes };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') {
        const item = (error as ConditionalCheckFailedException).Item;
        // ALL_OLD on a failed condition arrives as raw AttributeValues even through the document client.
        return { ok: false, item: item === undefined ? undefined : unmarshall(item) };
      }
      throw error;
    }
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ProvisionedThroughputExceededException' || name === 'ThrottlingException' || name === 'RequestLimitExceeded') {
        throw new DependencyThrottled('DynamoDB', { cause: error });
      }
      throw error;
    }
  }
}

function toState(tenantId: string, item: Item | undefined): TenantTokenState {
  if (item === undefined) return { tenantId, version: 0 };
  const version = Number(item[A.version] ?? 0);
  const token: CachedToken | undefined =
    typeof item[A.accessToken] === 'string'
      ? {
          accessToken: item[A.accessToken] as string,
          refreshToken: String(item[A.refreshToken] ?? ''),
          expireTime: Number(item[A.expireTime]),
          corporationId: String(item[A.corporationId] ?? ''),
          issuedAt: Number(item[A.issuedAt] ?? 0),
          fingerprint: String(item[A.fingerprint] ?? ''),
          version,
          ...(item[A.retiredAt] !== undefined && { retiredAt: Number(item[A.retiredAt]) }),
        }
      : undefined;
  const lease: TokenLease | undefined =
    typeof item[A.leaseOwner] === 'string'
      ? { owner: item[A.leaseOwner] as string, expiresAt: Number(item[A.leaseExpiresAt]) }
      : undefined;
  const lastFailure: RecordedFailure | undefined =
    typeof item[A.failureCode] === 'string'
      ? {
          code: item[A.failureCode] as RecordedFailure['code'],
          at: Number(item[A.failureAt]),
          leaseOwner: String(item[A.failureLeaseOwner] ?? ''),
        }
      : undefined;
  return {
    tenantId,
    version,
    ...(token && { token }),
    ...(lease && { lease }),
    ...(lastFailure && { lastFailure }),
    ...(item[A.lastInvalidatedAt] !== undefined && { lastInvalidatedAt: Number(item[A.lastInvalidatedAt]) }),
  };
}

function epochSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
