/**
 * The token table as a plain in-memory map, for the deterministic fault simulator: the same port,
 * the same conditions and the same answers as `DynamoTokenTable` on DynamoDB, with no I/O, no
 * timers, no randomness and no clock of its own (time only arrives through arguments).
 *
 * Every write mirrors one conditional `UpdateItem` of the real adapter: the condition is checked
 * against the item as it is, and the answer is the item after the write (`ALL_NEW`) or the item
 * that failed the condition (`ALL_OLD`; none when there was no item, as DynamoDB sends nothing).
 * `test/integration/token-store-conformance.test.ts` runs random operation sequences against this
 * store, DynamoDB Local and dynalite and compares them.
 */
import { DependencyThrottled, DependencyUnavailable } from '../functions/domain/errors';
import type {
  CachedToken,
  LeaseRequest,
  RecordedFailure,
  TenantTokenState,
  TokenLease,
  TokenStore,
  WriteResult,
} from '../functions/domain/types';

/** The store's operations, as the fault injector sees them. */
export type StoreOperation =
  | 'read'
  | 'acquireLease'
  | 'storeToken'
  | 'releaseLease'
  | 'retire'
  | 'recordCredentialRank'
  | 'listExpiringBefore';

/**
 * What the engine does wrong on one call:
 * - `throttle`: throws `DependencyThrottled` without applying anything;
 * - `reject`: throws `DependencyUnavailable` without applying anything;
 * - `lost-answer`: applies the write, then throws `DependencyUnavailable` (a timeout after commit);
 * - `omit-item`: applies normally, but a failed condition comes back without the item (dynalite).
 */
export type StoreFault = 'throttle' | 'reject' | 'lost-answer' | 'omit-item';

/** Asked before every call; `undefined` lets the call through untouched. */
export interface StoreFaultInjector {
  before(operation: StoreOperation, tenantId: string): StoreFault | undefined;
}

/** The tenant id the injector is given for `listExpiringBefore`, which spans all tenants. */
export const ALL_TENANTS = '*';

export interface InMemoryTokenStoreOptions {
  readonly faults?: StoreFaultInjector;
}

type StoredToken = Omit<CachedToken, 'version' | 'retiredAt' | 'doubtedAt'>;

/**
 * One tenant's item, attribute for attribute as the adapter keeps it in DynamoDB. `retiredAt` and
 * `doubtedAt` live on the item, not inside the token, because that is where DynamoDB keeps them:
 * only the token's presence decides whether they are visible.
 */
interface Item {
  readonly version?: number;
  readonly credentialRank?: number;
  readonly token?: StoredToken;
  readonly retiredAt?: number;
  readonly doubtedAt?: number;
  readonly lease?: TokenLease;
  readonly lastFailure?: RecordedFailure;
  readonly lastInvalidatedAt?: number;
}

/** A conditional write: the condition on the item as it is, and the item it becomes. */
interface ConditionalWrite {
  readonly condition: (item: Item | undefined) => boolean;
  readonly update: (item: Item | undefined) => Item;
}

/**
 * `TokenStore` on a `Map`, behaving like `DynamoTokenTable` on DynamoDB, with injectable engine
 * faults. Answers are fresh frozen copies: nothing a caller holds changes when the store does.
 *
 * @example
 * ```ts
 * const store = new InMemoryTokenStore({
 *   faults: { before: (op) => (op === 'storeToken' ? 'lost-answer' : undefined) },
 * });
 * const lease = { owner: 'fake-owner-1', expiresAt: 1_000 };
 * await store.acquireLease('acme', { lease, seenVersion: 0, now: 0, credentialRank: 0, markTokenInDoubt: false });
 * const token = {
 *   accessToken: 'fake-token-1', refreshToken: 'fake-refresh-1', expireTime: 9_000, corporationId: 'FAKEcorp0001',
 *   issuedAt: 500, fingerprint: 'fake-fingerprint', credentialRank: 0,
 * };
 * await store.storeToken('acme', 'fake-owner-1', token).catch(() => {}); // DependencyUnavailable…
 * store.snapshot('acme').version; // 1: …yet stored, as after a DynamoDB timeout past the commit
 * ```
 */
