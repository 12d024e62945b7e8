/**
 * Every failure a caller can see, as a typed error with a stable `code`.
 * The HTTP status of each code lives in one table (`functions/token/error-response.ts`).
 * Messages never contain credentials or tokens: they are written for callers and logs alike.
 */
import { TENANT_ID_PATTERN } from '../../contract/tenant-id';

export type ErrorCode =
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
  | 'INTERNAL_ERROR';

export class VendingError extends Error {
  // Each class names itself in a string: the bundles are minified without keepNames (it costs
  // cold start), so a class's own name would be a letter in the logs.
  override name = 'VendingError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds a caller should wait before trying again, for the retryable codes. */
    readonly retryAfterSeconds?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class InvalidTenantId extends VendingError {
  override name = 'InvalidTenantId';
  constructor() {
    super('INVALID_TENANT_ID', `tenantId must match ${TENANT_ID_PATTERN.source}`);
  }
}

export class InvalidRequestBody extends VendingError {
  override name = 'InvalidRequestBody';
  constructor(detail: string) {
    super('INVALID_REQUEST_BODY', `Request body is invalid: ${detail}`);
  }
}

export class RouteNotFound extends VendingError {
  override name = 'RouteNotFound';
  constructor() {
    super('NOT_FOUND', 'No such route');
  }
}

export class MethodNotAllowed extends VendingError {
  override name = 'MethodNotAllowed';
  constructor(readonly allowed: string[]) {
    super('METHOD_NOT_ALLOWED', `Method not allowed; use ${allowed.join(', ')}`);
  }
}

export class TenantNotFound extends VendingError {
  override name = 'TenantNotFound';
  constructor(tenantId: string) {
    super('TENANT_NOT_FOUND', `No credentials are configured for tenant ${tenantId}`);
  }
}

export class TenantMisconfigured extends VendingError {
  override name = 'TenantMisconfigured';
  /** `problem` names what is wrong without quoting the secret's content. */
  constructor(tenantId: string, problem: string) {
    super('TENANT_MISCONFIGURED', `Credentials of tenant ${tenantId} are misconfigured: ${problem}`);
  }
}

export class UpstreamRejectedCredentials extends VendingError {
  override name = 'UpstreamRejectedCredentials';
  constructor() {
    super(
      'UPSTREAM_REJECTED_CREDENTIALS',
      'Ekuaibao rejected the tenant credentials (HTTP 403): wrong appKey/appSecurity or a baseUrl of another environment',
    );
  }
}

export class UpstreamUnavailable extends VendingError {
  override name = 'UpstreamUnavailable';
  constructor(detail: string, retryAfterSeconds = 5, options?: ErrorOptions) {
    super('UPSTREAM_UNAVAILABLE', `Ekuaibao is unavailable: ${detail}`, retryAfterSeconds, options);
  }
}

/**
 * The refresh endpoint said 403: the access token expired or was revoked. Never reaches a
 * caller: the vendor falls back to getAccessToken.
 */
export class UpstreamRefreshRejected extends VendingError {
  override name = 'UpstreamRefreshRejected';
  constructor() {
    super('UPSTREAM_UNAVAILABLE', 'Ekuaibao refused to refresh the token (HTTP 403)');
  }
}

export class TokenRefreshInProgress extends VendingError {
  override name = 'TokenRefreshInProgress';
  constructor(retryAfterSeconds: number) {
    super(
      'TOKEN_REFRESH_IN_PROGRESS',
      'Another request is fetching this tenant’s token and did not finish in time',
      retryAfterSeconds,
    );
  }
}

export class InvalidationRateLimited extends VendingError {
  override name = 'InvalidationRateLimited';
  constructor(retryAfterSeconds: number) {
    super(
      'INVALIDATION_RATE_LIMITED',
      'This tenant’s token was invalidated moments ago; wait before reporting it again',
      retryAfterSeconds,
    );
  }
}

export class DependencyThrottled extends VendingError {
  override name = 'DependencyThrottled';
  constructor(dependency: string, options?: ErrorOptions) {
    super('DEPENDENCY_THROTTLED', `${dependency} is throttling requests`, 1, options);
  }
}

/**
 * DynamoDB or Secrets Manager failed in a way worth retrying (timeout, 5xx, connection lost). A
 * write that failed this way may still have been applied: whoever retries it reads first.
 */
export class DependencyUnavailable extends VendingError {
  override name = 'DependencyUnavailable';
  constructor(dependency: string, options?: ErrorOptions) {
    super('DEPENDENCY_UNAVAILABLE', `${dependency} did not answer in time or failed`, 1, options);
  }
}

/**
 * STS refused a session of the tenant access role for this tenant: the deployment is wrong (the
 * role's trust policy, or the function's permission to assume it), not the caller's request.
 */
export class TenantSessionDenied extends VendingError {
  override name = 'TenantSessionDenied';
  constructor(options?: ErrorOptions) {
    super('TENANT_SESSION_DENIED', 'The service may not act for this tenant: its tenant session was refused', undefined, options);
  }
}

/** Whether a store or secret error is worth another try (throttling, timeouts, 5xx). */
export function isTransientDependencyError(error: unknown): boolean {
  return error instanceof DependencyThrottled || error instanceof DependencyUnavailable;
}
