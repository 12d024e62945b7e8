/**
 * The tenant id is checked against the raw path segment it was decoded from, as API Gateway REST
 * reports them: `path` as sent (percent-encoded), `pathParameters` decoded. Hand-built events,
 * including a custom domain's base-path mapping, where `path` carries the mapping's prefix.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { createTokenApi } from '../../functions/token/api';
import { rawPathParameter } from '../../functions/token/routes';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';

const TOKEN = 'fake-token-must-not-leak';
const GET = '/tenants/{tenantId}/token';
const INVALIDATE = '/tenants/{tenantId}/token/invalidate';

function apiWithRecordingVendor() {
  const seen: string[] = [];
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const token = (tenantId: string) => ({ tenantId, accessToken: TOKEN, corporationId: 'c', expireTime: 1, baseUrl: 'https://app.ekuaibao.com' });
  const api = createTokenApi({
    vendor: {
      vend: async (tenantId: string) => {
        seen.push(tenantId);
        return token(tenantId);
      },
      invalidate: async (tenantId: string) => {
        seen.push(tenantId);
        return { outcome: 'stale' as const, token: token(tenantId) };
      },
    },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
  });
  return { api, seen };
}

/** What API Gateway REST sends for a request that matched `resource`. */
function event(
  httpMethod: string,
  resource: string,
  path: string | null,
  tenantId: string | undefined,
  body: string | null = null,
): APIGatewayProxyEvent {
  return {
    resource,
    path: path as string,
    httpMethod,
    headers: { Host: 'tokens.example.com' },
    multiValueHeaders: { Host: ['tokens.example.com'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: tenantId === undefined ? null : { tenantId },
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '111122223333',
      apiId: 'abc123',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod,
      identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
      path: path ?? '',
      stage: 'v1',
      requestId: 'f1b2c3d4-0000-4000-8000-000000000001',
      requestTimeEpoch: 1_700_000_000_000,
      resourceId: 'r1',
      resourcePath: resource,
    },
  };
}

async function call(e: APIGatewayProxyEvent) {
  const { api, seen } = apiWithRecordingVendor();
  const response = await api(e, localLambdaContext(1000));
  return { response, seen, json: JSON.parse(response.body) };
}

describe('served: the raw segment is the tenant id itself', () => {
  test.each([
    ['GET', GET, '/tenants/demo/token'],
    ['GET', GET, '/tokens/tenants/demo/token'], // base-path mapping "tokens"
    ['GET', GET, '/v1/tokens/tenants/demo/token'], // base-path mapping "v1/tokens"
    ['GET', GET, '/tenants/demo/token/'],
    ['POST', INVALIDATE, '/tenants/demo/token/invalidate'],
    ['POST', INVALIDATE, '/tokens/tenants/demo/token/invalidate'],
  ])('%s %s at %s', async (method, resource, path) => {
    const { response, seen, json } = await call(event(method, resource, path, 'demo', '{"accessToken":"old"}'));
    expect(response.statusCode).toBe(200);
    expect(json.tenantId).toBe('demo');
    expect(seen).toEqual(['demo']);
  });
});

describe('refused with 400 INVALID_TENANT_ID before any lookup', () => {
  test.each([
    ['percent-encoded letter', GET, '/tenants/de%6Do/token', 'demo'],
    ['percent-encoded letter, upper-case hex', GET, '/tenants/%64emo/token', 'demo'],
    ['percent-encoded behind a base-path mapping', GET, '/tokens/tenants/de%6Do/token', 'demo'],
    ['percent-encoded, invalidate', INVALIDATE, '/tokens/tenants/de%6Do/token/invalidate', 'demo'],
    ['fully percent-encoded', GET, '/tenants/%64%65%6D%6F/token', 'demo'],
    ['a segment other than the parameter', GET, '/tenants/other/token', 'demo'],
    ['a path of another shape', GET, '/tenants/demo/token/extra', 'demo'],
    ['a path shorter than the template', GET, '/demo/token', 'demo'],
    ['a path whose literal segments differ', GET, '/tenant/demo/token', 'demo'],
    ['no path', GET, null, 'demo'],
    ['no path parameter', GET, '/tenants/demo/token', undefined],
    ['an id outside the pattern', GET, '/tenants/..%2Fother/token', '../other'],
    ['dot segments', GET, '/tenants/%2e%2e/token', '..'],
  ])('%s: %s at %s', async (_label, resource, path, tenantId) => {
    const method = resource === GET ? 'GET' : 'POST';
    const { response, seen, json } = await call(event(method, resource, path, tenantId, '{"accessToken":"old"}'));
    expect(response.statusCode).toBe(400);
    expect(response.headers?.['Content-Type']).toBe('application/json');
    expect(json).toEqual({ error: { code: 'INVALID_TENANT_ID', message: expect.any(String), requestId: expect.any(String) } });
    expect(response.body).not.toContain(TOKEN);
    expect(seen).toEqual([]);
  });

  test('the message says why an id that matches the pattern was refused', async () => {
    const { json } = await call(event('GET', GET, '/tenants/de%6Do/token', 'demo'));
    expect(json.error.message).toMatch(/percent-encoded/);
  });
});

test('through the local API Gateway event: an encoded tenant is decoded as in AWS, then refused', async () => {
  const e = toApiGatewayEvent('GET', '/tenants/de%6Do/token', {}, '');
  expect(e.pathParameters).toEqual({ tenantId: 'demo' });
  expect(e.path).toBe('/tenants/de%6Do/token');
  const { response, seen, json } = await call(e);
  expect([response.statusCode, json.error.code]).toEqual([400, 'INVALID_TENANT_ID']);
  expect(seen).toEqual([]);
});

test('rawPathParameter lays the template over the end of the path', () => {
  expect(rawPathParameter('/tenants/a/token', GET, 'tenantId')).toBe('a');
  expect(rawPathParameter('/x/y/tenants/a%41/token', GET, 'tenantId')).toBe('a%41');
  expect(rawPathParameter('/tenants/a/token/invalidate', INVALIDATE, 'tenantId')).toBe('a');
  expect(rawPathParameter('/tenants/a/token/invalidate', GET, 'tenantId')).toBeUndefined();
  expect(rawPathParameter('/tenants/a/token', GET, 'other')).toBeUndefined();
  expect(rawPathParameter('tenants/a/token', GET, 'tenantId')).toBeUndefined();
  expect(rawPathParameter(undefined, GET, 'tenantId')).toBeUndefined();
});

test('toApiGatewayEvent refuses targets it would have to resolve', () => {
  for (const target of ['/tenants/x/../demo/token', '//evil/tenants/demo/token', 'http://h/tenants/demo/token', '/tenants/%2e%2E/token', '/a\\b']) {
    expect(() => toApiGatewayEvent('GET', target, {}, '')).toThrow(/Request target refused/);
  }
});
