/**
 * The shared poll: a container's requests that wait for another container's lease holder share one
 * table read per round, and a waiter only ever takes a read sent after it joined. A real
 * `TokenVendor` over the simulator's in-memory table, in simulated time (`SimLoop`): every read
 * sees the item as it is when the read is sent and is answered `READ_MS` later, as DynamoDB does.
 * The lease holder is "another container": the tests take and end its lease in the table directly.
 */
import { DependencyUnavailable, TokenRefreshInProgress } from '../../functions/domain/errors';
import { credentialFingerprint } from '../../functions/domain/fingerprint';
import { POLL_BASE_MS, POLL_CAP_MS } from '../../functions/domain/token-policy';
import { TokenVendor, type TokenVendorSettings } from '../../functions/domain/token-vendor';
import type { CachedToken, IssuedToken, TenantCredentials, TokenStore, UpstreamAuth, VendedToken } from '../../functions/domain/types';
import { InMemoryTokenStore } from '../../sim/in-memory-token-store';
import { seededRandom, SimLoop } from '../../sim/loop';

const T0 = Date.UTC(2026, 0, 1);
const READ_MS = 10;
const HOUR = 3_600_000;
const TENANT = 'acme';
const SETTINGS: TokenVendorSettings = {
  safetyMarginMs: 5 * 60_000,
  refreshWindowMs: 15 * 60_000,
  leaseDurationMs: 15_500,
  leaseWaitMs: 8_000,
  requestBudgetMs: 25_500,
  upstreamTimeoutMs: 5_000,
  upstreamMaxAttempts: 2,
  invalidationMinIntervalMs: 30_000,
  refreshTriggerTimeoutMs: 500,
};
const CREDENTIALS: TenantCredentials = { appKey: 'fake-app-key', appSecurity: 'fake-app-security', baseUrl: 'https://fake.invalid', authVersion: 'v1', rank: 0 };

const issued = (accessToken: string, at: number): IssuedToken => ({
  accessToken,
  refreshToken: `${accessToken}-refresh`,
  expireTime: at + 2 * HOUR,
  corporationId: 'FAKEcorp0001',
});

interface ReadRecord {
  readonly sentAt: number;
  readonly accessToken?: string;
}

interface WorldOptions {
  readonly settings?: Partial<TokenVendorSettings>;
  readonly random?: () => number;
  readonly failReads?: (sentAt: number) => boolean;
  /** How long a read sent at `sentAt` takes; READ_MS unless told. */
  readonly readLatency?: (sentAt: number) => number;
}

