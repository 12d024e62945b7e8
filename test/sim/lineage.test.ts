/**
 * The lineage promise under every fault the simulator can inject, for every tenant configuration
 * (v1 and v3, a configured or a looked-up prefix): a fixed budget of seeded runs, planted bugs the
 * budget must catch, the seven reported holes and the prefix situations as named plans.
 * `npm run sim` runs the same property for longer.
 */
import { checkInvariants } from '../../sim/checker';
import { InMemoryTokenStore } from '../../sim/in-memory-token-store';
import { asV1Configured } from '../../sim/plan';
import { checkSeeds, planOf, violationsOf } from '../../sim/property';
import { FIRST_SERVABLE_END, HOLES, PREFIX_PLANS } from '../../sim/scenarios';
import { runPlan, type PlantView, type SimHistory, type SimVendor } from '../../sim/world';
import type { TokenVendor } from '../../functions/domain/token-vendor';
import type { CachedToken, CredentialSource, LeaseRequest, WriteResult } from '../../functions/domain/types';

const SEED_BUDGET = 6_000;

test(`I1-I5, PREFIX and V3 hold in ${SEED_BUDGET} seeded runs with every fault and tenant configuration the simulator injects`, async () => {
  // No shrinking here: the failure names its seed, and `npm run sim -- --seed S` shrinks and traces it.
  const failure = await checkSeeds(1, SEED_BUDGET, { shrinkForMs: 0 });
  if (failure) {
    throw new Error(
      `seed ${failure.seed} breaks the invariants (replay and shrink: npm run sim -- --seed ${failure.seed}):\n` +
        failure.violations.map((v) => `${v.invariant}: ${v.message}`).join('\n'),
    );
  }
}, 240_000);

/** A planted bug: the lease no longer excludes a live holder. */
class StoreWithoutLeaseCondition extends InMemoryTokenStore {
  override async acquireLease(tenantId: string, request: LeaseRequest): Promise<WriteResult> {
    return super.acquireLease(tenantId, { ...request, now: Number.MAX_SAFE_INTEGER });
  }
}

test('the seed budget catches a planted bug: the lease condition removed', async () => {
  const failure = await checkSeeds(1, SEED_BUDGET, {
    storeFactory: (options) => new StoreWithoutLeaseCondition(options),
    shrinkForMs: 0,
  });
  expect(failure).toBeDefined();
  expect(failure!.violations.map((v) => v.invariant)).toContain('I1');
}, 240_000);

/** A planted bug: a report is acknowledged but the token stays current. */
class StoreThatForgetsRetirements extends InMemoryTokenStore {
  override async retire(tenantId: string): Promise<WriteResult> {
    return { ok: true, state: await this.read(tenantId) };
  }
}

describe('a report is never answered with the reported token', () => {
  const plan = HOLES['refresh and invalidation seen by every container']!;

  test('the checker catches an answer that is the reported token (planted in the history)', async () => {
    const history = await runPlan(plan);
    expect(checkInvariants(history)).toEqual([]);
    const report = history.requests.find((r) => r.kind === 'invalidate' && r.outcome === 'retired')!;
    report.answer = { ...report.answer!, accessToken: report.reported! };
    report.token = report.reported!;
    const messages = checkInvariants(history).map((v) => `${v.invariant}: ${v.message}`);
    expect(messages.some((m) => m.startsWith('I4') && m.includes('answered with the token it reported'))).toBe(true);
  });

  test('the vendor refuses to answer it even when the store keeps the reported token current (planted bug)', async () => {
    const history = await runPlan(plan, { storeFactory: (options) => new StoreThatForgetsRetirements(options) });
    const reports = history.requests.filter((r) => r.kind === 'invalidate' && r.outcome === undefined && r.endedAt !== undefined);
    expect(reports.length).toBeGreaterThan(0);
    for (const r of reports) expect(r.errorCode).toBe('UPSTREAM_UNAVAILABLE');
    expect(history.requests.filter((r) => r.kind === 'invalidate').every((r) => r.token !== r.reported)).toBe(true);
  });
});

/**
 * Seeds that once broke an invariant, each named by what it found; they must keep holding, as
 * generated now and as they ran when found (every tenant a v1 one with a configured prefix).
 * 2018687: a holder with an older cached secret handed its token (unstored, DynamoDB failing) to
 * requests that started after another container had recorded the newer secret version.
 * 462: the secret was rotated three times within 200 ms; requests that re-read it once saw a still
 * newer version recorded and refused with TENANT_MISCONFIGURED, as for a rollback (now a request
 * reads again for every newer version the table shows).
 */
test.each([2018687, 462])('regression seed %i holds', async (seed) => {
  expect(await checkSeeds(seed, 1, { shrinkForMs: 0 })).toBeUndefined();
  expect(await violationsOf(asV1Configured(planOf(seed)))).toEqual([]);
});

