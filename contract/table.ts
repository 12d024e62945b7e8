/**
 * The token table's item layout: the CDK table, the local table setup and the DynamoDB adapter
 * all take the attribute names from here.
 */
export const TABLE_ATTRIBUTES = {
  tenantId: 'tenantId',
  version: 'v',
  accessToken: 'accessToken',
  refreshToken: 'refreshToken',
  expireTime: 'expireTime',
  corporationId: 'corporationId',
  /** The environment prefix the token is valid for (absent on tokens stored before it was recorded). */
  baseUrl: 'baseUrl',
  /** v3 tokens: `tenant` or `platform`. */
  scope: 'scope',
  issuedAt: 'issuedAt',
  fingerprint: 'fingerprint',
  tokenCredentialRank: 'tokenCredentialRank',
  credentialRank: 'credentialRank',
  retiredAt: 'retiredAt',
  doubtedAt: 'doubtedAt',
  leaseOwner: 'leaseOwner',
  leaseExpiresAt: 'leaseExpiresAt',
  failureCode: 'failureCode',
  failureAt: 'failureAt',
  failureLeaseOwner: 'failureLeaseOwner',
  lastInvalidatedAt: 'lastInvalidatedAt',
  ttl: 'ttl',
} as const;

/** The table's only key: one item per tenant. */
export const PARTITION_KEY = TABLE_ATTRIBUTES.tenantId;
/** Epoch seconds after which DynamoDB may delete an item nobody needs any more. */
export const TTL_ATTRIBUTE = TABLE_ATTRIBUTES.ttl;
