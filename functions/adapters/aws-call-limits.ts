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

import type { IncomingMessage } from 'node:http';
import { NodeHttpHandler } from '@smithy/node-http-handler';

type NodeHttpHandlerOptions = Exclude<NonNullable<ConstructorParameters<typeof NodeHttpHandler>[0]>, (...args: never[]) => unknown>;
type HttpRequest = Parameters<NodeHttpHandler['handle']>[0];
type HttpHandlerOptions = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;
type HandledResponse = Awaited<ReturnType<NodeHttpHandler['handle']>>;

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
  const given = givenHandlerOptions(config);
  return {
    ...(config as C),
    maxAttempts: limits.maxAttempts,
    requestHandler: { ...given, ...handlerTimeouts(limits) },
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
  return new NodeHttpHandler(handlerTimeouts(limits));
}

/**
 * A request handler that holds every request it sends to the call ceiling C, from the moment it
 * is sent until its response body has been read: the bound `sendWithin` gives one call, for a
 * client that makes one attempt per call (DynamoDB, `DYNAMODB_ATTEMPTS`), without a per-call
 * abort signal.
 *
 * Why not `sendWithin` there: any per-call option turns off the SDK's middleware cache
 * (`cacheMiddleware`), and the client then resolves its whole middleware stack on every call.
 * On the token function's hot path (one GetItem per request) that, with the abort signal's event
 * listeners, cost about 60 µs of a 1.2 ms table hit (README, Performance, figure 2). Here the
 * ceiling costs one timer per request.
 *
 * When C passes before the response headers, the request is aborted as `sendWithin` aborts it
 * (an `AbortError` whose cause is `AwsCallTimedOut`); after them, the body is destroyed with
 * `AwsCallTimedOut`, which the SDK's deserializer then throws. Both count as unanswered
 * (`isUnansweredCall`).
 *
 * @example
 * const client = new DynamoDBClient(withCallCeiling(awsCallLimits({ requestBudgetMs, maxAttempts: 1 }), { region }));
 * await client.send(new GetItemCommand(input)); // no options: the middleware stack is resolved once
 */
export class CeilingHttpHandler extends NodeHttpHandler {
  readonly ceilingMs: number;
  #armed = 0;

  constructor(limits: AwsCallLimits, options: NodeHttpHandlerOptions = {}) {
    if (limits.maxAttempts !== 1) {
      // With retries, a bound per attempt is not a bound per call: those clients use sendWithin.
      throw new Error('a ceiling per request bounds a call only for clients of one attempt');
    }
    super({ ...options, ...handlerTimeouts(limits) });
    this.ceilingMs = limits.callTimeoutMs;
  }

  /** Requests whose ceiling still runs: in flight, or their body not yet read. */
  get armed(): number {
    return this.#armed;
  }

  override async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<HandledResponse> {
    const ceiling = new CeilingSignal(options.abortSignal);
    this.#armed++;
    let timer: NodeJS.Timeout | undefined = setTimeout(() => {
      disarm();
      ceiling.expire(new AwsCallTimedOut(this.ceilingMs));
    }, this.ceilingMs);
    timer.unref();
    const disarm = () => {
      if (timer === undefined) return;
      clearTimeout(timer);
      timer = undefined;
      this.#armed--;
    };
    let answer: HandledResponse;
    try {
      answer = await super.handle(request, { ...options, abortSignal: ceiling });
    } catch (error) {
      disarm();
      throw error;
    }
    const body = answer.response.body as IncomingMessage | undefined;
    if (body === undefined || typeof body.once !== 'function' || body.closed) {
      disarm();
      return answer;
    }
    // The ceiling holds until the body is read (or fails): a body that trickles in is cut at C.
    ceiling.body = body;
    body.once('close', disarm);
    return answer;
  }
}

/**
 * The signal `CeilingHttpHandler` gives the SDK's handler: the Smithy `AbortSignal` shape
 * (`aborted`, `reason`, `onabort`), which the handler supports beside the DOM's, without an
 * EventTarget's listener bookkeeping on every request.
 */
class CeilingSignal {
  aborted = false;
  reason: unknown = undefined;
  onabort: ((this: unknown, event?: unknown) => unknown) | null = null;
  /** The response body, once the headers have come. */
  body: IncomingMessage | undefined;

  constructor(caller: HttpHandlerOptions['abortSignal']) {
    if (caller === undefined) return;
    // A caller's own signal still works: whichever comes first ends the request.
    const forward = () => this.expire((caller as { reason?: unknown }).reason ?? new DOMException('aborted', 'AbortError'));
    if (caller.aborted) forward();
    else if (typeof (caller as { addEventListener?: unknown }).addEventListener === 'function') {
      (caller as unknown as EventTarget).addEventListener('abort', forward, { once: true });
    } else caller.onabort = forward;
  }

  expire(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    if (this.body !== undefined) this.body.destroy(reason instanceof Error ? reason : new DOMException(String(reason), 'AbortError'));
    else this.onabort?.call(this);
  }
}

/** The request handler options a client configuration gives; a handler instance cannot take the limits, and is refused. */
function givenHandlerOptions(config: object | undefined): NodeHttpHandlerOptions | undefined {
  const given = (config as { requestHandler?: unknown } | undefined)?.requestHandler;
  if (typeof (given as { handle?: unknown } | undefined)?.handle === 'function') {
    throw new Error('AWS call limits apply to request handler options, not to a handler instance');
  }
  return given as NodeHttpHandlerOptions | undefined;
}

function handlerTimeouts(limits: AwsCallLimits): LimitedRequestHandler {
  return {
    connectionTimeout: limits.connectionTimeoutMs,
    requestTimeout: limits.attemptTimeoutMs,
    socketTimeout: limits.attemptTimeoutMs,
    throwOnRequestTimeout: true,
  };
}

/**
 * A client configuration for a one-attempt client (DynamoDB) whose calls are bounded by its
 * request handler (`CeilingHttpHandler`), with the SDK's middleware cache on: calls are sent
 * without per-call options. `config`'s other settings are kept, and so are its request handler
 * options, under the limits' timeouts. Give `handler` to share one handler (and its connections)
 * among several clients, as the per-tenant clients do.
 */
export function withCallCeiling<C extends object>(
  limits: AwsCallLimits,
  config?: C,
  handler?: CeilingHttpHandler,
): Omit<C, 'maxAttempts' | 'requestHandler' | 'cacheMiddleware'> & { maxAttempts: number; requestHandler: CeilingHttpHandler; cacheMiddleware: true } {
  const given = givenHandlerOptions(config);
  return {
    ...(config as C),
    maxAttempts: limits.maxAttempts,
    requestHandler: handler ?? new CeilingHttpHandler(limits, given),
    cacheMiddleware: true,
  };
}