type StoredToken = Omit<CachedToken, 'version' | 'retiredAt' | 'doubtedAt'>;

/** A planted bug: the item keeps the prefix of the first token stored (an `if_not_exists` on baseUrl). */
class StoreThatKeepsTheFirstPrefix extends InMemoryTokenStore {
  override async storeToken(tenantId: string, owner: string, token: StoredToken): Promise<WriteResult> {
    const first = this.snapshot(tenantId).token?.baseUrl;
    return super.storeToken(tenantId, owner, first === undefined ? token : { ...token, baseUrl: first });
  }
}

/** A planted bug: the item does not keep the token's prefix at all. */
class StoreThatForgetsPrefixes extends InMemoryTokenStore {
  override async storeToken(tenantId: string, owner: string, token: StoredToken): Promise<WriteResult> {
    const { baseUrl: _forgotten, ...rest } = token;
    return super.storeToken(tenantId, owner, rest);
  }
}

/** A planted bug: a vendor that names the prefix the tenant is at now, not the one its token was issued at. */
const answersWithTheCurrentPrefix = (vendor: TokenVendor, world: PlantView): SimVendor => ({
  vend: async (tenantId) => ({ ...(await vendor.vend(tenantId)), baseUrl: world.currentPrefix(tenantId) }),
  invalidate: async (tenantId, accessToken) => {
    const answer = await vendor.invalidate(tenantId, accessToken);
    return { ...answer, token: { ...answer.token, baseUrl: world.currentPrefix(tenantId) } };
  },
  refresh: (tenantId, horizonMs) => vendor.refresh(tenantId, horizonMs),
  warmAll: (horizonMs, concurrency) => vendor.warmAll(horizonMs, concurrency),
});

/** A planted bug: the policy is told every tenant is v1, so it refreshes v3 tokens. */
const v3ReadAsV1 = (source: CredentialSource): CredentialSource => ({
  get: async (tenantId, options) => ({ ...(await source.get(tenantId, options)), authVersion: 'v1' }),
});

describe('the seed budget catches planted prefix and v3 bugs', () => {
  const firstFailure = async (options: Parameters<typeof checkSeeds>[2]) => {
    const failure = await checkSeeds(1, SEED_BUDGET, { ...options, shrinkForMs: 0 });
    expect(failure).toBeDefined();
    return failure!.violations.map((v) => `${v.invariant}: ${v.message}`);
  };

  test('answers name the prefix the tenant is at now (a vendor variant)', async () => {
    const messages = await firstFailure({ wrapVendor: answersWithTheCurrentPrefix });
    expect(messages.some((m) => m.startsWith('PREFIX') && /got \S+ for \S+, issued at/.test(m))).toBe(true);
  }, 240_000);

  test('the item keeps the first prefix it saw (a store bug)', async () => {
    const messages = await firstFailure({ storeFactory: (options) => new StoreThatKeepsTheFirstPrefix(options) });
    expect(messages.some((m) => m.startsWith('PREFIX') && /got \S+ for \S+, issued at/.test(m))).toBe(true);
  }, 240_000);

  test('the item forgets prefixes: the vendor fails loudly rather than guess one (I5)', async () => {
    const messages = await firstFailure({ storeFactory: (options) => new StoreThatForgetsPrefixes(options) });
    expect(messages.some((m) => m.startsWith('I5') && m.includes('failed unexpectedly'))).toBe(true);
    expect(messages.some((m) => m.startsWith('PREFIX'))).toBe(false);
  }, 240_000);

  test('v3 tokens refreshed (the policy told they are v1)', async () => {
    const messages = await firstFailure({ wrapCredentials: v3ReadAsV1 });
    expect(messages.some((m) => m.startsWith('V3') && m.includes('a refresh call for a v3 tenant'))).toBe(true);
  }, 240_000);
});