/** One container (a vendor) over a table, and another container's lease on it, all in simulated time. */
function world(options: WorldOptions = {}) {
  const loop = new SimLoop(T0);
  let clockReads = 0;
  const table = new InMemoryTokenStore();
  const reads: ReadRecord[] = [];
  const upstreamCalls: number[] = [];
  const store: TokenStore = {
    // The item as it is when the read is sent, answered READ_MS later.
    read: (tenantId) => {
      const sentAt = loop.now;
      const state = table.snapshot(tenantId);
      reads.push({ sentAt, ...(state.token && { accessToken: state.token.accessToken }) });
      const fails = options.failReads?.(sentAt) ?? false;
      return new Promise((resolve, reject) =>
        loop.schedule(options.readLatency?.(sentAt) ?? READ_MS, () =>
          fails ? reject(new DependencyUnavailable('DynamoDB')) : resolve(state),
        ),
      );
    },
    acquireLease: (t, r) => table.acquireLease(t, r),
    storeToken: (t, o, k) => table.storeToken(t, o, k),
    releaseLease: (t, o, f) => table.releaseLease(t, o, f),
    retire: (t, a, n, m) => table.retire(t, a, n, m),
    recordCredentialRank: (t, r) => table.recordCredentialRank(t, r),
    listExpiringBefore: (b) => table.listExpiringBefore(b),
  };
  const upstream: UpstreamAuth = {
    getAccessToken: () => {
      upstreamCalls.push(loop.now);
      return new Promise((resolve) => loop.schedule(100, () => resolve(issued(`fake-new-${upstreamCalls.length}`, loop.now))));
    },
    refreshToken: () => Promise.reject(new Error('not used')),
  };
  const vendor = new TokenVendor({
    credentials: { get: () => Promise.resolve(CREDENTIALS) },
    store,
    upstream,
    settings: { ...SETTINGS, ...options.settings },
    clock: {
      now: () => {
        clockReads++;
        return loop.now;
      },
    },
    timers: {
      sleep: (ms) => loop.sleep(ms),
      abortAfter: () => new AbortController().signal,
    },
    random: options.random ?? seededRandom(7),
    newId: (() => {
      let n = 0;
      return () => `fake-local-lease-${++n}`;
    })(),
  });

  /** Another container takes the lease (the item must be at `seenVersion`). */
  const otherTakesLease = async (owner: string, durationMs: number) => {
    const result = await table.acquireLease(TENANT, {
      lease: { owner, expiresAt: loop.now + durationMs },
      seenVersion: table.snapshot(TENANT).version,
      now: loop.now,
      credentialRank: 0,
      markTokenInDoubt: false,
      keepItemUntil: loop.now + durationMs,
    });
    expect(result.ok).toBe(true);
  };
  /** …and stores its token, ending its lease. */
  const otherStores = async (owner: string, accessToken: string) => {
    const token: Omit<CachedToken, 'version'> = { ...issued(accessToken, loop.now), issuedAt: loop.now, fingerprint: credentialFingerprint(CREDENTIALS), credentialRank: 0 };
    const result = await table.storeToken(TENANT, owner, token);
    expect(result.ok).toBe(true);
  };

  interface Answer {
    readonly startedAt: number;
    endedAt?: number;
    token?: VendedToken;
    error?: unknown;
  }
  const answers: Answer[] = [];
  /** Starts `count` concurrent requests at `at` (simulated, from T0); returns the first's record. */
  const vendAt = (at: number, count = 1) => {
    const started = Array.from({ length: count }, () => {
      const answer: Answer = { startedAt: T0 + at };
      answers.push(answer);
      return answer;
    });
    loop.schedule(at, () => {
      for (const answer of started) {
        vendor.vend(TENANT).then(
          (token) => {
            answer.endedAt = loop.now;
            answer.token = token;
          },
          (error: unknown) => {
            answer.endedAt = loop.now;
            answer.error = error;
          },
        );
      }
    });
    return started[0]!;
  };
  /** Runs `action` at `at` (simulated, from T0). */
  const at = (when: number, action: () => Promise<void>) => loop.schedule(when, () => void action());
  const run = (untilMs: number) => loop.run(T0 + untilMs, 1_000_000);
  const clockReadCount = () => clockReads;
  return { loop, table, reads, upstreamCalls, vendor, otherTakesLease, otherStores, vendAt, at, run, answers, clockReadCount };
}

/** The latest a round's read can be answered after a change to the item: a read sent just before it, then the longest pause and another read. */
const NOTICED_WITHIN_MS = READ_MS + POLL_BASE_MS + POLL_CAP_MS + READ_MS;

