/**
 * The invariants I1-I5 (README, Guarantees), judged from the world's own records: the simulated
 * upstream's list of issued tokens and calls, the location API's list of lookups, the table's
 * change history, and what every caller was answered. Nothing here asks the vendor what it believes.
 *
 * Besides I1-I5, for v3 tenants and looked-up prefixes:
 * - PREFIX: every answer names the prefix (and scope) its token was issued at; every upstream call
 *   goes to a prefix of the tenant's (its secret's, or one a lookup named before the call); a
 *   caller gets TENANT_MISCONFIGURED only when a lookup it waited on named a bad prefix.
 * - V3: no refresh call for a v3 tenant.
 */
import { MAX_SKEW_MS, SIM_SETTINGS } from './plan';
import type { RequestRecord, SimHistory } from './world';
import { VENDOR_SETTINGS } from './world';

export interface Violation {
  readonly invariant: 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'PREFIX' | 'V3' | 'RUN';
  readonly message: string;
}

/**
 * The tolerance for clocks: two containers may disagree by up to 2 × MAX_SKEW_MS, and a reader
 * judges a lease by its own clock. The checker gives the service that much slack on
 * time-based boundaries, never on order-based ones.
 */
const SKEW_TOLERANCE_MS = 2 * MAX_SKEW_MS;
/** A caller that a servable token could answer is answered within this (no store faults). */
export const I3_LATENCY_BOUND_MS = 1_200;
/** Every caller is answered within its budget plus one in-flight call's worth. */
const I5_BOUND_MS = VENDOR_SETTINGS.requestBudgetMs + 1_000;