export class InMemoryTokenStore implements TokenStore {
  private readonly items = new Map<string, Item>();
  /** Swappable, so a simulator can change the weather between steps. */
  faults: StoreFaultInjector | undefined;

  constructor(options: InMemoryTokenStoreOptions = {}) {
    this.faults = options.faults;
  }

  async read(tenantId: string): Promise<TenantTokenState> {
    const fault = this.faultBefore('read', tenantId);
    throwIfRefused(fault);
    const state = toState(tenantId, this.items.get(tenantId));
    throwIfAnswerLost(fault);
    return state;
  }

  /** The item as it is now, with no fault and no await: for the simulator's checker. */
  snapshot(tenantId: string): TenantTokenState {
    return toState(tenantId, this.items.get(tenantId));
  }

  async acquireLease(tenantId: string, request: LeaseRequest): Promise<WriteResult> {
    const { lease, seenVersion, now, credentialRank, markTokenInDoubt } = request;
    return this.write('acquireLease', tenantId, {
      condition: (item) => unchangedSinceRead(item, seenVersion) && noLiveLease(item, now),
      update: (item) => ({
        ...item,
        lease: { owner: lease.owner, expiresAt: lease.expiresAt },
        version: item?.version ?? 0,
        credentialRank,
        // Set on the item whether or not it holds a token, as the adapter's `SET #doubtedAt` does;
        // without a token nobody sees it, and the next stored token removes it.
        ...(markTokenInDoubt && { doubtedAt: now }),
      }),
    });
  }

  async storeToken(tenantId: string, owner: string, token: StoredToken): Promise<WriteResult> {
    return this.write('storeToken', tenantId, {
      condition: (item) => holdsLease(item, owner),
      // `item!`: holding the lease means the item exists.
      update: (item) => {
        const { lease: _lease, retiredAt: _retired, doubtedAt: _doubted, lastFailure: _failure, ...kept } = item!;
        return { ...kept, token: copyToken(token), version: (item!.version ?? 0) + 1 };
      },
    });
  }

  async releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<WriteResult> {
    return this.write('releaseLease', tenantId, {
      condition: (item) => holdsLease(item, owner),
      update: (item) => {
        const { lease: _lease, ...kept } = item!;
        // The failure is pinned to the lease the condition matched (`owner`), not to whatever
        // `failure.leaseOwner` says, as in the adapter.
        return { ...kept, lastFailure: { code: failure.code, at: failure.at, leaseOwner: owner } };
      },
    });
  }

  async retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<WriteResult> {
    return this.write('retire', tenantId, {
      condition: (item) => isCurrentToken(item, accessToken) && notInvalidatedSince(item, now - minIntervalMs),
      update: (item) => ({ ...item, retiredAt: now, lastInvalidatedAt: now }),
    });
  }

  async recordCredentialRank(tenantId: string, rank: number): Promise<WriteResult> {
    return this.write('recordCredentialRank', tenantId, {
      condition: (item) => item?.credentialRank === undefined || item.credentialRank < rank,
      update: (item) => ({ ...item, version: item?.version ?? 0, credentialRank: rank }),
    });
  }

  async listExpiringBefore(before: number): Promise<string[]> {
    const fault = this.faultBefore('listExpiringBefore', ALL_TENANTS);
    throwIfRefused(fault);
    const tenants = [...this.items]
      .filter(([, item]) => item.token !== undefined && item.token.expireTime < before)
      .map(([tenantId]) => tenantId);
    throwIfAnswerLost(fault);
    return tenants;
  }

