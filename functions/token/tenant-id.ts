/** What a tenant id may look like: it becomes part of a secret name and a table key. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