export function checkInvariants(history: SimHistory): Violation[] {
  const violations: Violation[] = [];
  const fail = (invariant: Violation['invariant'], message: string) => violations.push({ invariant, message });
  if (history.runaway) fail('RUN', 'the run did not settle (a busy loop in simulated time?)');

  // I1: at most one upstream call in flight per tenant.
  for (const overlap of history.upstream.overlaps) {
    fail('I1', `two upstream calls overlapped for ${overlap.tenantId} at +${overlap.at - start(history)} ms`);
  }

  const issued = [...history.upstream.issued.values()];
  /** When the service held a token: stored, handed to a caller, or its lease ended (+ skew). */
  const heldAt = (accessToken: string): number | undefined => {
    const record = history.upstream.issued.get(accessToken);
    if (record?.deliveredAt === undefined) return undefined;
    const stored = history.changes.find((c) => c.kind === 'stored' && c.accessToken === accessToken)?.at;
    const handed = history.requests.filter((r) => r.token === accessToken && r.endedAt !== undefined).map((r) => r.endedAt!);
    const leaseEnd = record.leaseExpiresAt === undefined ? undefined : record.leaseExpiresAt + SKEW_TOLERANCE_MS;
    const candidates = [stored, ...handed, leaseEnd].filter((t): t is number => t !== undefined);
    return candidates.length === 0 ? undefined : Math.min(...candidates);
  };
  const supersededAt = new Map<string, number>();
  for (const x of issued) {
    let at = Infinity;
    for (const y of issued) {
      if (y.tenantId !== x.tenantId || y.seq <= x.seq) continue;
      const held = heldAt(y.accessToken);
      if (held !== undefined) at = Math.min(at, held);
    }
    supersededAt.set(x.accessToken, at);
  }
  const rankRecordedBefore = (tenantId: string, t: number) =>
    Math.max(0, ...history.changes.filter((c) => c.kind === 'rank' && c.tenantId === tenantId && c.at < t).map((c) => (c.kind === 'rank' ? c.rank : 0)));
  const invalidatedAt = new Map<string, number>();
  for (const r of history.requests) {
    if (r.kind === 'invalidate' && r.outcome !== undefined && r.endedAt !== undefined) {
      invalidatedAt.set(r.reported!, Math.min(invalidatedAt.get(r.reported!) ?? Infinity, r.endedAt));
    }
  }

  for (const r of history.requests) {
    const label = `${r.id} (${r.kind} ${r.tenantId} on ${r.container}, started +${r.startedAt - start(history)} ms)`;
    // I5: answered within the bound, unless its container died.
    if (!r.crashed) {
      if (r.endedAt === undefined) fail('I5', `${label} was never answered`);
      else if (r.endedAt - r.startedAt > I5_BOUND_MS) fail('I5', `${label} took ${r.endedAt - r.startedAt} ms`);
    }
    if (r.errorCode?.startsWith('UNEXPECTED')) fail('I5', `${label} failed unexpectedly: ${r.errorCode}`);
    // I5: a token the upstream delivered to this request's own call reaches its caller, stored or
    // not, unless I2 forbids it: a newer secret version was recorded before the answer.
    if (!r.crashed && r.errorCode !== undefined) {
      const delivered = [...history.upstream.issued.values()].filter((t) => t.origin === r.id && t.deliveredAt !== undefined);
      const servable = delivered.filter((t) => t.rank >= rankRecordedBefore(r.tenantId, r.endedAt! + 1));
      if (servable.length > 0) fail('I5', `${label} obtained a token from the upstream but answered ${r.errorCode}`);
    }
    if (r.answer === undefined) continue;
    // I4: a report is answered with the token to use instead, never with the reported one.
    if (r.kind === 'invalidate' && r.answer.accessToken === r.reported) fail('I4', `${label} was answered with the token it reported`);
    const x = history.upstream.issued.get(r.answer.accessToken);
    if (x === undefined) {
      fail('I2', `${label} was answered with a token the upstream never issued`);
      continue;
    }
    // I2: never superseded, retired or of an older secret version at the request's start.
    const superseded = supersededAt.get(x.accessToken)!;
    if (superseded < r.startedAt) fail('I2', `${label} got ${x.accessToken}, superseded at +${superseded - start(history)} ms`);
    const retired = history.changes.find((c) => c.kind === 'retired' && c.accessToken === x.accessToken);
    if (retired !== undefined && retired.at < r.startedAt) fail('I2', `${label} got ${x.accessToken}, retired at +${retired.at - start(history)} ms`);
    const recordedRank = rankRecordedBefore(r.tenantId, r.startedAt);
    if (x.rank < recordedRank) fail('I2', `${label} got ${x.accessToken} of secret version ${x.rank} after version ${recordedRank} was recorded`);
    // Never past the safety margin, and the caller is told the right deadline.
    if (r.answer.expireTime !== x.expireTime - SIM_SETTINGS.safetyMarginMs) fail('I2', `${label} was told a wrong expireTime`);
    if (r.endedAt! >= x.expireTime - SIM_SETTINGS.safetyMarginMs + SKEW_TOLERANCE_MS) fail('I2', `${label} got ${x.accessToken} past its safety margin`);
    // I4: once an invalidation of X was answered, no request that starts afterwards gets X.
    const invalidated = invalidatedAt.get(x.accessToken);
    if (invalidated !== undefined && invalidated < r.startedAt) fail('I4', `${label} got ${x.accessToken}, invalidated at +${invalidated - start(history)} ms`);
  }

  checkPrefixes(history, fail);

  // I3: while a servable token exists, callers get it: no error, no upstream call of their own,
  // and (when no store fault hit them) no waiting beyond a few table round trips.
  for (const r of history.requests) {
    if (r.kind !== 'vend' || r.crashed || r.endedAt === undefined) continue;
    if (!servableThroughout(history, r, supersededAt)) continue;
    const label = `${r.id} (vend ${r.tenantId} on ${r.container}, started +${r.startedAt - start(history)} ms)`;
    if (r.errorCode !== undefined) fail('I3', `${label} got ${r.errorCode} while a servable token existed`);
    const ownCalls = history.upstream.calls.filter((c) => c.origin === r.id);
    if (ownCalls.length > 0) fail('I3', `${label} called the upstream itself (${ownCalls.map((c) => c.operation).join(', ')}) while a servable token existed`);
    if (r.storeFaults === 0 && r.endedAt - r.startedAt > I3_LATENCY_BOUND_MS) fail('I3', `${label} took ${r.endedAt - r.startedAt} ms while a servable token existed`);
  }
  return violations;
}

