/**
 * The HTTP side of the service: parse the API Gateway event, call the vendor, shape the answer,
 * map every error to the JSON error body. Middy wires Powertools' logging, metrics and tracing
 * around it. No decisions about tokens are made here.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod/mini';
import {
  InvalidRequestBody,
  InvalidTenantId,
  MethodNotAllowed,
  RouteNotFound,
  VendingError,
} from '../domain/errors';
import type { TokenVendor } from '../domain/token-vendor';
import { BASE_HEADERS, errorResponse } from './error-response';
import { METRIC } from '../../contract/metrics';
import { ROUTES } from '../../contract/routes';
import { rawPathParameter } from './routes';
import { TENANT_ID_PATTERN } from '../../contract/tenant-id';

export interface TokenApiDependencies {
  readonly vendor: Pick<TokenVendor, 'vend' | 'invalidate'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Powertools Tracer's middleware, in Lambda. Passed in rather than imported so that local runs
   * do not load the X-Ray SDK, whose async hooks tax every promise.
   */
  readonly tracing?: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>;
}

const invalidateBodySchema = z.object({ accessToken: z.string().check(z.minLength(1), z.maxLength(4096)) });

export function createTokenApi(dependencies: TokenApiDependencies) {
  const { vendor, logger, metrics, tracing } = dependencies;

  const handle = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const route = ROUTES.find((r) => r.resource === event.resource && r.method === event.httpMethod);
    if (route === undefined) {
      const allowed = ROUTES.filter((r) => r.resource === event.resource).map((r) => r.method);
      throw allowed.length > 0 ? new MethodNotAllowed(allowed) : new RouteNotFound();
    }
    const tenantId = parseTenantId(event);
    logger.appendKeys({ tenantId });
    switch (route.name) {
      case 'getToken': {
        const token = await vendor.vend(tenantId);
        return { statusCode: 200, headers: { ...BASE_HEADERS }, body: JSON.stringify(token) };
      }
      case 'invalidateToken': {
        const { accessToken } = parseInvalidateBody(event);
        const { outcome, token } = await vendor.invalidate(tenantId, accessToken);
        metrics.addMetric(METRIC.invalidations, MetricUnit.Count, 1);
        logger.info('invalidation reported', { outcome });
        // The token to use instead of the reported one: a caller recovers in one round trip.
        return { statusCode: 200, headers: { ...BASE_HEADERS }, body: JSON.stringify(token) };
      }
    }
  };

  return middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
    .use(tracing ? [tracing] : [])
    // Never log the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: invalidate bodies carry tokens.
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics))
    .use({
      onError: async (request) => {
        const requestId = request.event?.requestContext?.requestId ?? request.context?.awsRequestId ?? 'unknown';
        const response = errorResponse(request.error, requestId);
        logFailure(logger, request.error, response.statusCode);
        metrics.addMetric(response.statusCode >= 500 ? METRIC.serverErrors : METRIC.clientErrors, MetricUnit.Count, 1);
        request.response = response;
      },
    })
    .handler(handle);
}

/** A tenant id that was sent percent-encoded (`de%6Do`), or whose raw path segment cannot be found. */
class UnencodedTenantIdRequired extends InvalidTenantId {
  override name = 'UnencodedTenantIdRequired';
  constructor() {
    super();
    this.message = `${this.message}, sent as is in the path (not percent-encoded)`;
  }
}

/**
 * The tenant id, checked twice: the decoded `pathParameters.tenantId` must match the pattern, and
 * the raw segment of `path` it was decoded from must be the very same string. API Gateway decodes
 * path parameters, so without the second check `/tenants/de%6Do/token` would be served as tenant
 * `demo`; only ids that reach a secret name and a table key exactly as the caller wrote them pass.
 */
function parseTenantId(event: APIGatewayProxyEvent): string {
  const decoded = event.pathParameters?.tenantId;
  if (decoded === undefined || !TENANT_ID_PATTERN.test(decoded)) throw new InvalidTenantId();
  const raw = rawPathParameter(event.path, event.resource, 'tenantId');
  if (raw === undefined || raw !== decoded || raw.includes('%')) throw new UnencodedTenantIdRequired();
  return decoded;
}

function parseInvalidateBody(event: APIGatewayProxyEvent): { accessToken: string } {
  if (event.body === null || event.body === '') throw new InvalidRequestBody('expected {"accessToken":"..."}');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidRequestBody('not JSON');
  }
  const parsed = invalidateBodySchema.safeParse(json);
  if (!parsed.success) throw new InvalidRequestBody('expected {"accessToken":"..."}');
  return parsed.data;
}

/** Logs a failure by its code and class; never its cause chain, which may quote request data. */
function logFailure(logger: Logger, error: unknown, statusCode: number): void {
  const known = error instanceof VendingError;
  const detail = {
    code: known ? error.code : 'INTERNAL_ERROR',
    statusCode,
    errorName: error instanceof Error ? error.name : typeof error,
    ...(known && { reason: error.message }),
    // AWS service errors describe the request's shape, not its data: worth keeping for operators.
    ...(!known && isAwsServiceError(error) && { errorMessage: error.message }),
  };
  if (!known) logger.error('unexpected failure', detail);
  else if (statusCode >= 500) logger.warn('request failed', detail);
  else logger.info('request rejected', detail);
}

function isAwsServiceError(error: unknown): error is Error {
  return error instanceof Error && '$metadata' in error;
}
