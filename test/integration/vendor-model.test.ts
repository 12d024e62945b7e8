/**
 * Model-based test of the token policy as the vendor carries it out (fast-check commands): random
 * interleavings of concurrent requests on several containers, clock advances, upstream outcomes
 * and invalidations, against the real DynamoDB adapter on DynamoDB Local. Whatever happens:
 * - no caller is ever served a token past its safety margin;
 * - no caller, on any container, is ever served a token once its invalidation has answered (no
 *   container keeps tokens in memory: every request reads the table), and a report is answered
 *   with a token other than the reported one;
 * - never two upstream calls for one tenant at once, counting the refreshes that callers of
 *   refresh-due tokens start in the background;
 * - with a servable token in the table, upstream failures never reach callers;
 * - with a healthy upstream, every request succeeds;
 * - a background refresh never throws (its failures are recorded in the table, not lost).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { BackgroundRefreshTrigger } from '../../functions/adapters/refresh-trigger';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { UpstreamRefreshRejected, UpstreamRejectedCredentials, UpstreamUnavailable, VendingError } from '../../functions/domain/errors';
import { assessToken, isServable } from '../../functions/domain/token-policy';
import { TokenVendor, type TokenVendorSettings } from '../../functions/domain/token-vendor';
import type { IssuedToken, TenantCredentials, Timers, UpstreamAuth } from '../../functions/domain/types';
import { credentialFingerprint } from '../../functions/domain/fingerprint';
import { loadConfig } from '../../functions/token/config';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';
import { dynamoDbLocalEndpoint, ManualClock, uniqueTableName } from '../support/harness';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// The shipped defaults: the model checks what users run.
const settings: TokenVendorSettings = loadConfig({ TABLE_NAME: 'model' }).vendor;

type Outcome = 'ok' | 'unavailable' | 'reject' | 'refresh-403';

/** What the runs exercised, over all of them: the properties mean little if these stay at 0. */
const exercised = { refreshesIssued: 0, retirements: 0, replacementsAnswered: 0, servedAfterARetirement: 0, callerErrors: 0 };

/** An upstream whose answers the commands choose; it records concurrency and every token issued. */
class ScriptedUpstream implements UpstreamAuth {
  outcome: Outcome = 'ok';
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;
  constructor(private readonly clock: ManualClock) {}

  getAccessToken(): Promise<IssuedToken> {
    return this.call('get', 2 * HOUR);
  }
  refreshToken(_c: TenantCredentials, _t: IssuedToken, options: { lifetimeDays?: number }): Promise<IssuedToken> {
    return this.call('refresh', (options.lifetimeDays ?? 32) * 24 * HOUR);
  }

  private async call(kind: 'get' | 'refresh', lifetimeMs: number): Promise<IssuedToken> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Let every other request in the batch run in between.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      if (this.outcome === 'unavailable') throw new UpstreamUnavailable('scripted');
      if (this.outcome === 'reject' && kind === 'get') throw new UpstreamRejectedCredentials();
      if ((this.outcome === 'refresh-403' || this.outcome === 'reject') && kind === 'refresh') throw new UpstreamRefreshRejected();
      if (kind === 'refresh') exercised.refreshesIssued++;
      return {
        accessToken: `fake-${randomUUID()}`,
        refreshToken: `fake-refresh-${randomUUID()}`,
        expireTime: this.clock.now() + lifetimeMs,
        corporationId: 'corp',
      };
    } finally {
      this.inFlight--;
    }
  }
}

interface World {
  readonly clock: ManualClock;
  readonly upstream: ScriptedUpstream;
  readonly store: DynamoTokenTable;
  readonly vendors: TokenVendor[];
  /** Each container's background refreshes (what a caller of a refresh-due token starts). */
  readonly refreshers: BackgroundRefreshTrigger[];
  /** What background refreshes threw; they must never throw. */
  readonly refreshErrors: unknown[];
  readonly tenantId: string;
  readonly fingerprint: string;
  /** token → when a report retired it, and which container took the report. */
  readonly retired: Map<string, { at: number; by: number }>;
  lastServed?: string;
}

type Model = Record<string, never>;

