/**
 * The honest competitor: the token Lambda a competent team would write by hand in one file. Read
 * the tenant's secret (cached for the container), read the tenant's item, return the token. It
 * never calls the upstream: a table hit is its only path, which is the path figures 1 and 2
 * compare (the first request of a container whose tenant already has a token, and a warm hit).
 *
 * Choices, as such a team would make them:
 * - the AWS SDK v3 clients are built once at import, with default configuration (region,
 *   credentials and endpoints from the environment, as in Lambda);
 * - items are read with `DynamoDBDocumentClient` from `@aws-sdk/lib-dynamodb` (plain JavaScript
 *   values, no hand-written unmarshalling), the most common choice (the service itself uses the
 *   low-level client with the middleware cache; the baseline stays as a team would write it);
 * - the secret is cached in a module `Map` for the life of the container (no expiry);
 * - the read is strongly consistent, as the service's is, so both pay the same read units.
 *
 * It must stand alone (it is bundled by itself with the token function's esbuild options), so it
 * imports nothing from functions/: the table's key and attribute names, the tenant id pattern and
 * the error body shape are copied from functions/adapters/token-table.ts,
 * contract/tenant-id.ts and functions/token/error-response.ts. Copying constants is fine
 * in a baseline; if the table's layout changes, change them here too.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

// Copied from contract/tenant-id.ts.
const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// Copied from functions/adapters/token-table.ts (the item layout is the table's contract).
const A = {
  tenantId: 'tenantId',
  accessToken: 'accessToken',
  expireTime: 'expireTime',
  corporationId: 'corporationId',
  retiredAt: 'retiredAt',
} as const;

const TABLE_NAME = process.env.TABLE_NAME ?? 'tokens';
const SECRET_PREFIX = process.env.TENANT_SECRET_PREFIX ?? 'ekuaibao/tenants/';
const SAFETY_MARGIN_MS = Number(process.env.SAFETY_MARGIN_SECONDS ?? '300') * 1000;
const HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

const secretsManager = new SecretsManagerClient({});
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secrets = new Map<string, { appKey: string; appSecurity: string }>();

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const requestId = event.requestContext?.requestId ?? 'unknown';
  const tenantId = event.pathParameters?.tenantId;
  if (tenantId === undefined || !TENANT_ID_PATTERN.test(tenantId)) {
    return error(400, 'INVALID_TENANT_ID', 'invalid tenant id', requestId);
  }
  try {
    if (!secrets.has(tenantId)) {
      let secretString: string | undefined;
      try {
        ({ SecretString: secretString } = await secretsManager.send(new GetSecretValueCommand({ SecretId: `${SECRET_PREFIX}${tenantId}` })));
      } catch (caught) {
        if ((caught as Error).name === 'ResourceNotFoundException') return error(404, 'TENANT_NOT_FOUND', 'no such tenant', requestId);
        throw caught;
      }
      const secret = JSON.parse(secretString ?? '{}') as { appKey?: unknown; appSecurity?: unknown };
      if (typeof secret.appKey !== 'string' || typeof secret.appSecurity !== 'string') {
        return error(500, 'TENANT_MISCONFIGURED', 'the secret lacks appKey or appSecurity', requestId);
      }
      secrets.set(tenantId, { appKey: secret.appKey, appSecurity: secret.appSecurity });
    }
    const { Item } = await documents.send(new GetCommand({ TableName: TABLE_NAME, Key: { [A.tenantId]: tenantId }, ConsistentRead: true }));
    const usableUntil = typeof Item?.[A.expireTime] === 'number' ? (Item[A.expireTime] as number) - SAFETY_MARGIN_MS : 0;
    if (typeof Item?.[A.accessToken] !== 'string' || Item[A.retiredAt] !== undefined || Date.now() >= usableUntil) {
      return error(503, 'UPSTREAM_UNAVAILABLE', 'no valid token', requestId, 1);
    }
    return {
      statusCode: 200,
      headers: HEADERS,
      body: JSON.stringify({
        tenantId,
        accessToken: Item[A.accessToken],
        corporationId: Item[A.corporationId],
        expireTime: usableUntil,
      }),
    };
  } catch {
    return error(503, 'DEPENDENCY_UNAVAILABLE', 'a dependency failed', requestId, 1);
  }
};

function error(statusCode: number, code: string, message: string, requestId: string, retryAfter?: number): APIGatewayProxyResult {
  return {
    statusCode,
    headers: retryAfter === undefined ? HEADERS : { ...HEADERS, 'Retry-After': String(retryAfter) },
    body: JSON.stringify({ error: { code, message, requestId } }),
  };
}
