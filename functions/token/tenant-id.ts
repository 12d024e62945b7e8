// Moved to contract/tenant-id.ts.
export { TENANT_ID_PATTERN } from '../../contract/tenant-id';
