/**
 * The simulator's `InMemoryTokenStore` is only worth its name if it answers like the table it
 * stands in for. The same random operation sequences run against it, against `DynamoTokenTable`
 * on AWS's DynamoDB Local, and against `DynamoTokenTable` on in-process dynalite; after every
 * operation the three must agree on the ok flag, the returned item and a fresh read of every
 * tenant. A planted difference shows that the comparison can fail at all.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import fc from 'fast-check';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { DependencyThrottled, DependencyUnavailable } from '../../functions/domain/errors';
import type { LeaseRequest, RecordedFailure, TenantTokenState, TokenStore, WriteResult } from '../../functions/domain/types';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';
import { ALL_TENANTS, InMemoryTokenStore, type StoreFault, type StoreOperation } from '../../sim/in-memory-token-store';

/** Fixed, so a failure found once is found again; numRuns keeps the file well under a minute. */
const SEED = 20_261_125;
const NUM_RUNS = 100;
const MIN_OPERATIONS = 5;
const MAX_OPERATIONS = 25;

/** Logical tenant ids; each property run prefixes them, so runs share tables without meeting. */
const TENANTS = ['tenant-a', 'tenant-b', 'tenant-c'] as const;
const OWNERS = ['fake-owner-1', 'fake-owner-2', 'fake-owner-3'] as const;
const ACCESS_TOKENS = ['fake-token-1', 'fake-token-2', 'fake-token-3'] as const;

// ---------------------------------------------------------------------------------------------
// Operations. Some arguments are "current": resolved when the operation runs, from the reference
// engine's item, so that sequences reach the interesting successes (a lease taken on the version
// just read, a store by the live holder, a retirement of the current token) and not only failures.
// Some times are "near the boundary" the condition compares them with (the lease's end, the end
// of the invalidation interval, a token's expiry), one before, at or after it: `<` against `<=`
// only shows there.

type Current = 'current';
type VersionChoice = Current | number;
type NearBoundary = { readonly nearBoundary: -1 | 0 | 1 };
type TimeChoice = number | NearBoundary;
/** Any string once resolved (`string & {}` keeps 'current' visible to the editor). */
type OwnerChoice = Current | (string & {});
type TokenChoice = Current | (string & {});

type Operation =
  | {
      readonly kind: 'acquireLease';
      readonly tenantId: string;
      readonly owner: string;
      readonly seenVersion: VersionChoice;
      /** Near the end of the current lease. */
      readonly now: TimeChoice;
      readonly leaseMs: number;
      readonly credentialRank: number;
      readonly markTokenInDoubt: boolean;
    }
  | {
      readonly kind: 'storeToken';
      readonly tenantId: string;
      readonly owner: OwnerChoice;
      readonly accessToken: string;
      readonly expireTime: number;
      readonly issuedAt: number;
      readonly fingerprint: string;
      readonly credentialRank: number;
      /** Optional attributes, present or not, so that one token's never outlives it into the next. */
      readonly baseUrl: string | null;
      readonly scope: string | null;
    }
  | {
      readonly kind: 'releaseLease';
      readonly tenantId: string;
      readonly owner: OwnerChoice;
      readonly code: RecordedFailure['code'];
      readonly at: number;
      /** Callers pass their own lease; a different one checks that the lease matched is recorded. */
      readonly failureLeaseOwner: (typeof OWNERS)[number];
    }
  | {
      readonly kind: 'retire';
      readonly tenantId: string;
      readonly accessToken: TokenChoice;
      /** Near the end of the interval since the last invalidation. */
      readonly now: TimeChoice;
      readonly minIntervalMs: number;
    }
  | { readonly kind: 'recordCredentialRank'; readonly tenantId: string; readonly rank: number }
  /** Near the expiry of the first token found (tenant-a's, else tenant-b's…). */
  | { readonly kind: 'listExpiringBefore'; readonly before: TimeChoice };

