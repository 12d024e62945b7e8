/**
 * The lineage promise under every fault the simulator can inject: a fixed budget of seeded runs,
 * a planted bug the budget must catch, and the seven reported holes as named regression plans.
 * `npm run sim` runs the same property for longer.
 */
import { checkInvariants } from '../../sim/checker';
import { InMemoryTokenStore } from '../../sim/in-memory-token-store';
import { checkSeeds } from '../../sim/property';
import { FIRST_SERVABLE_END, HOLES } from '../../sim/scenarios';
import { runPlan, type SimHistory } from '../../sim/world';
import type { LeaseRequest, WriteResult } from '../../functions/domain/types';

const SEED_BUDGET = 6_000;

test(`I1-I5 hold in ${SEED_BUDGET} seeded runs with every fault the simulator injects`, async () => {
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
 * Seeds that once broke an invariant, each named by what it found; they must keep holding.
 * 2018687: a holder with an older cached secret handed its token (unstored, DynamoDB failing) to
 * requests that started after another container had recorded the newer secret version.
 */
test.each([2018687])('regression seed %i holds', async (seed) => {
  expect(await checkSeeds(seed, 1, { shrinkForMs: 0 })).toBeUndefined();
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
