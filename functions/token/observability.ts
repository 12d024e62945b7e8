/**
 * Turns what the vendor reports into Powertools metrics and log lines. Metric names are a
 * contract with the CDK alarms and dashboard (lib/): change both together.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { VendorEvents } from '../domain/vendor-events';

export const METRIC = {
  cacheHitMemory: 'CacheHitMemory',
  cacheHitTable: 'CacheHitTable',
  upstreamCalls: 'UpstreamCalls',
  upstreamFailures: 'UpstreamFailures',
  upstreamLatency: 'UpstreamLatency',
  leaseWaits: 'LeaseWaits',
  leaseWaitTime: 'LeaseWaitTime',
  leaseWaitTimeouts: 'LeaseWaitTimeouts',
  servedStale: 'ServedStaleOnUpstreamFailure',
  invalidations: 'InvalidationsReported',
  clientErrors: 'ClientErrors',
  serverErrors: 'ServerErrors',
} as const;

export function powertoolsEvents(metrics: Metrics, logger: Logger): VendorEvents {
  return {
    cacheHit(layer) {
      metrics.addMetric(layer === 'memory' ? METRIC.cacheHitMemory : METRIC.cacheHitTable, MetricUnit.Count, 1);
    },
    upstreamCall(operation, outcome, latencyMs) {
      metrics.addMetric(METRIC.upstreamCalls, MetricUnit.Count, 1);
      metrics.addMetric(METRIC.upstreamLatency, MetricUnit.Milliseconds, latencyMs);
      if (outcome === 'failed') metrics.addMetric(METRIC.upstreamFailures, MetricUnit.Count, 1);
      logger.info('upstream call', { operation, outcome, latencyMs });
    },
    leaseWait(outcome, waitedMs) {
      metrics.addMetric(METRIC.leaseWaits, MetricUnit.Count, 1);
      metrics.addMetric(METRIC.leaseWaitTime, MetricUnit.Milliseconds, waitedMs);
      if (outcome === 'timed-out') metrics.addMetric(METRIC.leaseWaitTimeouts, MetricUnit.Count, 1);
      logger.info('waited for another invocation’s upstream call', { outcome, waitedMs });
    },
    servedStale() {
      metrics.addMetric(METRIC.servedStale, MetricUnit.Count, 1);
      logger.warn('upstream failed; served the still-valid cached token');
    },
    notice(message, detail) {
      logger.warn(message, detail);
    },
  };
}
