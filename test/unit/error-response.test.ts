import * as errors from '../../functions/domain/errors';
import { errorResponse, STATUS_BY_CODE } from '../../functions/token/error-response';

describe('errorResponse', () => {
  test('every error has the JSON shape with a stable code and the request id', () => {
    const response = errorResponse(new errors.TenantNotFound('acme'), 'req-1');
    expect(response.statusCode).toBe(404);
    expect(response.headers).toMatchObject({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    expect(JSON.parse(response.body)).toEqual({
      error: { code: 'TENANT_NOT_FOUND', message: 'No credentials are configured for tenant acme', requestId: 'req-1' },
    });
  });

  test.each([
    [new errors.InvalidTenantId(), 400],
    [new errors.InvalidRequestBody('x'), 400],
    [new errors.RouteNotFound(), 404],
    [new errors.MethodNotAllowed(['GET']), 405],
    [new errors.TenantMisconfigured('t', 'x'), 500],
    [new errors.UpstreamRejectedCredentials(), 502],
    [new errors.UpstreamUnavailable('x'), 503],
    [new errors.TokenRefreshInProgress(3), 503],
    [new errors.InvalidationRateLimited(20), 429],
    [new errors.DependencyThrottled('DynamoDB'), 503],
    [new errors.DependencyUnavailable('DynamoDB'), 503],
  ])('%p maps to %i', (error, status) => {
    expect(errorResponse(error, 'r').statusCode).toBe(status);
    expect(STATUS_BY_CODE[error.code]).toBe(status);
  });

  test('retryable errors carry Retry-After; 405 carries Allow', () => {
    expect(errorResponse(new errors.UpstreamUnavailable('x', 7), 'r').headers).toMatchObject({ 'Retry-After': '7' });
    expect(errorResponse(new errors.TokenRefreshInProgress(2), 'r').headers).toMatchObject({ 'Retry-After': '2' });
    expect(errorResponse(new errors.DependencyUnavailable('DynamoDB'), 'r')).toMatchObject({
      statusCode: 503,
      headers: { 'Retry-After': '1' },
    });
    expect(JSON.parse(errorResponse(new errors.DependencyUnavailable('DynamoDB'), 'r').body).error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(errorResponse(new errors.MethodNotAllowed(['GET', 'POST']), 'r').headers).toMatchObject({ Allow: 'GET, POST' });
    expect(errorResponse(new errors.TenantNotFound('t'), 'r').headers).not.toHaveProperty('Retry-After');
  });

  test('an unknown error becomes INTERNAL_ERROR without its message', () => {
    const response = errorResponse(new Error('token=fake-leak'), 'r');
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body).error.code).toBe('INTERNAL_ERROR');
    expect(response.body).not.toContain('fake-leak');
  });
});