const CREDENTIALS: TenantCredentials = { appKey: 'fake-key', appSecurity: 'fake-security', baseUrl: 'https://example.invalid', authVersion: 'v1', rank: 0 };
const IDENTITY = { fingerprint: credentialFingerprint(CREDENTIALS), rank: CREDENTIALS.rank };

class RequestBurst implements fc.AsyncCommand<Model, World> {
  constructor(readonly containers: number[]) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    const now = w.clock.now();
    const before = await w.store.read(w.tenantId);
    const servableBefore = isServable(assessToken(before, IDENTITY, now, settings)) && !w.retired.has(before.token!.accessToken);
    const healthy = w.upstream.outcome === 'ok';
    const results = await Promise.all(
      this.containers.map((i) =>
        w.vendors[i]!.vend(w.tenantId).then(
          (token) => ({ i, token }),
          (error: unknown) => ({ i, error }),
        ),
      ),
    );
    for (const result of results) {
      if ('error' in result) {
        expect(result.error).toBeInstanceOf(VendingError);
        const code = (result.error as VendingError).code;
        expect(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_REJECTED_CREDENTIALS']).toContain(code);
        expect(healthy).toBe(false);
        expect(servableBefore).toBe(false);
        exercised.callerErrors++;
        continue;
      }
      const { token } = result;
      expect(token.expireTime).toBeGreaterThan(w.clock.now());
      // Retired before this burst started, by any container: never served again, anywhere.
      expect(w.retired.has(token.accessToken)).toBe(false);
      if (w.retired.size > 0) exercised.servedAfterARetirement++;
      w.lastServed = token.accessToken;
    }
    // The refreshes callers started run on; let them end before the next command.
    await Promise.all(w.refreshers.map((r) => r.idle()));
    expect(w.refreshErrors).toEqual([]);
    expect(w.upstream.maxInFlight).toBeLessThanOrEqual(1);
  }
  toString = () => `Requests(${this.containers.join(',')})`;
}

class AdvanceClock implements fc.AsyncCommand<Model, World> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    w.clock.advance(this.ms);
  }
  toString = () => `Advance(${this.ms})`;
}

/** Moves the clock into the stored token's refresh window (a no-op if the clock is past its start). */
class IntoRefreshWindow implements fc.AsyncCommand<Model, World> {
  constructor(readonly offsetMs: number) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    const { token } = await w.store.read(w.tenantId);
    if (token === undefined) return;
    const target = token.expireTime - settings.refreshWindowMs + this.offsetMs;
    if (target > w.clock.now()) w.clock.advance(target - w.clock.now());
  }
  toString = () => `IntoRefreshWindow(+${this.offsetMs})`;
}

class SetOutcome implements fc.AsyncCommand<Model, World> {
  constructor(readonly outcome: Outcome) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    w.upstream.outcome = this.outcome;
  }
  toString = () => `Upstream(${this.outcome})`;
}

class Invalidate implements fc.AsyncCommand<Model, World> {
  constructor(readonly container: number) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    const reported = w.lastServed;
    if (reported === undefined) return;
    const state = await w.store.read(w.tenantId);
    const isCurrent = state.token?.accessToken === reported && state.token.retiredAt === undefined;
    const healthy = w.upstream.outcome === 'ok';
    try {
      const { outcome, token } = await w.vendors[this.container]!.invalidate(w.tenantId, reported);
      expect(outcome).toBe(isCurrent ? 'retired' : 'stale');
      if (outcome === 'retired') {
        w.retired.set(reported, { at: w.clock.now(), by: this.container });
        exercised.retirements++;
      }
      // The answer is a token like any other caller's: never the reported one, never a retired one.
      expect(token.accessToken).not.toBe(reported);
      expect(w.retired.has(token.accessToken)).toBe(false);
      expect(token.expireTime).toBeGreaterThan(w.clock.now());
      exercised.replacementsAnswered++;
      w.lastServed = token.accessToken;
    } catch (error) {
      const code = (error as VendingError).code;
      if (code === 'INVALIDATION_RATE_LIMITED') {
        expect(isCurrent).toBe(true);
        return;
      }
      // The report was taken, but no replacement could be had: only when the upstream failed.
      expect(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_REJECTED_CREDENTIALS']).toContain(code);
      expect(healthy).toBe(false);
      const after = await w.store.read(w.tenantId);
      if (isCurrent && after.token?.accessToken === reported && after.token.retiredAt !== undefined) {
        w.retired.set(reported, { at: w.clock.now(), by: this.container });
        exercised.retirements++;
      }
    } finally {
      await Promise.all(w.refreshers.map((r) => r.idle()));
      expect(w.upstream.maxInFlight).toBeLessThanOrEqual(1);
    }
  }
  toString = () => `Invalidate(${this.container})`;
}

