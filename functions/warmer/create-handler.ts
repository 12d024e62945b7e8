/**
 * The refresher. Two kinds of events reach it:
 * - its EventBridge schedule: refresh, through the same lease as the API, every tenant whose token
 *   enters its refresh window before the next run;
 * - `{"tenantId": "..."}`, sent asynchronously by the token function when a caller was served a
 *   token in its refresh window: refresh that tenant now, so that no caller waits on the upstream.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { RefreshRequestEvent } from '../adapters/refresh-trigger';
import { loadConfig } from '../token/config';
import { METRIC } from '../../contract/metrics';
import { TENANT_ID_PATTERN } from '../../contract/tenant-id';
import type { Tracing } from '../token/tracing';
import { createVendor } from '../token/wiring';

function isRefreshRequest(event: unknown): event is RefreshRequestEvent {
  return typeof event === 'object' && event !== null && typeof (event as { tenantId?: unknown }).tenantId === 'string';
}

/**
 * The warmer's Lambda handler, built once per container. `handler.ts` builds it without tracing,
 * `traced-handler.ts` with Powertools Tracer (the stack's `traceAwsCalls` picks the entry).
 */
export function createWarmerHandler(tracing?: Tracing) {
  const logger = new Logger();
  const metrics = new Metrics();
  const config = loadConfig();
  // The refresher never asks itself for refreshes: it is where they run.
  const vendor = createVendor({
    config,
    logger,
    metrics,
    ...(tracing && { tracer: tracing.tracer }),
    refresher: { requestRefresh: async () => {} },
  });

  return middy()
    .use(tracing ? [tracing.middleware] : [])
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics))
    .handler(async (event: unknown) => {
      if (isRefreshRequest(event)) {
        if (!TENANT_ID_PATTERN.test(event.tenantId)) {
          logger.warn('ignored a refresh request with an invalid tenant id');
          return { refreshed: 0, skipped: 0, failed: 1 };
        }
        logger.appendKeys({ tenantId: event.tenantId });
        const outcome = await vendor.refresh(event.tenantId);
        const counts = { refreshed: 0, skipped: 0, failed: 0, [outcome]: 1 };
        metrics.addMetric(METRIC.warmerRefreshed, MetricUnit.Count, counts.refreshed);
        metrics.addMetric(METRIC.warmerFailures, MetricUnit.Count, counts.failed);
        logger.info('refresh request finished', { outcome });
        return counts;
      }
      const counts = await vendor.warmAll(config.warmHorizonMs);
      metrics.addMetric(METRIC.warmerRefreshed, MetricUnit.Count, counts.refreshed);
      metrics.addMetric(METRIC.warmerFailures, MetricUnit.Count, counts.failed);
      logger.info('warm run finished', { ...counts });
      return counts;
    });
}
