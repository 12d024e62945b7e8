/** Lambda entry for the API: everything is built once per container and reused by invocations. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createTokenApi } from './api';
import { loadConfig } from './config';
import { createVendor } from './wiring';

const logger = new Logger();
const metrics = new Metrics();
const config = loadConfig();
// Only with TRACE_AWS_CALLS=true: a dynamic import keeps the X-Ray SDK unevaluated otherwise (tracing.ts).
const tracing = config.traceAwsCalls ? (await import('./tracing')).createTracing() : undefined;
const vendor = createVendor({ config, logger, metrics, ...(tracing && { tracer: tracing.tracer }) });

export const handler = createTokenApi({
  vendor,
  logger,
  metrics,
  // The response body is the token: tracing.ts never records it.
  ...(tracing && { tracing: tracing.middleware }),
});
