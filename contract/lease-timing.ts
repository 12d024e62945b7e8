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

/** API Gateway closes a REST integration after 29 seconds unless a quota increase says otherwise. */
export const API_GATEWAY_INTEGRATION_TIMEOUT_MS = 29_000;

/** After the vendor's deadline: writing the error response, flushing metrics and traces. */
export const RESPONSE_MARGIN_MS = 2_000;

/**
 * The token function's timeout in whole seconds: the request budget plus time to answer. It must
 * end before API Gateway gives up, or the caller sees a bare 504 instead of the service's error
 * (`requestBudgetFits` says whether it does).
 */
export function tokenFunctionTimeoutSeconds(input: LeaseTimingInput & { readonly leaseWaitMs: number }): number {
  return Math.ceil((requestBudgetMs(input) + RESPONSE_MARGIN_MS) / 1000);
}

/**
 * Why a request budget does not fit under API Gateway's integration timeout, term by term, and
 * what would; `undefined` when it fits.
 */
export function requestBudgetOverrun(input: LeaseTimingInput & { readonly leaseWaitMs: number }): string | undefined {
  const { leaseWaitMs, upstreamTimeoutMs, upstreamMaxAttempts } = input;
  const limitSeconds = API_GATEWAY_INTEGRATION_TIMEOUT_MS / 1000;
  // The timeout is rounded up to whole seconds and must stay below the limit.
  if (tokenFunctionTimeoutSeconds(input) < limitSeconds) return undefined;
  const worstMs = requestBudgetMs(input) + RESPONSE_MARGIN_MS;
  const leaseMs = leaseDurationMs(input);
  const upstreamMs = upstreamTimeoutMs * upstreamMaxAttempts + UPSTREAM_RETRY_CAP_MS * (upstreamMaxAttempts - 1);
  const largestLeaseWaitMs = (limitSeconds - 1) * 1000 - RESPONSE_MARGIN_MS - REQUEST_OVERHEAD_MS - leaseMs;
  const advice =
    largestLeaseWaitMs >= 0
      ? `with these upstream settings leaseWaitMs may be at most ${largestLeaseWaitMs}`
      : 'the upstream settings alone do not fit: lower upstreamTimeoutMs or upstreamMaxAttempts';
  return (
    `a request may take ${worstMs} ms: lease wait ${leaseWaitMs} + lease ${leaseMs} ` +
    `(${upstreamMaxAttempts} x ${upstreamTimeoutMs} upstream timeout + ${upstreamMaxAttempts - 1} x ${UPSTREAM_RETRY_CAP_MS} backoff ` +
    `+ ${leaseMs - upstreamMs} store phase, guard and slack) + ${REQUEST_OVERHEAD_MS} overhead + ${RESPONSE_MARGIN_MS} to answer, ` +
    `which does not fit under API Gateway's ${limitSeconds} s integration timeout; ${advice}`
  );
}
