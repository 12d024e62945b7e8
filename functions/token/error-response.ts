/**
 * The one table from error code to HTTP status, and the JSON error body every failure gets:
 * `{"error":{"code","message","requestId"}}`. Unknown errors become INTERNAL_ERROR with a generic
 * message, so nothing from a library's error text (which may quote a request) reaches a caller.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { MethodNotAllowed, VendingError, type ErrorCode } from '../domain/errors';

export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_TENANT_ID: 400,
  INVALID_REQUEST_BODY: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TENANT_NOT_FOUND: 404,
  TENANT_MISCONFIGURED: 500,
  UPSTREAM_REJECTED_CREDENTIALS: 502,
  UPSTREAM_UNAVAILABLE: 503,
  TOKEN_REFRESH_IN_PROGRESS: 503,
  INVALIDATION_RATE_LIMITED: 429,
  DEPENDENCY_THROTTLED: 503,
  DEPENDENCY_UNAVAILABLE: 503,
  TENANT_SESSION_DENIED: 500,
  INTERNAL_ERROR: 500,
};

export const BASE_HEADERS = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
} as const;

export function errorResponse(error: unknown, requestId: string): APIGatewayProxyResult {
  const known = error instanceof VendingError;
  const code: ErrorCode = known ? error.code : 'INTERNAL_ERROR';
  const message = known ? error.message : 'The service failed to handle the request';
  const headers: Record<string, string> = { ...BASE_HEADERS };
  if (known && error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  if (error instanceof MethodNotAllowed) headers.Allow = error.allowed.join(', ');
  return {
    statusCode: STATUS_BY_CODE[code],
    headers,
    body: JSON.stringify({ error: { code, message, requestId } }),
  };
}
