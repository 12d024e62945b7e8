/**
 * The token table in DynamoDB: one item per tenant holding its token, the lease of whoever is
 * fetching the next one, the last upstream failure and the last invalidation. Every write is a
 * single conditional UpdateItem; the conditions are spelled out as named parts below, and a loser
 * gets the winning item back (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) when the engine
 * sends it. Every read is strongly consistent.
 *
 * Lease timeline for one tenant (A and B are invocations in any containers):
 *
 *   A: acquire(v=3) ──── upstream call ────► store(v=4, lease removed)
 *   B:      acquire(v=3) ✗ lease live → wait … read(v=4) → serve
 *   If A dies: its lease stays in the item, expired. B reads it, and its acquire(v=3) succeeds and
 *   marks the token in doubt (A may have replaced it upstream before dying); A's late store fails
 *   its `leaseOwner = A` condition.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { DependencyThrottled, DependencyUnavailable } from '../domain/errors';
import { type AwsCallLimits, isUnansweredCall, withCallCeiling } from './aws-call-limits';
import { TABLE_ATTRIBUTES } from '../../contract/table';
import type {
  CachedToken,
  LeaseRequest,
  RecordedFailure,
  TenantTokenState,
  TokenLease,
  TokenStore,
  WriteResult,
} from '../domain/types';

/** Attribute names: the item layout is part of the table's contract (contract/table.ts). */
const A = TABLE_ATTRIBUTES;

const names = Object.fromEntries(Object.values(A).map((name) => [`#${name}`, name]));

/** Named parts of the conditions, joined below. */
const NO_LIVE_LEASE = '(attribute_not_exists(#leaseExpiresAt) OR #leaseExpiresAt <= :now)';
const UNCHANGED_SINCE_READ = '(attribute_not_exists(#tenantId) OR #v = :seenVersion)';
const HOLDS_LEASE = '#leaseOwner = :owner';
const IS_CURRENT_TOKEN = '#accessToken = :reportedToken AND attribute_not_exists(#retiredAt)';
const NOT_INVALIDATED_RECENTLY = '(attribute_not_exists(#lastInvalidatedAt) OR #lastInvalidatedAt <= :cutoff)';
const RANK_IS_LOWER = '(attribute_not_exists(#credentialRank) OR #credentialRank < :rank)';

/**
 * Engine error names that mean "try again": throttling, and failures whose outcome is unknown (with
 * every call that got no answer: timeouts, lost connections, 5xx; `isUnansweredCall`).
 */
const THROTTLING = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);
const UNAVAILABLE = new Set(['InternalServerError', 'ServiceUnavailable', 'TransactionConflictException']);

type Item = Record<string, unknown>;
interface ConditionalInput {
  readonly UpdateExpression: string;
  readonly ConditionExpression: string;
  /** Plain values, marshalled here. */
  readonly ExpressionAttributeValues: Record<string, unknown>;
}

/** Optional values left undefined are left out of the expression values. */
const MARSHALL_OPTIONS = { removeUndefinedValues: true } as const;

export interface DynamoTokenTableOptions {
  readonly tableName: string;
  readonly client?: DynamoDBClient;
  readonly clientConfig?: DynamoDBClientConfig;
  /**
   * How long each call may take (aws-call-limits.ts), for a client built here: one attempt, the
   * timeouts, and the call ceiling held by its request handler (`withCallCeiling`). A `client`
   * given must carry them already. Without limits: the SDK's defaults.
   */
  readonly limits?: AwsCallLimits;
}

/**
 * The `TokenStore` port on DynamoDB. It acts and never decides: one request per call, no retries
 * of its own beyond the SDK's, and every failure typed (transient ones as `DependencyThrottled` /
 * `DependencyUnavailable`) so that the vendor's policy can decide what to do next.
 *
 * It speaks the low-level client with `@aws-sdk/util-dynamodb`'s marshalling rather than the
 * document client, and sends every command without per-call options: the document client cannot
 * cache its middleware (`cacheMiddleware`), and resolving the stack on every GetItem cost about
 * 60 µs of a 1.2 ms table hit (README, Performance, figure 2).
 *
 * @example
 * const table = new DynamoTokenTable({ tableName: 'tokens' });
 * const state = await table.read('acme');
 */
export class DynamoTokenTable implements TokenStore {
  private readonly tableName: string;
  private readonly client: DynamoDBClient;

