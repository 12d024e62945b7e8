/**
 * How long one AWS SDK call may take (GetSecretValue, a DynamoDB GetItem/UpdateItem/Scan page, the
 * refresher's async Invoke), derived from the request budget, and how to tell a call that got no
 * answer from every other failure.
 *
 * Left to its defaults, an SDK v3 client (3.1164) has no connection or request timeout, a 5-minute
 * socket idle timeout and 4 attempts: a stalled call runs until the Lambda times out, and the
 * caller gets API Gateway's 502/504 instead of the service's 503 `DEPENDENCY_UNAVAILABLE`.
 *
 * One call, C its ceiling, n its attempts, t the timeout of each attempt:
 *
 *   C = min(CALL_TIMEOUT_CAP_MS, ⌊budget / 2⌋, how long the caller waits for it)   (at least 1 ms)
 *   n = 2 when two attempts of MIN_ATTEMPT_TIMEOUT_MS fit in C with a backoff between them, else 1
 *   t = ⌊(C − (n − 1) × RETRY_BACKOFF_ALLOWANCE_MS) / n⌋
 *
 *   |-- attempt 1 (t) --|-backoff-|-- attempt 2 (t) --|   n × t + (n − 1) × backoff ≤ C ≤ budget / 2
 *
 * - t is the handler's `requestTimeout` (with `throwOnRequestTimeout`: a wall clock from the start
 *   of the attempt, connecting included, to the response headers) and its `socketTimeout` (the
 *   longest silence, which covers a body that stops half way); `connectionTimeout` is
 *   min(CONNECTION_TIMEOUT_MS, t), so that a connection that never completes fails as such.
 * - n is the client's `maxAttempts`. The vendor retries reads itself until its deadline, and reads
 *   the item after a write that got no answer: the SDK's one retry is for a stale keep-alive socket
 *   or one bad host, on a new connection.
 * - C is the call's own `abortSignal` (`sendWithin`), the bound that holds whatever the SDK does:
 *   the standard retry strategy may wait up to 1 s before retrying a throttled attempt, longer
 *   when the service sends a Retry-After hint, and no SDK timeout bounds the total time of a body
 *   that keeps trickling in. The abort ends the attempt in flight and the backoff alike.
 *
 * Why these bounds: ⌊budget / 2⌋ leaves the vendor time to try a read again within its budget.
 * CALL_TIMEOUT_CAP_MS, because the vendor may start a call just before its deadline (it retries
 * until then), and the token function's Lambda timeout is the budget + RESPONSE_MARGIN_MS (2 s): a
 * call started at the deadline ends with 500 ms left to answer. With the default budget (25.5 s):
 * C = 1500 ms, n = 2, t = 725 ms, connection 725 ms.
 */

import { NodeHttpHandler } from '@smithy/node-http-handler';

/** At most this long for a TCP connection: in-region it takes milliseconds (the SDK's own `in-region` defaults mode uses 1.1 s). */
export const CONNECTION_TIMEOUT_MS = 1_000;
/** The most one call may take, every attempt and backoff included; below the Lambda's 2 s response margin. */
export const CALL_TIMEOUT_CAP_MS = 1_500;
/**
 * What the SDK's standard retry strategy (3.1164, retry "v2026") waits before retrying an attempt
 * that timed out, lost its connection or got a 5xx: a random time below its base delay, 25 ms for
 * DynamoDB and 50 ms for the other clients.
 */
export const RETRY_BACKOFF_ALLOWANCE_MS = 50;
/** A second attempt shorter than this is not worth making: one attempt gets the whole ceiling. */
export const MIN_ATTEMPT_TIMEOUT_MS = 100;
export const MAX_ATTEMPTS = 2;

export interface AwsCallLimits {
  /** C: the call's abort signal; every attempt and backoff ends within it. */
  readonly callTimeoutMs: number;
  /** n: the client's `maxAttempts`. */
  readonly maxAttempts: number;
  /** t: the handler's `requestTimeout` and `socketTimeout`. */
  readonly attemptTimeoutMs: number;
  /** The handler's `connectionTimeout`, never above t. */
  readonly connectionTimeoutMs: number;
}

export interface AwsCallCeiling {
  /** The request budget (`TokenVendorSettings.requestBudgetMs`). */
  readonly requestBudgetMs: number;
  /** How long the caller waits for this call, when less (the refresh trigger's Invoke). */
  readonly callerWaitsMs?: number;
  /**
   * At most this many attempts, when fewer than MAX_ATTEMPTS: 1 for DynamoDB, whose conditional
   * writes must not be retried by the SDK (see `DYNAMODB_ATTEMPTS`).
   */
  readonly maxAttempts?: number;
}

/**
 * DynamoDB gets one attempt per call. A conditional write whose attempt was applied but timed out
 * would, retried by the SDK, fail its own condition (the item now holds our lease or our token)
 * and read as a lost race. The vendor handles a write with no answer itself: it reads the item
 * and sees what was applied (the in-doubt path the fault simulator exercises); reads it retries
 * until its deadline anyway.
 */
export const DYNAMODB_ATTEMPTS = 1;

