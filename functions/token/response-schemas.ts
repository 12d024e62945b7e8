/**
 * The JSON shapes the API answers, as JSON Schema (draft 4, what API Gateway models take). The
 * stack publishes them as method response models, so an exported OpenAPI document or a generated
 * SDK describes exactly what the function sends; the API tests check the function's real answers
 * against the same field lists.
 */

/** `GET /tenants/{tenantId}/token` and `POST …/invalidate` answer this on 200. */
export const TOKEN_ANSWER_SCHEMA = {
  title: 'Token',
  type: 'object',
  required: ['tenantId', 'accessToken', 'corporationId', 'expireTime', 'baseUrl'],
  properties: {
    tenantId: { type: 'string' },
    accessToken: { type: 'string', description: 'Pass as the URL-encoded accessToken query parameter of Ekuaibao Open API calls' },
    corporationId: { type: 'string' },
    expireTime: { type: 'integer', description: 'Milliseconds since the epoch until which the token may be used' },
    baseUrl: { type: 'string', description: "The tenant's environment prefix to call the Open API at with this token, without a trailing slash" },
    scope: { type: 'string', description: 'v3 tokens only: tenant or platform' },
  },
} as const;

/** Every error, from the function or from API Gateway itself. */
export const ERROR_ANSWER_SCHEMA = {
  title: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'requestId'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, requestId: { type: 'string' } },
    },
  },
} as const;