  constructor(options: DynamoTokenTableOptions) {
    this.tableName = options.tableName;
    const clientConfig = options.limits ? withCallCeiling(options.limits, options.clientConfig) : (options.clientConfig ?? {});
    this.client = options.client ?? new DynamoDBClient(clientConfig);
  }

  async read(tenantId: string): Promise<TenantTokenState> {
    // Always strongly consistent: an eventually consistent read could return a token that was
    // retired or replaced a moment ago (README, Guarantees I2 and I4).
    const { Item } = await this.call(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { [A.tenantId]: { S: tenantId } }, ConsistentRead: true })),
    );
    return toState(tenantId, Item && unmarshall(Item));
  }

  async acquireLease(tenantId: string, request: LeaseRequest): Promise<WriteResult> {
    const doubt = request.markTokenInDoubt ? ', #doubtedAt = :now' : '';
    return this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #leaseOwner = :owner, #leaseExpiresAt = :leaseExpiresAt, #v = if_not_exists(#v, :zero), ' +
        `#credentialRank = :rank, #ttl = :ttl${doubt}`,
      ConditionExpression: `${UNCHANGED_SINCE_READ} AND ${NO_LIVE_LEASE}`,
      ExpressionAttributeValues: {
        ':owner': request.lease.owner,
        ':leaseExpiresAt': request.lease.expiresAt,
        ':now': request.now,
        ':seenVersion': request.seenVersion,
        ':zero': 0,
        ':rank': request.credentialRank,
        // One TTL per item: it must outlive both the lease and the token the item still holds.
        ':ttl': epochSeconds(request.keepItemUntil + TTL_SLACK_MS),
      },
    });
  }

  async storeToken(
    tenantId: string,
    owner: string,
    token: Omit<CachedToken, 'version' | 'retiredAt' | 'doubtedAt'>,
  ): Promise<WriteResult> {
    // Optional attributes are set when the token has them and removed otherwise, so that no
    // attribute of the previous token survives into the new one.
    const optional = { [A.baseUrl]: token.baseUrl, [A.scope]: token.scope };
    const setOptional = Object.entries(optional).filter(([, v]) => v !== undefined).map(([k]) => `, #${k} = :${k}`);
    const removeOptional = Object.entries(optional).filter(([, v]) => v === undefined).map(([k]) => `, #${k}`);
    return this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #accessToken = :accessToken, #refreshToken = :refreshToken, #expireTime = :expireTime, ' +
        '#corporationId = :corporationId, #issuedAt = :issuedAt, #fingerprint = :fingerprint, ' +
        `#tokenCredentialRank = :tokenCredentialRank, #v = #v + :one, #ttl = :ttl${setOptional.join('')} ` +
        `REMOVE #leaseOwner, #leaseExpiresAt, #retiredAt, #doubtedAt, #failureCode, #failureAt, #failureLeaseOwner${removeOptional.join('')}`,
      ConditionExpression: HOLDS_LEASE,
      ExpressionAttributeValues: {
        ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined).map(([k, v]) => [`:${k}`, v])),
        ':owner': owner,
        ':accessToken': token.accessToken,
        ':refreshToken': token.refreshToken,
        ':expireTime': token.expireTime,
        ':corporationId': token.corporationId,
        ':issuedAt': token.issuedAt,
        ':fingerprint': token.fingerprint,
        ':tokenCredentialRank': token.credentialRank,
        ':one': 1,
        ':ttl': epochSeconds(token.expireTime + TTL_SLACK_MS),
      },
    });
  }

  async releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<WriteResult> {
    return this.conditionalUpdate(tenantId, {
      UpdateExpression:
        'SET #failureCode = :code, #failureAt = :at, #failureLeaseOwner = :owner REMOVE #leaseOwner, #leaseExpiresAt',
      ConditionExpression: HOLDS_LEASE,
      ExpressionAttributeValues: { ':owner': owner, ':code': failure.code, ':at': failure.at },
    });
  }

  async retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<WriteResult> {
    return this.conditionalUpdate(tenantId, {
      UpdateExpression: 'SET #retiredAt = :now, #lastInvalidatedAt = :now',
      ConditionExpression: `${IS_CURRENT_TOKEN} AND ${NOT_INVALIDATED_RECENTLY}`,
      ExpressionAttributeValues: { ':reportedToken': accessToken, ':now': now, ':cutoff': now - minIntervalMs },
    });
  }

  async recordCredentialRank(tenantId: string, rank: number): Promise<WriteResult> {
    return this.conditionalUpdate(tenantId, {
      UpdateExpression: 'SET #credentialRank = :rank, #v = if_not_exists(#v, :zero)',
      ConditionExpression: RANK_IS_LOWER,
      ExpressionAttributeValues: { ':rank': rank, ':zero': 0 },
    });
  }

  async listExpiringBefore(before: number): Promise<string[]> {
    const tenants: string[] = [];
    // Page by page: each page is one call, with a ceiling of its own.
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const exclusiveStartKey = startKey;
      const page = await this.call(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: '#expireTime < :before',
            ProjectionExpression: '#tenantId',
            ExpressionAttributeNames: { '#expireTime': A.expireTime, '#tenantId': A.tenantId },
            ExpressionAttributeValues: { ':before': { N: String(before) } },
            ...(exclusiveStartKey && { ExclusiveStartKey: exclusiveStartKey }),
          }),
        ),
      );
      for (const item of page.Items ?? []) tenants.push(String(unmarshall(item)[A.tenantId]));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return tenants;
  }

  private async conditionalUpdate(tenantId: string, input: ConditionalInput): Promise<WriteResult> {
    const expressions = `${input.UpdateExpression} ${input.ConditionExpression}`;
    try {
      const { Attributes } = await this.call(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { [A.tenantId]: { S: tenantId } },
            UpdateExpression: input.UpdateExpression,
            ConditionExpression: input.ConditionExpression,
            ExpressionAttributeValues: marshall(input.ExpressionAttributeValues, MARSHALL_OPTIONS),
            // DynamoDB rejects names that the expressions do not use.
            ExpressionAttributeNames: Object.fromEntries(
              Object.entries(names).filter(([placeholder]) => new RegExp(`${placeholder}\\b`).test(expressions)),
            ),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { ok: true, state: toState(tenantId, Attributes && unmarshall(Attributes)) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') {
        const item = (error as ConditionalCheckFailedException).Item;
        // DynamoDB sends nothing when the item does not exist, and dynalite never sends it: both
        // come back as "no state", which the vendor answers by reading.
        return item === undefined ? { ok: false } : { ok: false, state: toState(tenantId, unmarshall(item)) };
      }
      throw error;
    }
  }

  /**
   * One request, transient failures typed. Sent without options, so that the client resolves its
   * middleware once per command; the call ceiling is its request handler's (`withCallCeiling`).
   */
  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = (error as Error).name;
      if (THROTTLING.has(name)) throw new DependencyThrottled('DynamoDB', { cause: error });
      if (UNAVAILABLE.has(name) || isUnansweredCall(error)) throw new DependencyUnavailable('DynamoDB', { cause: error });
      throw error;
    }
  }
}

