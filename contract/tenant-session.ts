/**
 * Tenant sessions (the AWS SaaS Factory "token vending machine" pattern): the functions read a
 * tenant's secret and table item only with credentials of that tenant. They assume the tenant
 * access role with a session tag naming the tenant; the role's policy allows only the secret and
 * the item whose name and key carry that tag's value. The stack builds the role and its trust
 * policy from these names, and the function tags its sessions with them.
 */

/** The session tag (and principal tag) that names the tenant. */
export const TENANT_SESSION_TAG = 'tenantId';

/**
 * How long a session lasts. STS's minimum (15 minutes) keeps a leaked session short; a container
 * assumes the role again for a tenant at most this often (one STS call per container per tenant).
 */
export const TENANT_SESSION_DURATION_SECONDS = 900;

/** A session is used until this long before it expires, then assumed again. */
export const TENANT_SESSION_RENEW_BEFORE_SECONDS = 120;

/** The session name, as CloudTrail shows it: which tenant a call was made for. */
export function tenantSessionName(tenantId: string): string {
  // Tenant ids are at most 64 characters of [A-Za-z0-9_-]; session names allow 2-64 of [\w+=,.@-].
  return `tenant-${tenantId}`.slice(0, 64);
}