/** Uneven, so that one tenant sees long histories and the others still interleave with it. */
const tenantId = fc.oneof(
  { weight: 3, arbitrary: fc.constant(TENANTS[0]) },
  { weight: 2, arbitrary: fc.constant(TENANTS[1]) },
  { weight: 1, arbitrary: fc.constant(TENANTS[2]) },
);
const time = fc.integer({ min: 0, max: 30 });
const rank = fc.integer({ min: 0, max: 3 });
/** Mostly what the item holds (the callers' normal case), sometimes anything. */
function currentOr<T>(other: fc.Arbitrary<T>, currentWeight = 3): fc.Arbitrary<Current | T> {
  return fc.oneof({ arbitrary: fc.constant<Current>('current'), weight: currentWeight }, { arbitrary: other, weight: 1 });
}
const versionChoice = currentOr(fc.integer({ min: 0, max: 3 }), 2);
const timeChoice = (anyTime: fc.Arbitrary<number>): fc.Arbitrary<TimeChoice> =>
  fc.oneof(
    { weight: 2, arbitrary: anyTime },
    { weight: 1, arbitrary: fc.record({ nearBoundary: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
  );
const ownerChoice = currentOr(fc.constantFrom(...OWNERS));
const tokenChoice = currentOr(fc.constantFrom(...ACCESS_TOKENS));

/** Weighted towards the lease cycle (acquire, then store or release), which everything else needs. */
const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('acquireLease' as const),
      tenantId,
      owner: fc.constantFrom(...OWNERS),
      seenVersion: versionChoice,
      now: timeChoice(time),
      leaseMs: fc.integer({ min: 0, max: 10 }),
      credentialRank: rank,
      markTokenInDoubt: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('storeToken' as const),
      tenantId,
      owner: ownerChoice,
      accessToken: fc.constantFrom(...ACCESS_TOKENS),
      expireTime: fc.integer({ min: 0, max: 40 }),
      issuedAt: time,
      fingerprint: fc.constantFrom('fake-fingerprint-1', 'fake-fingerprint-2'),
      credentialRank: rank,
      baseUrl: fc.constantFrom(null, 'https://dd2.hosecloud.com', 'https://app.ekuaibao.com'),
      scope: fc.constantFrom(null, 'tenant'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('releaseLease' as const),
      tenantId,
      owner: ownerChoice,
      code: fc.constantFrom('UPSTREAM_UNAVAILABLE' as const, 'UPSTREAM_REJECTED_CREDENTIALS' as const),
      at: time,
      failureLeaseOwner: fc.constantFrom(...OWNERS),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('retire' as const),
      tenantId,
      accessToken: tokenChoice,
      now: timeChoice(time),
      minIntervalMs: fc.integer({ min: 0, max: 10 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('recordCredentialRank' as const), tenantId, rank: fc.integer({ min: 0, max: 4 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('listExpiringBefore' as const), before: timeChoice(fc.integer({ min: 0, max: 45 })) }),
  },
);

const operations = fc.array(operation, { minLength: MIN_OPERATIONS, maxLength: MAX_OPERATIONS, size: 'max' });

/**
 * Hand-written sequences run before the random ones: each edge of each condition, on both sides,
 * which random sequences reach too rarely (a second retirement needs a whole lease cycle first).
 */
const BOUNDARY_EXAMPLES: Operation[][] = (() => {
  const near = (nearBoundary: -1 | 0 | 1): NearBoundary => ({ nearBoundary });
  const acquire = (owner: string, now: TimeChoice, markTokenInDoubt = false): Operation => ({
    kind: 'acquireLease',
    tenantId: 'tenant-a',
    owner,
    seenVersion: 'current',
    now,
    leaseMs: 5,
    credentialRank: 1,
    markTokenInDoubt,
  });
  const store = (accessToken: string, expireTime: number): Operation => ({
    kind: 'storeToken',
    tenantId: 'tenant-a',
    owner: 'current',
    accessToken,
    expireTime,
    issuedAt: 0,
    fingerprint: 'fake-fingerprint-1',
    credentialRank: 1,
    baseUrl: null,
    scope: null,
  });
  const retire = (now: TimeChoice, tenantId = 'tenant-a'): Operation => ({
    kind: 'retire',
    tenantId,
    accessToken: 'current',
    now,
    minIntervalMs: 5,
  });
  const scan = (before: TimeChoice): Operation => ({ kind: 'listExpiringBefore', before });
  const release = (tenantId: string): Operation => ({
    kind: 'releaseLease',
    tenantId,
    owner: 'current',
    code: 'UPSTREAM_UNAVAILABLE',
    at: 3,
    failureLeaseOwner: 'fake-owner-1',
  });
  return [
    // Leases: live until `expiresAt`, free from it on.
    [acquire('fake-owner-1', 0), acquire('fake-owner-2', near(-1)), acquire('fake-owner-2', near(0)), acquire('fake-owner-3', near(1), true)],
    // Invalidation interval: a second retirement just before, then exactly at its end.
    [
      acquire('fake-owner-1', 0),
      store('fake-token-1', 20),
      retire(10),
      acquire('fake-owner-2', 11, true),
      store('fake-token-2', 30),
      retire(near(-1)),
      retire(near(0)),
      retire(near(0)),
    ],
    // Expiry in the scan: before, at and after the token's expireTime.
    [acquire('fake-owner-1', 0), store('fake-token-1', 20), scan(near(-1)), scan(near(0)), scan(near(1))],
    // Absent items: writes that need an item fail without one; the others create it.
    [
      release('tenant-b'),
      { ...store('fake-token-1', 20), tenantId: 'tenant-b' },
      retire(0, 'tenant-c'),
      { kind: 'recordCredentialRank', tenantId: 'tenant-b', rank: 0 },
      { kind: 'recordCredentialRank', tenantId: 'tenant-b', rank: 0 },
      release('tenant-b'),
      { ...acquire('fake-owner-1', 0), tenantId: 'tenant-b', seenVersion: 0 },
      release('tenant-b'),
    ],
  ];
})();

/** The same operations on the run's own tenants (`r7-tenant-a`…). */
function onTenantsOf(run: string, ops: readonly Operation[]): Operation[] {
  return ops.map((op) => ('tenantId' in op ? { ...op, tenantId: `${run}-${op.tenantId}` } : op));
}

/** `boundary + offset`, or the time as generated. */
function timeNear(choice: TimeChoice, boundary: number): number {
  return typeof choice === 'number' ? choice : boundary + choice.nearBoundary;
}

/**
 * The operation with its "current" and "near the boundary" choices replaced by what the
 * reference items hold.
 */
function resolve(op: Operation, items: ReadonlyMap<string, TenantTokenState>, tenants: readonly string[]): Operation {
  if (op.kind === 'recordCredentialRank') return op;
  if (op.kind === 'listExpiringBefore') {
    const firstToken = tenants.map((tenant) => items.get(tenant)?.token).find((token) => token !== undefined);
    return { ...op, before: timeNear(op.before, firstToken?.expireTime ?? 0) };
  }
  const item = items.get(op.tenantId);
  switch (op.kind) {
    case 'acquireLease':
      return {
        ...op,
        seenVersion: op.seenVersion === 'current' ? (item?.version ?? 0) : op.seenVersion,
        now: timeNear(op.now, item?.lease?.expiresAt ?? 0),
      };
    case 'storeToken':
    case 'releaseLease':
      return { ...op, owner: op.owner === 'current' ? (item?.lease?.owner ?? OWNERS[0]) : op.owner };
    case 'retire':
      return {
        ...op,
        accessToken: op.accessToken === 'current' ? (item?.token?.accessToken ?? ACCESS_TOKENS[0]) : op.accessToken,
        now: timeNear(op.now, (item?.lastInvalidatedAt ?? 0) + op.minIntervalMs),
      };
  }
}

type Answer = { readonly write: WriteResult } | { readonly tenants: string[] };

/** Runs one resolved operation on one engine; a scan only reports the run's own tenants. */
async function apply(store: TokenStore, op: Operation, tenants: readonly string[]): Promise<Answer> {
  switch (op.kind) {
    case 'acquireLease': {
      const now = op.now as number;
      const request: LeaseRequest = {
        lease: { owner: op.owner, expiresAt: now + op.leaseMs },
        keepItemUntil: now + op.leaseMs,
        seenVersion: op.seenVersion as number,
        now,
        credentialRank: op.credentialRank,
        markTokenInDoubt: op.markTokenInDoubt,
      };
      return { write: await store.acquireLease(op.tenantId, request) };
    }
    case 'storeToken':
      return {
        write: await store.storeToken(op.tenantId, op.owner, {
          accessToken: op.accessToken,
          refreshToken: `fake-refresh-${op.accessToken.slice('fake-token-'.length)}`,
          expireTime: op.expireTime,
          corporationId: 'FAKEcorp0001',
          ...(op.baseUrl !== null && { baseUrl: op.baseUrl }),
          ...(op.scope !== null && { scope: op.scope }),
          issuedAt: op.issuedAt,
          fingerprint: op.fingerprint,
          credentialRank: op.credentialRank,
        }),
      };
    case 'releaseLease':
      return {
        write: await store.releaseLease(op.tenantId, op.owner, { code: op.code, at: op.at, leaseOwner: op.failureLeaseOwner }),
      };
    case 'retire':
      return { write: await store.retire(op.tenantId, op.accessToken, op.now as number, op.minIntervalMs) };
    case 'recordCredentialRank':
      return { write: await store.recordCredentialRank(op.tenantId, op.rank) };
    case 'listExpiringBefore':
      return { tenants: (await store.listExpiringBefore(op.before as number)).filter((t) => tenants.includes(t)).sort() };
  }
}

// ---------------------------------------------------------------------------------------------
// Engines and the comparison.

interface Engine {
  readonly name: string;
  readonly store: TokenStore;
  /**
   * Whether a failed write comes back with the item whenever there is one. DynamoDB does (and
   * sends nothing when the item does not exist); dynalite never does.
   */
  readonly returnsItemOnFailure: boolean;
}

/** `undefined`-valued keys are how the SDK and spreads differ, not how items differ. */
function normalise(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Two engines answered differently; `history` ends with the operation that showed it. */
class Disagreement extends Error {
  override name = 'Disagreement';
  constructor(
    message: string,
    readonly history: readonly Operation[],
  ) {
    super(message);
  }
}

/** Fails with the whole history, so a counterexample reads as a reproduction. */
function expectSame(what: string, history: readonly Operation[], expected: [string, unknown], actual: [string, unknown]) {
  const [expectedName, expectedValue] = expected;
  const [actualName, actualValue] = actual;
  if (isDeepStrictEqual(normalise(expectedValue), normalise(actualValue))) return;
  throw new Disagreement(
    [
      `${what}: ${actualName} differs from ${expectedName}`,
      `  operations: ${JSON.stringify(history)}`,
      `  ${expectedName}: ${JSON.stringify(expectedValue)}`,
      `  ${actualName}: ${JSON.stringify(actualValue)}`,
    ].join('\n'),
    [...history],
  );
}

function compareAnswers(history: readonly Operation[], engines: readonly Engine[], answers: readonly Answer[]): void {
  const [reference, ...others] = engines.map((engine, i) => ({ engine, answer: answers[i]! }));
  const what = `answer to operation ${history.length}`;
  for (const { engine, answer } of others) {
    const ref = reference!.answer;
    if ('tenants' in ref || 'tenants' in answer) {
      expectSame(what, history, [reference!.engine.name, ref], [engine.name, answer]);
      continue;
    }
    expectSame(`${what} (ok)`, history, [reference!.engine.name, ref.write.ok], [engine.name, answer.write.ok]);
    // Engines that return the failing item must agree on when there is one (not for an absent item).
    if (engine.returnsItemOnFailure && reference!.engine.returnsItemOnFailure) {
      expectSame(
        `${what} (item returned)`,
        history,
        [reference!.engine.name, ref.write.state !== undefined],
        [engine.name, answer.write.state !== undefined],
      );
    }
    // dynalite may leave the item out of a failed write: compare items only when both have one.
    if (ref.write.state !== undefined && answer.write.state !== undefined) {
      expectSame(`${what} (item)`, history, [reference!.engine.name, ref.write.state], [engine.name, answer.write.state]);
    }
  }
}

async function readAll(store: TokenStore, tenants: readonly string[]): Promise<Map<string, TenantTokenState>> {
  const states = await Promise.all(tenants.map((tenant) => store.read(tenant)));
  return new Map(states.map((state) => [state.tenantId, state]));
}

let runCount = 0;

/**
 * Runs `ops` on every engine in lockstep, on tenants of a run of their own, comparing after each
 * step. The first engine is the reference the "current" choices are resolved from.
 */
async function runInLockstep(engines: readonly Engine[], generated: readonly Operation[]): Promise<void> {
  const run = `r${++runCount}`;
  const tenants = TENANTS.map((tenant) => `${run}-${tenant}`);
  const ops = onTenantsOf(run, generated);
  const history: Operation[] = [];
  let items = await readAll(engines[0]!.store, tenants);
  for (const op of ops) {
    const resolved = resolve(op, items, tenants);
    history.push(resolved);
    const answers = await Promise.all(engines.map((engine) => apply(engine.store, resolved, tenants)));
    compareAnswers(history, engines, answers);
    const reads = await Promise.all(engines.map((engine) => readAll(engine.store, tenants)));
    for (const tenant of tenants) {
      for (let i = 1; i < engines.length; i++) {
        expectSame(
          `read of ${tenant} after operation ${history.length}`,
          history,
          [engines[0]!.name, reads[0]!.get(tenant)],
          [engines[i]!.name, reads[i]!.get(tenant)],
        );
      }
    }
    items = reads[0]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The real engines: one table on each for the whole file (creating tables costs more than the
// runs), and a fresh in-memory store per property run.

/** Read here rather than through the test harness, which would pull in the whole vendor. */
function dynamoDbLocalEndpoint(): string {
  const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (!endpoint) throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest (global setup)');
  return endpoint;
}

const clients: DynamoDBClient[] = [];
let dynaliteServer: Server | undefined;
let realEngines: { dynamoDbLocal: TokenStore; dynalite: TokenStore };

async function startDynalite(): Promise<string> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  dynaliteServer = server;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return `http://127.0.0.1:${port}`;
}

async function tokenTableOn(endpoint: string, tableName: string): Promise<TokenStore> {
  await ensureTokenTable(endpoint, tableName);
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  clients.push(client);
  return new DynamoTokenTable({ tableName, client });
}

beforeAll(async () => {
  const tableName = `conformance-${randomUUID().slice(0, 8)}`;
  const [dynamoDbLocal, dynaliteStore] = await Promise.all([
    tokenTableOn(dynamoDbLocalEndpoint(), tableName),
    startDynalite().then((endpoint) => tokenTableOn(endpoint, tableName)),
  ]);
  realEngines = { dynamoDbLocal, dynalite: dynaliteStore };
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  const server = dynaliteServer;
  if (server) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
});

/** DynamoDB Local first (the reference), then the stand-in, then dynalite. */
function enginesWith(memory: InMemoryTokenStore): Engine[] {
  return [
    { name: 'DynamoDB Local', store: realEngines.dynamoDbLocal, returnsItemOnFailure: true },
    { name: 'InMemoryTokenStore', store: memory, returnsItemOnFailure: true },
    { name: 'dynalite', store: realEngines.dynalite, returnsItemOnFailure: false },
  ];
}

/** Planted difference: takes a live lease, as if `NO_LIVE_LEASE` were forgotten. */
class IgnoresLiveLease extends InMemoryTokenStore {
  override acquireLease(tenant: string, request: LeaseRequest): Promise<WriteResult> {
    const live = this.snapshot(tenant).lease;
    // Pretend the clock reached the live lease's end: just enough to pass the condition.
    const now = live !== undefined && live.expiresAt > request.now ? live.expiresAt : request.now;
    return super.acquireLease(tenant, { ...request, now });
  }
}

describe('InMemoryTokenStore conforms to DynamoTokenTable on DynamoDB Local and dynalite', () => {
  test('random operation sequences get the same answers and leave the same items', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(operations, async (ops) => {
        runs++;
        await runInLockstep(enginesWith(new InMemoryTokenStore()), ops);
      }),
      // Examples count among numRuns: add them, so that NUM_RUNS random sequences still run.
      { seed: SEED, numRuns: NUM_RUNS + BOUNDARY_EXAMPLES.length, examples: BOUNDARY_EXAMPLES.map((ops) => [ops]) },
    );
    expect(runs).toBe(NUM_RUNS + BOUNDARY_EXAMPLES.length);
  }, 120_000);

  test('the comparison catches a stand-in that takes a live lease', async () => {
    const property = fc.asyncProperty(operations, async (ops) => {
      await runInLockstep(enginesWith(new IgnoresLiveLease()), ops);
    });
    // No shrinking: that the difference is found is the point, not its smallest form.
    const failure = await fc.assert(property, { seed: SEED, numRuns: NUM_RUNS, endOnFailure: true }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure).toBeDefined();
    const disagreement = failure!.cause;
    expect(disagreement).toBeInstanceOf(Disagreement);
    // Found where it was planted: the ok flag of a lease the real engines refused.
    const { message, history } = disagreement as Disagreement;
    expect(message).toMatch(/\(ok\): InMemoryTokenStore differs from DynamoDB Local/);
    expect(history.at(-1)?.kind).toBe('acquireLease');
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// The fault hooks the simulator relies on: what each fault does to one write, deterministically.

describe('InMemoryTokenStore fault hooks', () => {
  const lease = { owner: 'fake-owner-1', expiresAt: 10 };
  const request: LeaseRequest = { lease, seenVersion: 0, now: 0, credentialRank: 0, markTokenInDoubt: false, keepItemUntil: 10 };

  function storeFailing(operation: StoreOperation, fault: StoreFault) {
    const seen: Array<[StoreOperation, string]> = [];
    const store = new InMemoryTokenStore({
      faults: {
        before: (op, tenant) => {
          seen.push([op, tenant]);
          return op === operation ? fault : undefined;
        },
      },
    });
    return { store, seen };
  }

  test('throttle and reject throw without applying the write', async () => {
    for (const [fault, error] of [
      ['throttle', DependencyThrottled],
      ['reject', DependencyUnavailable],
    ] as const) {
      const { store } = storeFailing('acquireLease', fault);
      await expect(store.acquireLease('tenant-a', request)).rejects.toBeInstanceOf(error);
      expect(store.snapshot('tenant-a')).toEqual({ tenantId: 'tenant-a', version: 0, credentialRank: 0 });
    }
  });

  test('lost-answer applies the write, then throws', async () => {
    const { store } = storeFailing('acquireLease', 'lost-answer');
    await expect(store.acquireLease('tenant-a', request)).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(store.snapshot('tenant-a').lease).toEqual(lease);
  });

  test('omit-item answers a failed condition without the item, and a success as usual', async () => {
    const { store, seen } = storeFailing('acquireLease', 'omit-item');
    expect((await store.acquireLease('tenant-a', request)).ok).toBe(true);
    expect(await store.acquireLease('tenant-a', { ...request, lease: { owner: 'fake-owner-2', expiresAt: 10 } })).toEqual({
      ok: false,
    });
    expect(seen).toEqual([
      ['acquireLease', 'tenant-a'],
      ['acquireLease', 'tenant-a'],
    ]);
  });

  test('reads and scans fail like writes; a scan names no tenant', async () => {
    const { store, seen } = storeFailing('read', 'lost-answer');
    await expect(store.read('tenant-a')).rejects.toBeInstanceOf(DependencyUnavailable);
    const scan = storeFailing('listExpiringBefore', 'throttle');
    await expect(scan.store.listExpiringBefore(10)).rejects.toBeInstanceOf(DependencyThrottled);
    expect([...seen, ...scan.seen]).toEqual([
      ['read', 'tenant-a'],
      ['listExpiringBefore', ALL_TENANTS],
    ]);
  });

  test('answers are frozen copies that later writes do not change', async () => {
    const store = new InMemoryTokenStore();
    const { state } = await store.acquireLease('tenant-a', request);
    await store.releaseLease('tenant-a', lease.owner, { code: 'UPSTREAM_UNAVAILABLE', at: 1, leaseOwner: lease.owner });
    expect(state?.lease).toEqual(lease);
    expect(Object.isFrozen(state)).toBe(true);
    expect(Object.isFrozen(state?.lease)).toBe(true);
    expect(store.snapshot('tenant-a').lease).toBeUndefined();
  });
});
