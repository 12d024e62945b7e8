/** Lambda entry for the API: everything is built once per container and reused by invocations. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { createTokenApi } from './api';
import { loadConfig } from './config';
import { createVendor } from './wiring';

const logger = new Logger();
const metrics = new Metrics();
const tracer = new Tracer();
const vendor = createVendor({ config: loadConfig(), logger, metrics, tracer });

export const handler = createTokenApi({
  vendor,
  logger,
  metrics,
  // The response body is the token: it must never be stored in X-Ray.
  tracing: captureLambdaHandler(tracer, { captureResponse: false }),
});
