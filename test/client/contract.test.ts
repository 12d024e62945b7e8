/**
 * The client is a package of its own and cannot import the service's code, so it keeps its own
 * list of the service's error codes. This keeps the two lists from drifting apart: `npm test`
 * type-checks it first, and a code the service adds without the client fails here.
 */
import type { ServiceErrorCode } from '../../client/src/errors';
import type { ErrorCode } from '../../functions/domain/errors';
import { STATUS_BY_CODE } from '../../functions/token/error-response';
import { GATEWAY_ERRORS } from '../../lib/token-api';

type Missing = Exclude<ErrorCode, ServiceErrorCode>;
const everyFunctionCodeIsKnown: [Missing] extends [never] ? true : Missing = true;

/** The codes API Gateway answers with itself (lib/token-api.ts); each must be a client code to compile. */
const GATEWAY_CODES: ServiceErrorCode[] = [
  'REQUEST_REJECTED',
  'GATEWAY_ERROR',
  'ACCESS_DENIED',
  'THROTTLED',
  'NOT_FOUND',
  'INVALID_TENANT_ID',
  'INVALID_REQUEST_BODY',
  'GATEWAY_TIMEOUT',
];

test('the client knows every code the function and API Gateway answer with', () => {
  expect(everyFunctionCodeIsKnown).toBe(true);
  expect(Object.keys(STATUS_BY_CODE).length).toBeGreaterThan(10);
  expect(new Set(GATEWAY_ERRORS.map((g) => g.code))).toEqual(new Set(GATEWAY_CODES));
});
