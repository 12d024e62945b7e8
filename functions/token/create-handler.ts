/** The token API's Lambda handler: everything is built once per container and reused by invocations. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createTokenApi } from './api';
import { loadConfig } from './config';
import type { Tracing } from './tracing';
import { createVendor } from './wiring';

/**
 * Builds the handler. `handler.ts` builds it without tracing, `traced-handler.ts` with Powertools
 * Tracer (the stack's `traceAwsCalls` picks the entry, so the default asset holds no X-Ray SDK).
 */
export function createTokenHandler(tracing?: Tracing) {
  const logger = new Logger();
  const metrics = new Metrics();
  const vendor = createVendor({ config: loadConfig(), logger, metrics, ...(tracing && { tracer: tracing.tracer }) });
  return createTokenApi({
    vendor,
    logger,
    metrics,
    // The response body is the token: tracing.ts never records it.
    ...(tracing && { tracing: tracing.middleware }),
  });
}
