/**
 * What a tenant id may look like: it becomes part of a secret name, a table key and an
 * `execute-api` ARN. No `/`, so a secret prefix ending in `/` covers tenant secrets only.
 */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isValidTenantId(tenantId: string): boolean {
  return TENANT_ID_PATTERN.test(tenantId);
}
