/**
 * How long a lease lasts, from the upstream settings. The function derives its lease from this,
 * and the CDK stack derives the function's timeout from it: one formula, imported by both.
 *
 *   acquire ── attempt 1 ──┬─ backoff ─┬── attempt 2 ── … ──┬── store (retried) ──┬ slack ┐ expiresAt
 *                                                           └ a holder stores or hands its token out
 *                                                             before `expiresAt − LEASE_GUARD_MS`
 */

/** Longest pause between two upstream attempts of one lease holder. */
export const UPSTREAM_RETRY_CAP_MS = 1_000;
/** Time a holder keeps retrying to store a token it obtained, when DynamoDB fails the write. */
export const STORE_PHASE_MS = 3_000;
/**
 * No holder acts (starts an upstream attempt, stores, hands a token out) in the last
 * LEASE_GUARD_MS of its lease. This is also the clock skew between containers that the lease
 * tolerates: a taker whose clock runs up to this much ahead still cannot overlap the holder.
 */
export const LEASE_GUARD_MS = 1_000;
/** Covers the acquire round trip and timer jitter. */
const LEASE_SLACK_MS = 500;

export interface LeaseTimingInput {
  readonly upstreamTimeoutMs: number;
  readonly upstreamMaxAttempts: number;
}

export function leaseDurationMs(input: LeaseTimingInput): number {
  return (
    input.upstreamTimeoutMs * input.upstreamMaxAttempts +
    UPSTREAM_RETRY_CAP_MS * (input.upstreamMaxAttempts - 1) +
    STORE_PHASE_MS +
    LEASE_GUARD_MS +
    LEASE_SLACK_MS
  );
}

/** Around the waits: the secret read and the DynamoDB round trips. */
export const REQUEST_OVERHEAD_MS = 2_000;

/**
 * `REQUEST_BUDGET_MS`: the deadline one request gets. The worst request waits for another
 * caller's lease, takes it over, and spends the whole lease:
 *
 *   |-- lease wait --|------------------ lease ------------------|-overhead-| = budget
 */
export function requestBudgetMs(input: LeaseTimingInput & { readonly leaseWaitMs: number }): number {
  return input.leaseWaitMs + leaseDurationMs(input) + REQUEST_OVERHEAD_MS;
}
