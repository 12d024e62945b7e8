/**
 * Turns what the vendor reports into Powertools metrics and log lines. Metric names are a
 * contract with the CDK alarms and dashboard (lib/), which import them from `contract/metrics.ts`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { VendorEvents } from '../domain/vendor-events';
import { METRIC } from '../../contract/metrics';

export { METRIC };

/**
 * Events that happen to every caller of a crowd are counted by their metric each time and logged
 * once a minute per container, not once per request: during an outage every caller is served the
 * still-valid token, and in a stampede every caller but one waits for the holder's upstream call.
 * A line per request would be thousands of lines a second with nothing new in them, which
 * CloudWatch Logs would bill and every waiting invocation would spend CPU writing.
 */
export const REPEATED_EVENT_LOG_INTERVAL_MS = 60_000;

export function powertoolsEvents(metrics: Metrics, logger: Logger, now: () => number = Date.now): VendorEvents {
  const count = (name: string) => metrics.addMetric(name, MetricUnit.Count, 1);
  const staleLog = oncePerInterval(now);
  const leaseWaitLog = oncePerInterval(now);
  return {
    cacheHit() {
      count(METRIC.cacheHitTable);
    },
    upstreamCall(operation, outcome, latencyMs) {
      count(METRIC.upstreamCalls);
      metrics.addMetric(METRIC.upstreamLatency, MetricUnit.Milliseconds, latencyMs);
      if (outcome === 'failed') count(METRIC.upstreamFailures);
      logger.info('upstream call', { operation, outcome, latencyMs });
    },
    leaseWait(outcome, waitedMs) {
      count(METRIC.leaseWaits);
      metrics.addMetric(METRIC.leaseWaitTime, MetricUnit.Milliseconds, waitedMs);
      if (outcome === 'timed-out') count(METRIC.leaseWaitTimeouts);
      // A wait that timed out answers 503, and that request's failure is logged on its own.
      if (leaseWaitLog()) {
        logger.info('waited for another invocation’s upstream call (logged once a minute; LeaseWaits counts every wait)', { outcome, waitedMs });
      }
    },
    servedStale() {
      count(METRIC.servedStale);
      if (!staleLog()) return;
      logger.warn('the last refresh failed; serving the still-valid token (logged once a minute; ServedStaleOnUpstreamFailure counts every answer)');
    },
    refreshTriggered(outcome) {
      count(outcome === 'sent' ? METRIC.refreshTriggered : METRIC.refreshTriggerFailures);
      if (outcome === 'failed') logger.warn('could not start a refresh elsewhere; served the still-valid token');
    },
    refreshFellBack() {
      count(METRIC.refreshFellBack);
      logger.warn('the refresh endpoint failed; fell back to getAccessToken');
    },
    storeRetried(operation) {
      count(METRIC.storeRetries);
      logger.info('retried a dependency call after a transient failure', { operation });
    },
    lineageSuperseded(reason) {
      count(METRIC.lineageSuperseded);
      logger.info('replacing the stored token', { reason });
    },
    handedOutUnstored() {
      count(METRIC.handedOutUnstored);
      logger.warn('the token table kept failing; answered with a token that is not stored');
    },
    notice(message, detail) {
      logger.warn(message, detail);
    },
  };
}

/** True the first time, then at most once per REPEATED_EVENT_LOG_INTERVAL_MS. */
function oncePerInterval(now: () => number): () => boolean {
  let loggedAt: number | undefined;
  return () => {
    const at = now();
    if (loggedAt !== undefined && at - loggedAt < REPEATED_EVENT_LOG_INTERVAL_MS) return false;
    loggedAt = at;
    return true;
  };
}