describe('the shared poll', () => {
  test('N concurrent waiters in one container cause one table read per poll round, not N', async () => {
    const w = world();
    const N = 200;
    await w.otherTakesLease('fake-other', 15_000);
    // Ten bursts of 20 concurrent requests: each burst shares its first read.
    for (let i = 0; i < 10; i++) w.vendAt(i, N / 10);
    w.at(1_000, () => w.otherStores('fake-other', 'fake-token-x'));
    expect(await w.run(5_000)).toBe(true);

    expect(w.answers).toHaveLength(N);
    expect(w.answers.every((a) => a.token?.accessToken === 'fake-token-x')).toBe(true);
    // One read per burst, then one per round: never two reads sent at the same moment.
    const sendTimes = w.reads.map((r) => r.sentAt);
    expect(new Set(sendTimes).size).toBe(sendTimes.length);
    const firstReads = w.reads.filter((r) => r.sentAt < T0 + 10);
    expect(firstReads).toHaveLength(10);
    // At most one round per POLL_BASE_MS + READ_MS over the second the holder took, where N
    // waiters polling each on its own would send up to N reads per round.
    const pollReads = w.reads.length - firstReads.length;
    expect(pollReads).toBeGreaterThan(1_000 / (POLL_BASE_MS + POLL_CAP_MS + READ_MS) - 1);
    expect(pollReads).toBeLessThanOrEqual(Math.ceil(1_100 / (POLL_BASE_MS + READ_MS)));
    // Woken together by the first round after the token landed: the same instant for all.
    const ends = new Set(w.answers.map((a) => a.endedAt));
    expect(ends.size).toBe(1);
    const [end] = ends;
    expect(end! - (T0 + 1_000)).toBeLessThanOrEqual(NOTICED_WITHIN_MS);
  });

  test('rounds that show nothing new neither read twice nor wake the waiters', async () => {
    const w = world({ random: () => 0 });
    await w.otherTakesLease('fake-other', 15_000);
    w.vendAt(0, 50);
    w.at(2_000, () => w.otherStores('fake-other', 'fake-token-x'));
    const clockReadsBefore = w.clockReadCount();
    expect(await w.run(5_000)).toBe(true);
    expect(w.answers.every((a) => a.token?.accessToken === 'fake-token-x')).toBe(true);
    // random 0: the first read is answered at READ_MS, then a round every POLL_BASE_MS after the
    // previous round's read was answered: exactly one read each.
    const rounds = w.reads.slice(1).map((r) => r.sentAt - T0);
    rounds.forEach((sent, i) => expect(sent).toBe(READ_MS + (i + 1) * POLL_BASE_MS + i * READ_MS));
    expect(rounds.length).toBeGreaterThan(2_000 / (POLL_BASE_MS + READ_MS) - 1);
    // A woken waiter looks at the clock; 50 of them every round would read it thousands of times.
    expect(w.clockReadCount() - clockReadsBefore).toBeLessThan(10 * rounds.length + 50 * 10);
  });

  test('a waiter that joins while a round’s read is in flight waits for the next read, not that one', async () => {
    // random 0: A's first read is answered at READ_MS; A opens a round whose read R1 is sent at
    // READ_MS + POLL_BASE_MS. B's first read is sent just before R1 and answered while R1 is in
    // flight: B joins then. Between R1's send and B's join the item changes: R1 shows token X,
    // and reads sent after B joined show X retired under a new lease, then token Y.
    const w = world({ random: () => 0 });
    const r1 = READ_MS + POLL_BASE_MS;
    await w.otherTakesLease('fake-other', 15_000);
    const a = w.vendAt(0);
    const b = w.vendAt(r1 - 5);
    w.at(r1 - 3, () => w.otherStores('fake-other', 'fake-token-x'));
    w.at(r1 + 2, async () => {
      expect((await w.table.retire(TENANT, 'fake-token-x', w.loop.now, 0)).ok).toBe(true);
      await w.otherTakesLease('fake-other-2', 15_000);
    });
    w.at(500, () => w.otherStores('fake-other-2', 'fake-token-y'));
    expect(await w.run(5_000)).toBe(true);

    // B joined the poll when its first read was answered, inside R1's flight.
    const bJoinedAt = b.startedAt + READ_MS;
    expect(w.reads.find((r) => r.sentAt === T0 + r1)?.accessToken).toBe('fake-token-x');
    expect(bJoinedAt).toBeGreaterThan(T0 + r1);
    expect(bJoinedAt).toBeLessThan(T0 + r1 + READ_MS);
    // A joined before R1 was sent: R1 answers it. B takes only a later read: never X.
    expect(a.token?.accessToken).toBe('fake-token-x');
    expect(a.endedAt).toBe(T0 + r1 + READ_MS);
    expect(b.token?.accessToken).toBe('fake-token-y');
  });

  test('a request never takes a round’s read sent before it started, even one answered after it joined', async () => {
    // As above, but R1 is slow (30 ms), X is retired (an invalidation answered) just after R1 was
    // sent, and C starts after that, with a fast first read: C joins the poll while R1, which was
    // sent before C started and shows X servable, is still in flight. Handing R1 to C would serve
    // a token retired before C's request started (README, I4).
    const r1 = READ_MS + POLL_BASE_MS;
    const w = world({
      random: () => 0,
      readLatency: (sentAt) => (sentAt === T0 + r1 ? 30 : sentAt === T0 + r1 + 2 ? 5 : READ_MS),
    });
    await w.otherTakesLease('fake-other', 15_000);
    const a = w.vendAt(0);
    w.at(r1 - 3, () => w.otherStores('fake-other', 'fake-token-x'));
    w.at(r1 + 1, async () => {
      expect((await w.table.retire(TENANT, 'fake-token-x', w.loop.now, 0)).ok).toBe(true);
      await w.otherTakesLease('fake-other-2', 15_000);
    });
    const c = w.vendAt(r1 + 2);
    w.at(500, () => w.otherStores('fake-other-2', 'fake-token-y'));
    expect(await w.run(5_000)).toBe(true);

    expect(w.reads.find((r) => r.sentAt === T0 + r1)?.accessToken).toBe('fake-token-x');
    expect(a.token?.accessToken).toBe('fake-token-x');
    expect(c.token?.accessToken).toBe('fake-token-y');
  });

  test('each waiter keeps its own wait bound: a round comes to it', async () => {
    const leaseWaitMs = 1_000;
    const w = world({ settings: { leaseWaitMs } });
    await w.otherTakesLease('fake-other', 15_000);
    const waiters = [0, 300, 650, 655].map((at) => w.vendAt(at));
    expect(await w.run(5_000)).toBe(true);
    for (const waiter of waiters) {
      expect(waiter.error).toBeInstanceOf(TokenRefreshInProgress);
      // It started waiting when its first read was answered, and gives up on the first read
      // answered from its bound on, not sooner and not a round later.
      const bound = waiter.startedAt + READ_MS + leaseWaitMs;
      expect(waiter.endedAt).toBeGreaterThanOrEqual(bound);
      expect(waiter.endedAt).toBeLessThanOrEqual(bound + READ_MS);
    }
    // Still one read per round (and one per request start and per bound) while they waited.
    expect(w.reads.length).toBeLessThanOrEqual(Math.ceil(1_700 / (POLL_BASE_MS + READ_MS)) + 8);
  });

  test('each waiter keeps its request deadline', async () => {
    const w = world({ settings: { requestBudgetMs: 400 } });
    await w.otherTakesLease('fake-other', 15_000);
    const waiters = [0, 100, 250].map((at) => w.vendAt(at));
    expect(await w.run(5_000)).toBe(true);
    for (const waiter of waiters) {
      expect(waiter.error).toBeInstanceOf(TokenRefreshInProgress);
      expect(waiter.endedAt).toBeGreaterThanOrEqual(waiter.startedAt + 400);
      expect(waiter.endedAt).toBeLessThanOrEqual(waiter.startedAt + 400 + READ_MS);
    }
  });

  test('when the other holder’s lease runs out, the waiters take over: one upstream call, one token for all', async () => {
    const w = world();
    await w.otherTakesLease('fake-other', 500);
    for (let i = 0; i < 50; i++) w.vendAt(i * 5);
    expect(await w.run(5_000)).toBe(true);
    expect(w.upstreamCalls).toHaveLength(1);
    expect(w.upstreamCalls[0]).toBeGreaterThanOrEqual(T0 + 500);
    expect(w.upstreamCalls[0]).toBeLessThanOrEqual(T0 + 500 + NOTICED_WITHIN_MS);
    expect(w.answers.every((a) => a.token?.accessToken === 'fake-new-1')).toBe(true);
  });

  test('a round whose read fails hands its waiters to reads of their own, retried', async () => {
    // Every read sent between 100 and 300 ms fails.
    const w = world({ failReads: (sentAt) => sentAt >= T0 + 100 && sentAt < T0 + 300 });
    await w.otherTakesLease('fake-other', 15_000);
    for (let i = 0; i < 30; i++) w.vendAt(i);
    w.at(600, () => w.otherStores('fake-other', 'fake-token-x'));
    expect(await w.run(5_000)).toBe(true);
    expect(w.answers.every((a) => a.token?.accessToken === 'fake-token-x')).toBe(true);
    expect(w.reads.some((r) => r.sentAt >= T0 + 100 && r.sentAt < T0 + 300)).toBe(true);
  });
});