/** The limits of one client's calls; the formula is in the module's comment. */
export function awsCallLimits(ceiling: AwsCallCeiling): AwsCallLimits {
  const callTimeoutMs = Math.max(
    1,
    Math.min(CALL_TIMEOUT_CAP_MS, Math.floor(ceiling.requestBudgetMs / 2), Math.floor(ceiling.callerWaitsMs ?? Infinity)),
  );
  const most = Math.max(1, Math.min(MAX_ATTEMPTS, ceiling.maxAttempts ?? MAX_ATTEMPTS));
  const maxAttempts = callTimeoutMs >= most * MIN_ATTEMPT_TIMEOUT_MS + (most - 1) * RETRY_BACKOFF_ALLOWANCE_MS ? most : 1;
  const attemptTimeoutMs = Math.floor((callTimeoutMs - (maxAttempts - 1) * RETRY_BACKOFF_ALLOWANCE_MS) / maxAttempts);
  return {
    callTimeoutMs,
    maxAttempts,
    attemptTimeoutMs,
    connectionTimeoutMs: Math.min(CONNECTION_TIMEOUT_MS, attemptTimeoutMs),
  };
}

/** The longest the SDK's own timeouts and retries can take, by the formula: n × t + (n − 1) × backoff. */
export function worstCaseSdkCallMs(limits: AwsCallLimits): number {
  return limits.maxAttempts * limits.attemptTimeoutMs + (limits.maxAttempts - 1) * RETRY_BACKOFF_ALLOWANCE_MS;
}

/** `NodeHttpHandler` options, given to a client as its `requestHandler` (the SDK builds the handler). */
export interface LimitedRequestHandler {
  readonly connectionTimeout: number;
  readonly requestTimeout: number;
  readonly socketTimeout: number;
  readonly throwOnRequestTimeout: true;
}

export interface LimitedClientConfig {
  readonly maxAttempts: number;
  readonly requestHandler: LimitedRequestHandler;
}

/**
 * A client configuration with the limits applied: `config`'s other settings (endpoint, region,
 * credentials: local mode, tests) are kept; its `maxAttempts` and timeouts are replaced, and other
 * request handler options are kept. A handler instance cannot take options: it is refused.
 */
export function withCallLimits<C extends object>(
  limits: AwsCallLimits,
  config?: C,
): Omit<C, keyof LimitedClientConfig> & LimitedClientConfig {
  const given = (config as { requestHandler?: unknown } | undefined)?.requestHandler;
  if (typeof (given as { handle?: unknown } | undefined)?.handle === 'function') {
    throw new Error('AWS call limits apply to request handler options, not to a handler instance');
  }
  return {
    ...(config as C),
    maxAttempts: limits.maxAttempts,
    requestHandler: {
      ...(given as object | undefined),
      connectionTimeout: limits.connectionTimeoutMs,
      requestTimeout: limits.attemptTimeoutMs,
      socketTimeout: limits.attemptTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

/** A call that its ceiling ended: no answer came in time. */
export class AwsCallTimedOut extends Error {
  override name = 'AwsCallTimedOut';
  constructor(callTimeoutMs: number, options?: ErrorOptions) {
    super(`the call got no answer within ${callTimeoutMs} ms`, options);
  }
}

/**
 * Sends one SDK call with the ceiling as its abort signal (no signal without limits). Whatever the
 * abort made the call fail with (an `AbortError`, a body cut short) becomes `AwsCallTimedOut`; an
 * answer of the service that lost the race to the abort stays what it is.
 *
 * The signal is an AbortController's with a timer cleared when the call ends, not
 * `AbortSignal.timeout`: that one fires for every call, finished or not, and builds its
 * `TimeoutError` then (5–10 µs a call, measured, on a hot path of about 1 ms).
 *
 * @example
 * const answer = await sendWithin(limits, (options) => client.send(new GetSecretValueCommand(input), options));
 */
export async function sendWithin<T>(
  limits: AwsCallLimits | undefined,
  send: (options: { abortSignal: AbortSignal } | undefined) => Promise<T>,
): Promise<T> {
  if (limits === undefined) return send(undefined);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${limits.callTimeoutMs} ms`, 'TimeoutError')),
    limits.callTimeoutMs,
  );
  timer.unref();
  try {
    return await send({ abortSignal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted && !isServiceAnswer(error)) throw new AwsCallTimedOut(limits.callTimeoutMs, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** An error the service sent (a modeled 4xx: not found, denied, throttled, condition failed). */
function isServiceAnswer(error: unknown): boolean {
  return (error as { $fault?: unknown } | null)?.$fault === 'client';
}

const UNANSWERED_NAMES = new Set(['AwsCallTimedOut', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);
const NETWORK_CODES = /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_)/;

/**
 * Whether a call got no usable answer: it timed out (its own ceiling, or an SDK timeout), its
 * connection failed or broke, or the service answered 5xx. Worth another try; a write that failed
 * this way may still have been applied. Each adapter turns it into `DependencyUnavailable`.
 */
export function isUnansweredCall(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, $metadata } = error as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  if (typeof name === 'string' && UNANSWERED_NAMES.has(name)) return true;
  if (typeof code === 'string' && NETWORK_CODES.test(code)) return true;
  const status = $metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/**
 * One request handler with the limits, for the clients of one service to share: with a client
 * per tenant (tenant-scoped.ts), they share its connections too, so a tenant's first call
 * reuses a warm TLS connection instead of opening its own.
 */
export function sharedRequestHandler(limits: AwsCallLimits): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: limits.connectionTimeoutMs,
    requestTimeout: limits.attemptTimeoutMs,
    socketTimeout: limits.attemptTimeoutMs,
    throwOnRequestTimeout: true,
  });
}