/** DynamoDB deletes expired items lazily and late; a little slack keeps them readable past expiry. */
const TTL_SLACK_MS = 60_000;

function toState(tenantId: string, item: Item | undefined): TenantTokenState {
  if (item === undefined) return { tenantId, version: 0, credentialRank: 0 };
  const version = Number(item[A.version] ?? 0);
  const token: CachedToken | undefined =
    typeof item[A.accessToken] === 'string'
      ? {
          accessToken: item[A.accessToken] as string,
          refreshToken: String(item[A.refreshToken] ?? ''),
          expireTime: Number(item[A.expireTime]),
          corporationId: String(item[A.corporationId] ?? ''),
          ...(typeof item[A.baseUrl] === 'string' && { baseUrl: item[A.baseUrl] as string }),
          ...(typeof item[A.scope] === 'string' && { scope: item[A.scope] as string }),
          issuedAt: Number(item[A.issuedAt] ?? 0),
          fingerprint: String(item[A.fingerprint] ?? ''),
          credentialRank: Number(item[A.tokenCredentialRank] ?? 0),
          version,
          ...(item[A.retiredAt] !== undefined && { retiredAt: Number(item[A.retiredAt]) }),
          ...(item[A.doubtedAt] !== undefined && { doubtedAt: Number(item[A.doubtedAt]) }),
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
    credentialRank: Number(item[A.credentialRank] ?? 0),
    ...(token && { token }),
    ...(lease && { lease }),
    ...(lastFailure && { lastFailure }),
    ...(item[A.lastInvalidatedAt] !== undefined && { lastInvalidatedAt: Number(item[A.lastInvalidatedAt]) }),
  };
}

function epochSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