/** PREFIX and V3 (see the top of this file). */
function checkPrefixes(history: SimHistory, fail: (invariant: Violation['invariant'], message: string) => void): void {
  const at = (t: number) => `+${t - start(history)} ms`;
  for (const r of history.requests) {
    const label = `${r.id} (${r.kind} ${r.tenantId}, started ${at(r.startedAt)})`;
    const x = r.answer && history.upstream.issued.get(r.answer.accessToken);
    if (x !== undefined && r.answer!.baseUrl !== x.baseUrl) fail('PREFIX', `${label} got ${x.accessToken} for ${r.answer!.baseUrl}, issued at ${x.baseUrl}`);
    if (x !== undefined && r.answer!.scope !== x.scope) fail('PREFIX', `${label} got ${x.accessToken} with scope ${r.answer!.scope}, issued with ${x.scope}`);
    // TENANT_MISCONFIGURED: only a bad prefix named to this request's lease holder (its own, or the
    // lease of its container that it joined, which began at most a lease earlier). Secrets only
    // move forward here, so a rotation during the request (even several) must not refuse it: the
    // request reads the secret again for every newer version the table shows.
    if (r.errorCode === 'TENANT_MISCONFIGURED') {
      const during = (t: number | undefined) => t !== undefined && t >= r.startedAt - VENDOR_SETTINGS.leaseDurationMs && t <= r.endedAt!;
      const refused = history.location.lookups.some(
        (l) => l.outcome === 'bad-prefix' && l.tenantId === r.tenantId && l.container === r.container && during(l.answeredAt),
      );
      if (!refused) fail('PREFIX', `${label} got TENANT_MISCONFIGURED, but no lookup it waited on named a bad prefix`);
    }
  }
  for (const call of history.upstream.calls) {
    const tenant = history.tenants.get(call.tenantId)!;
    const label = `${call.operation} for ${call.tenantId} at ${at(call.startedAt)} (${call.origin})`;
    if (call.operation === 'refreshToken' && tenant.config.auth === 'v3') fail('V3', `${label}: a refresh call for a v3 tenant`);
    const named =
      tenant.baseUrl !== undefined
        ? call.baseUrl === tenant.baseUrl
        : history.location.lookups.some((l) => l.tenantId === call.tenantId && l.prefix === call.baseUrl && l.answeredAt! <= call.startedAt);
    if (!named) fail('PREFIX', `${label} went to ${call.baseUrl}, not a prefix of the tenant's`);
  }
}

function start(history: SimHistory): number {
  return history.requests[0]?.startedAt ?? 0;
}

/**
 * Whether the table held a token that any container must serve, from the request's start to its
 * answer: current (not retired, in doubt, superseded or of an older secret version, with the
 * newest secret version already recorded), and inside its servable window by a margin that
 * covers clock skew.
 */
function servableThroughout(history: SimHistory, r: RequestRecord, supersededAt: Map<string, number>): boolean {
  const versions = history.secretVersions.get(r.tenantId)!;
  const newestRankAt = (t: number) => [...versions].reverse().find((v) => v.from <= t)!.rank;
  // A rotation within the secret cache's maximum age may legitimately make a caller fetch.
  const rotatedRecently = versions.some((v) => v.from > r.startedAt - 400_000 && v.from <= r.endedAt!);
  if (rotatedRecently) return false;
  const states = history.statesBetween(r.tenantId, r.startedAt, r.endedAt!);
  // Judged at the start and at every change until the answer, and at the answer.
  const checkpoints = [...states, { at: r.endedAt!, state: states[states.length - 1]!.state }];
  for (const { at: t, state } of checkpoints) {
    const token = state.token;
    if (token === undefined || token.retiredAt !== undefined || token.doubtedAt !== undefined) return false;
    if (state.lease !== undefined && state.lease.expiresAt <= t + SKEW_TOLERANCE_MS) return false;
    if (token.credentialRank !== newestRankAt(t) || state.credentialRank !== token.credentialRank) return false;
    if (t >= token.expireTime - SIM_SETTINGS.safetyMarginMs - SKEW_TOLERANCE_MS) return false;
    if ((supersededAt.get(token.accessToken) ?? Infinity) <= t) return false;
  }
  return true;
}
