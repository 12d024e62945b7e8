/**
 * Model-based test of the token policy as the vendor carries it out (fast-check commands): random
 * interleavings of concurrent requests on several containers, clock advances, upstream outcomes
 * and invalidations, against the real DynamoDB adapter on DynamoDB Local. Whatever happens:
 * - no caller is ever served a token past its safety margin;
 * - no caller is served a retired token, except by another container's memory within
 *   MEMORY_CACHE_SECONDS of the retirement (the documented bound);
 * - never two upstream calls for one tenant at once;
 * - with a servable token in the table, upstream failures never reach callers;
 * - with a healthy upstream, every request succeeds.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { DynamoTokenTable } from '../../functions/adapters/token-table';
import { UpstreamRefreshRejected, UpstreamRejectedCredentials, UpstreamUnavailable, VendingError } from '../../functions/domain/errors';
import { assessToken, isServable } from '../../functions/domain/token-policy';
import { TokenVendor, type TokenVendorSettings } from '../../functions/domain/token-vendor';
import type { IssuedToken, TenantCredentials, UpstreamAuth } from '../../functions/domain/types';
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
  readonly tenantId: string;
  readonly fingerprint: string;
  /** token → when a report retired it, and which container took the report. */
  readonly retired: Map<string, { at: number; by: number }>;
  lastServed?: string;
}

type Model = Record<string, never>;

const CREDENTIALS: TenantCredentials = { appKey: 'fake-key', appSecurity: 'fake-security', baseUrl: 'https://example.invalid' };

class RequestBurst implements fc.AsyncCommand<Model, World> {
  constructor(readonly containers: number[]) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    const now = w.clock.now();
    const before = await w.store.read(w.tenantId, true);
    const servableBefore =
      isServable(assessToken(before.token, w.fingerprint, now, settings)) && !w.retired.has(before.token!.accessToken);
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
        continue;
      }
      const { token, i } = result;
      expect(token.expireTime).toBeGreaterThan(w.clock.now());
      const retirement = w.retired.get(token.accessToken);
      if (retirement !== undefined) {
        expect(i).not.toBe(retirement.by);
        expect(w.clock.now()).toBeLessThan(retirement.at + settings.memoryMaxAgeMs);
      }
      w.lastServed = token.accessToken;
    }
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
    if (w.lastServed === undefined) return;
    const state = await w.store.read(w.tenantId, true);
    const isCurrent = state.token?.accessToken === w.lastServed && state.token.retiredAt === undefined;
    try {
      const outcome = await w.vendors[this.container]!.invalidate(w.tenantId, w.lastServed);
      expect(outcome).toBe(isCurrent ? 'retired' : 'stale');
      if (outcome === 'retired') w.retired.set(w.lastServed, { at: w.clock.now(), by: this.container });
    } catch (error) {
      expect((error as VendingError).code).toBe('INVALIDATION_RATE_LIMITED');
      expect(isCurrent).toBe(true);
    }
  }
  toString = () => `Invalidate(${this.container})`;
}

const CONTAINERS = 3;
const commands = [
  fc.array(fc.integer({ min: 0, max: CONTAINERS - 1 }), { minLength: 1, maxLength: 6 }).map((c) => new RequestBurst(c)),
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
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
        const clock = new ManualClock();
        const upstream = new ScriptedUpstream(clock);
        const credentials = { get: async () => CREDENTIALS };
        const vendors = Array.from(
          { length: CONTAINERS },
          () =>
            new TokenVendor({
              credentials,
              store,
              upstream,
              settings,
              clock,
              random: () => 0.5,
              // Waiting costs no model time: leases only run out when a command moves the clock.
              sleep: () => new Promise((resolve) => setTimeout(resolve, 1)),
            }),
        );
        const world: World = {
          clock,
          upstream,
          store,
          vendors,
          tenantId: `t-${randomUUID().slice(0, 12)}`,
          fingerprint: credentialFingerprint(CREDENTIALS),
          retired: new Map(),
        };
        await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
      }),
      { numRuns: 40 },
    );
  } finally {
    client.destroy();
  }
});
