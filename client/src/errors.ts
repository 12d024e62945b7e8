/**
 * Codes the service (or API Gateway in front of it) answers with. Stable; see the service's
 * README, "Errors" and "Call it".
 */
export type ServiceErrorCode =
  | 'INVALID_TENANT_ID'
  | 'INVALID_REQUEST_BODY'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TENANT_NOT_FOUND'
  | 'TENANT_MISCONFIGURED'
  | 'UPSTREAM_REJECTED_CREDENTIALS'
  | 'UPSTREAM_UNAVAILABLE'
  | 'TOKEN_REFRESH_IN_PROGRESS'
  | 'INVALIDATION_RATE_LIMITED'
  | 'DEPENDENCY_THROTTLED'
  | 'DEPENDENCY_UNAVAILABLE'
  | 'TENANT_SESSION_DENIED'
  | 'INTERNAL_ERROR'
  | 'ACCESS_DENIED'
  | 'THROTTLED'
  | 'GATEWAY_TIMEOUT'
  | 'GATEWAY_ERROR'
  | 'REQUEST_REJECTED';

/** Codes of failures the client detects itself. */
export type ClientErrorCode =
  /** The options given to the constructor are unusable (thrown by the constructor). */
  | 'INVALID_OPTIONS'
  /** An argument other than the tenant id is unusable (no request was sent). */
  | 'INVALID_ARGUMENT'
  /** No AWS credentials could be resolved to sign the request. */
  | 'CREDENTIALS_ERROR'
  /** The service could not be reached or the connection broke (retried). */
  | 'NETWORK_ERROR'
  /** One attempt took longer than `attemptTimeoutMs` (retried). */
  | 'ATTEMPT_TIMEOUT'
  /** The call's `deadlineMs` ran out while an attempt was under way. */
  | 'DEADLINE_EXCEEDED'
  /** The service answered 200 with a body that is not a token of the requested tenant. */
  | 'INVALID_RESPONSE'
  /** The service answered an error status without the documented error body. */
  | 'HTTP_ERROR'
  /** `ekuaibaoFetch`: the request to the Ekuaibao Open API itself failed (no HTTP answer). */
  | 'EKUAIBAO_REQUEST_FAILED';

/** Every `code` a {@link TokenVendingError} may carry; unknown future service codes pass through. */
export type TokenVendingErrorCode = ServiceErrorCode | ClientErrorCode | (string & {});

/** Details of a {@link TokenVendingError}; all optional. */
export interface TokenVendingErrorDetails {
  /** HTTP status of the service's answer, when there was one. */
  readonly status?: number;
  /** The service's (or API Gateway's) request id, for support. */
  readonly requestId?: string;
  /** The service's `Retry-After`, in seconds. */
  readonly retryAfterSeconds?: number;
  /** Whether the client retries this failure (within the deadline). */
  readonly retryable?: boolean;
  /** The underlying error, never one whose text could carry a token. */
  readonly cause?: unknown;
}

/**
 * The one error type the client throws. `code` is stable; `message` is for humans and never
 * contains a token, nor a URL that carries one.
 *
 * @example
 * ```ts
 * try {
 *   await client.getToken('acme');
 * } catch (error) {
 *   if (error instanceof TokenVendingError && error.code === 'TENANT_NOT_FOUND') {
 *     // no secret for this tenant: a configuration problem, retrying will not help
 *   }
 *   throw error;
 * }
 * ```
 */
export class TokenVendingError extends Error {
  override readonly name = 'TokenVendingError';
  readonly code: TokenVendingErrorCode;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly retryable: boolean;

  constructor(code: TokenVendingErrorCode, message: string, details: TokenVendingErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.requestId = details.requestId;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.retryable = details.retryable ?? false;
  }
}

/** The statuses the service documents as transient: 429 and 503, whatever the code. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503;
}
