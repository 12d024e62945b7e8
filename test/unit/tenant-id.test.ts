/**
 * Tenant-id validation at the handler, property-based: every id the contract allows reaches the
 * vendor unchanged, everything else is a 400 before any lookup.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { TENANT_ID_PATTERN } from '../../contract/tenant-id';
import { createTokenApi } from '../../functions/token/api';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const validId = fc
  .tuple(
    fc.constantFrom(...ALPHANUMERIC),
    fc.array(fc.constantFrom(...ALPHANUMERIC, '_', '-'), { maxLength: 63 }),
  )
  .map(([first, rest]) => first + rest.join(''));

function apiWithRecordingVendor() {
  const seen: string[] = [];
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const api = createTokenApi({
    vendor: {
      vend: async (tenantId: string) => {
        seen.push(tenantId);
        return { tenantId, accessToken: 'fake', corporationId: 'c', expireTime: 1, baseUrl: 'https://app.ekuaibao.com' };
      },
      invalidate: async (tenantId: string) => ({
        outcome: 'stale' as const,
        token: { tenantId, accessToken: 'fake', corporationId: 'c', expireTime: 1, baseUrl: 'https://app.ekuaibao.com' },
      }),
    },
    logger: new Logger({ logLevel: 'SILENT' }),
    // The recording vendor emits no metrics; keep Powertools' "no metrics" warning out of the output.
    metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
  });
  return { api, seen };
}

async function statusFor(api: ReturnType<typeof apiWithRecordingVendor>['api'], tenantId: string) {
  const event = toApiGatewayEvent('GET', '/tenants/x/token', {}, '');
  // As API Gateway would report it if the raw segment were the id itself: only the pattern decides.
  event.pathParameters = { tenantId };
  event.path = `/tenants/${tenantId}/token`;
  const response = await api(event, localLambdaContext(1000));
  return { status: response.statusCode, code: response.statusCode === 400 ? JSON.parse(response.body).error.code : undefined };
}

test('every id matching the contract reaches the vendor unchanged', async () => {
  const { api, seen } = apiWithRecordingVendor();
  await fc.assert(
    fc.asyncProperty(validId, async (tenantId) => {
      seen.length = 0;
      expect((await statusFor(api, tenantId)).status).toBe(200);
      expect(seen).toEqual([tenantId]);
    }),
  );
});

test('every other string is INVALID_TENANT_ID and never reaches the vendor', async () => {
  const { api, seen } = apiWithRecordingVendor();
  const invalid = fc
    .oneof(fc.string({ unit: 'binary' }), fc.string({ minLength: 65, maxLength: 100 }), validId.map((id) => `${id}/x`), validId.map((id) => `_${id}`))
    .filter((id) => !TENANT_ID_PATTERN.test(id));
  await fc.assert(
    fc.asyncProperty(invalid, async (tenantId) => {
      expect(await statusFor(api, tenantId)).toEqual({ status: 400, code: 'INVALID_TENANT_ID' });
    }),
  );
  expect(seen).toEqual([]);
});

test('the boundaries of the pattern', () => {
  expect(TENANT_ID_PATTERN.test('a'.repeat(64))).toBe(true);
  expect(TENANT_ID_PATTERN.test('a'.repeat(65))).toBe(false);
  expect(TENANT_ID_PATTERN.test('a\n')).toBe(false);
  expect(TENANT_ID_PATTERN.test('')).toBe(false);
});