describe('the reported holes stay closed', () => {
  test.each(Object.keys(HOLES))('%s', async (name) => {
    const history = await runPlan(HOLES[name]!, { trace: true });
    const violations = checkInvariants(history);
    expect(violations.map((v) => `${v.invariant}: ${v.message}`)).toEqual([]);
    const vends = history.requests.filter((r) => r.kind === 'vend' && !r.crashed);
    const errors = vends.filter((r) => r.errorCode !== undefined).map((r) => `${r.id} ${r.errorCode}`);
    switch (name) {
      case 'store fails after the upstream answered': {
        // The refresh's token was never stored, so the token it killed must not be served once
        // its lease ran out: later callers got a new token, not the dead one.
        const lateAnswers = vends.filter((r) => r.startedAt > history.requests[0]!.startedAt + 460_000 && r.token !== undefined);
        expect(lateAnswers.length).toBeGreaterThan(0);
        for (const r of lateAnswers) expect(history.upstream.isAliveAt(r.token!, r.startedAt)).toBe(true);
        break;
      }
      case 'refresh endpoint down while getAccessToken works':
        // Every caller got a token, past the first token's servable window too.
        expect(errors).toEqual([]);
        expect(vends.some((r) => r.startedAt - history.requests[0]!.startedAt > FIRST_SERVABLE_END)).toBe(true);
        expect(history.upstream.calls.filter((c) => c.operation === 'getAccessToken').length).toBeGreaterThan(1);
        break;
      case 'refresh and invalidation seen by every container': {
        // Each report was answered with a token other than the one reported.
        const reports = history.requests.filter((r) => r.kind === 'invalidate');
        expect(reports.map((r) => r.outcome)).toEqual(['retired', 'stale']);
        for (const r of reports) expect(r.token).not.toBe(r.reported);
        // The stale report learned the replacement the first report obtained.
        expect(reports[1]!.token).toBe(reports[0]!.token);
        expectNoCallerErrorsAndFewUpstreamCalls(history, errors, 3);
        break;
      }
      case 'refresh-ahead during an outage':
      case 'invalidation racing a refresh-due read':
        expectNoCallerErrorsAndFewUpstreamCalls(history, errors, name === 'refresh-ahead during an outage' ? 1 : 3);
        break;
      case 'rotation with secret caches of different ages':
        expect(errors).toEqual([]);
        // One token before the rotation, one after: no flapping between the two versions.
        expect(history.upstream.calls.filter((c) => c.operation === 'getAccessToken').length).toBe(2);
        break;
      case 'conditional failures without the item':
        expect(errors).toEqual([]);
        expect(history.upstream.calls.length).toBe(1);
        // A lost race costs a read and a short backoff, never a storm of writes.
        expect(history.storeCalls.get('acquireLease') ?? 0).toBeLessThan(20);
        break;
    }
  });
});

/** No caller got an error, and nobody but refreshers and at most `callers` requests called the upstream. */
function expectNoCallerErrorsAndFewUpstreamCalls(history: SimHistory, errors: string[], callers: number): void {
  expect(errors).toEqual([]);
  expect(history.upstream.calls.filter((c) => c.origin?.startsWith('r') && !c.origin.startsWith('refresher')).length).toBeLessThanOrEqual(callers);
}

describe('v3 tenants and looked-up prefixes', () => {
  test.each(Object.keys(PREFIX_PLANS))('%s', async (name) => {
    const history = await runPlan(PREFIX_PLANS[name]!, { trace: true });
    expect(checkInvariants(history).map((v) => `${v.invariant}: ${v.message}`)).toEqual([]);
    const vends = history.requests.filter((r) => r.kind === 'vend' && !r.crashed);
    const errors = vends.filter((r) => r.errorCode !== undefined).map((r) => `${r.id} ${r.errorCode}`);
    const calls = history.upstream.calls;
    switch (name) {
      case 'a v3 tenant through its refresh windows':
        // Renewed twice, by getAccessToken in refreshers; callers never waited for it.
        expect(calls.map((c) => c.operation)).toEqual(['getAccessToken', 'getAccessToken', 'getAccessToken']);
        expectNoCallerErrorsAndFewUpstreamCalls(history, errors, 1);
        expect(vends.every((r) => r.answer?.scope === 'tenant' && r.answer.baseUrl === 'https://tenant0-env0.sim.invalid')).toBe(true);
        break;
      case 'the prefix moves, then the location API fails': {
        // Refused at the old prefix while the location API was down; then fetched at the new one.
        const moved = 'https://tenant0-env1.sim.invalid';
        expect(calls.filter((c) => c.baseUrl !== moved).length).toBeGreaterThan(2);
        expect(calls.filter((c) => c.baseUrl === moved).map((c) => c.operation)).toEqual(['getAccessToken']);
        expectNoCallerErrorsAndFewUpstreamCalls(history, errors, 1);
        const last = vends[vends.length - 1]!;
        expect(last.answer!.baseUrl).toBe(moved);
        expect(history.upstream.issued.get(last.token!)!.baseUrl).toBe(moved);
        break;
      }
      case 'the location API names a bad prefix':
        // Every caller is told the tenant is misconfigured, and nothing is sent to the refused prefix.
        expect(vends.length).toBeGreaterThan(0);
        expect(new Set(vends.map((r) => r.errorCode))).toEqual(new Set(['TENANT_MISCONFIGURED']));
        expect(calls).toEqual([]);
        break;
    }
  });

  test('the checker refuses TENANT_MISCONFIGURED when no lookup named a bad prefix (planted in the history)', async () => {
    const history = await runPlan(PREFIX_PLANS['a v3 tenant through its refresh windows']!);
    const r = history.requests.find((q) => q.kind === 'vend' && q.answer !== undefined)!;
    delete r.answer;
    delete r.token;
    r.errorCode = 'TENANT_MISCONFIGURED';
    const messages = checkInvariants(history).map((v) => `${v.invariant}: ${v.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/^PREFIX: .*got TENANT_MISCONFIGURED, but no lookup/));
  });
});
