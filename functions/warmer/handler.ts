/**
 * Scheduled by EventBridge: refreshes, through the same lease as the API, every tenant whose token
 * enters its refresh window before the next run, so that callers of active tenants do not wait on
 * the upstream.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { loadConfig } from '../token/config';
import { createVendor } from '../token/wiring';

const logger = new Logger();
const metrics = new Metrics();
const tracer = new Tracer();
const config = loadConfig();
const vendor = createVendor({ config, logger, metrics, tracer });

export const handler = middy()
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async () => {
    const counts = await vendor.warmAll(config.warmHorizonMs);
    metrics.addMetric('WarmerRefreshed', MetricUnit.Count, counts.refreshed);
    metrics.addMetric('WarmerFailures', MetricUnit.Count, counts.failed);
    logger.info('warm run finished', { ...counts });
    return counts;
  });
