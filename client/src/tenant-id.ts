import { TokenVendingError } from './errors.js';

/** The service's tenant id pattern (`contract/tenant-id.ts`); a test keeps the two equal. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Refuses a tenant id the service would refuse, before any request. The value is not echoed. */
export function assertTenantId(tenantId: unknown): asserts tenantId is string {
  if (typeof tenantId !== 'string' || !TENANT_ID_PATTERN.test(tenantId)) {
    throw new TokenVendingError(
      'INVALID_TENANT_ID',
      `tenantId must be a string matching ${TENANT_ID_PATTERN.source}`,
    );
  }
}