/**
 * Time inside a burst: no model time passes while requests run (leases and tokens only age when a
 * command moves the clock). Pauses (polls and backoffs: all under 1 s with `random` fixed at 0.5)
 * take 1 ms of real time; timeouts (1 s and more: the lease wait bound, the refresh trigger's
 * timeout) never fire, since the model time they wait for never comes within a burst. The scripted
 * upstream answers at once, so its calls need no abort signal that fires.
 */
const TIMEOUT_FROM_MS = 1_000;
function modelTimers(): Timers {
  return {
    sleep: (ms) => (ms < TIMEOUT_FROM_MS ? new Promise((resolve) => setTimeout(resolve, 1)) : new Promise(() => {})),
    abortAfter: () => new AbortController().signal,
  };
}

const CONTAINERS = 3;
const burst = fc.array(fc.integer({ min: 0, max: CONTAINERS - 1 }), { minLength: 1, maxLength: 6 }).map((c) => new RequestBurst(c));
// Inside the window, before the safety margin: callers are served and start refreshes.
const intoWindow = fc.constantFrom(0, MINUTE, 9 * MINUTE).map((ms) => new IntoRefreshWindow(ms));
const commands = [
  // Listed twice: requests and refresh windows are where the guarantees are at stake.
  burst,
  burst,
  intoWindow,
  intoWindow,
  fc.constantFrom(1_000, 6_000, 40_000, 10 * MINUTE, 50 * MINUTE, 2 * HOUR).map((ms) => new AdvanceClock(ms)),
  fc.constantFrom<Outcome>('ok', 'ok', 'unavailable', 'reject', 'refresh-403').map((o) => new SetOutcome(o)),
  fc.integer({ min: 0, max: CONTAINERS - 1 }).map((i) => new Invalidate(i)),
];

test('the vendor keeps its guarantees under any interleaving', async () => {
  const endpoint = dynamoDbLocalEndpoint();
  const tableName = uniqueTableName('model');
  await ensureTokenTable(endpoint, tableName);
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  const store = new DynamoTokenTable({ tableName, client });
  try {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25, size: 'max' }), async (cmds) => {
        const clock = new ManualClock();
        const upstream = new ScriptedUpstream(clock);
        const credentials = { get: async () => CREDENTIALS };
        const refreshErrors: unknown[] = [];
        const timers = modelTimers();
        const containers = Array.from({ length: CONTAINERS }, () => {
          const refresher = new BackgroundRefreshTrigger(
            (tenantId) => vendor.refresh(tenantId),
            (error) => refreshErrors.push(error),
          );
          const vendor: TokenVendor = new TokenVendor({
            credentials,
            store,
            upstream,
            refresher,
            settings,
            clock,
            timers,
            random: () => 0.5,
          });
          return { vendor, refresher };
        });
        const world: World = {
          clock,
          upstream,
          store,
          vendors: containers.map((c) => c.vendor),
          refreshers: containers.map((c) => c.refresher),
          refreshErrors,
          tenantId: `t-${randomUUID().slice(0, 12)}`,
          fingerprint: credentialFingerprint(CREDENTIALS),
          retired: new Map(),
        };
        await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
      }),
      { numRuns: 40 },
    );
    expect(exercised.refreshesIssued).toBeGreaterThan(0);
    expect(exercised.retirements).toBeGreaterThan(0);
    expect(exercised.replacementsAnswered).toBeGreaterThan(0);
    expect(exercised.servedAfterARetirement).toBeGreaterThan(0);
    expect(exercised.callerErrors).toBeGreaterThan(0);
  } finally {
    client.destroy();
  }
});