  /** One conditional UpdateItem: check, apply, answer ALL_NEW or ALL_OLD, with the injected fault. */
  private async write(operation: StoreOperation, tenantId: string, write: ConditionalWrite): Promise<WriteResult> {
    const fault = this.faultBefore(operation, tenantId);
    throwIfRefused(fault);
    const current = this.items.get(tenantId);
    if (!write.condition(current)) {
      throwIfAnswerLost(fault);
      // ALL_OLD of an absent item is nothing at all, and the adapter passes that on as no state.
      if (fault === 'omit-item' || current === undefined) return Object.freeze({ ok: false });
      return Object.freeze({ ok: false, state: toState(tenantId, current) });
    }
    const next = write.update(current);
    this.items.set(tenantId, next);
    throwIfAnswerLost(fault);
    return Object.freeze({ ok: true, state: toState(tenantId, next) });
  }

  private faultBefore(operation: StoreOperation, tenantId: string): StoreFault | undefined {
    return this.faults?.before(operation, tenantId);
  }
}

// Named parts of the conditions, as in the adapter.

/** `attribute_not_exists(tenantId) OR v = :seenVersion`: an item without `v` matches no version. */
function unchangedSinceRead(item: Item | undefined, seenVersion: number): boolean {
  return item === undefined || item.version === seenVersion;
}

/** `attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now`. */
function noLiveLease(item: Item | undefined, now: number): boolean {
  return item?.lease === undefined || item.lease.expiresAt <= now;
}

/** `leaseOwner = :owner`: a lease that ran out but that nobody took over still counts. */
function holdsLease(item: Item | undefined, owner: string): boolean {
  return item?.lease?.owner === owner;
}

/** `accessToken = :reported AND attribute_not_exists(retiredAt)`. */
function isCurrentToken(item: Item | undefined, accessToken: string): boolean {
  return item?.token?.accessToken === accessToken && item.retiredAt === undefined;
}

/** `attribute_not_exists(lastInvalidatedAt) OR lastInvalidatedAt <= :cutoff`. */
function notInvalidatedSince(item: Item | undefined, cutoff: number): boolean {
  return item?.lastInvalidatedAt === undefined || item.lastInvalidatedAt <= cutoff;
}

function throwIfRefused(fault: StoreFault | undefined): void {
  if (fault === 'throttle') throw new DependencyThrottled('DynamoDB');
  if (fault === 'reject') throw new DependencyUnavailable('DynamoDB');
}

function throwIfAnswerLost(fault: StoreFault | undefined): void {
  if (fault === 'lost-answer') throw new DependencyUnavailable('DynamoDB');
}

function copyToken(token: StoredToken): StoredToken {
  const { accessToken, refreshToken, expireTime, corporationId, baseUrl, scope, issuedAt, fingerprint, credentialRank } = token;
  return {
    accessToken,
    refreshToken,
    expireTime,
    corporationId,
    ...(baseUrl !== undefined && { baseUrl }),
    ...(scope !== undefined && { scope }),
    issuedAt,
    fingerprint,
    credentialRank,
  };
}

/** The item as the port shows it; an absent item is version 0 and rank 0, like the adapter's. */
function toState(tenantId: string, item: Item | undefined): TenantTokenState {
  const version = item?.version ?? 0;
  const token: CachedToken | undefined =
    item?.token === undefined
      ? undefined
      : Object.freeze({
          ...copyToken(item.token),
          version,
          ...(item.retiredAt !== undefined && { retiredAt: item.retiredAt }),
          ...(item.doubtedAt !== undefined && { doubtedAt: item.doubtedAt }),
        });
  return Object.freeze({
    tenantId,
    version,
    credentialRank: item?.credentialRank ?? 0,
    ...(token && { token }),
    ...(item?.lease && { lease: Object.freeze({ ...item.lease }) }),
    ...(item?.lastFailure && { lastFailure: Object.freeze({ ...item.lastFailure }) }),
    ...(item?.lastInvalidatedAt !== undefined && { lastInvalidatedAt: item.lastInvalidatedAt }),
  });
}
