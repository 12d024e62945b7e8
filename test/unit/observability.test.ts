/** What the vendor's events become in metrics and logs. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC, powertoolsEvents, SERVED_STALE_LOG_INTERVAL_MS } from '../../functions/token/observability';

function recorder() {
  const metrics: string[] = [];
  const warnings: string[] = [];
  const events = (now: () => number) =>
    powertoolsEvents(
      { addMetric: (name: string) => metrics.push(name) } as unknown as Metrics,
      { warn: (message: string) => warnings.push(message), info: () => {} } as unknown as Logger,
      now,
    );
  return { metrics, warnings, events };
}

test('every answer served during an outage is counted, and logged once a minute per container', () => {
  let now = 1_000_000;
  const { metrics, warnings, events } = recorder();
  const vendorEvents = events(() => now);
  for (let i = 0; i < 500; i++) vendorEvents.servedStale();
  expect(metrics.filter((m) => m === METRIC.servedStale)).toHaveLength(500);
  expect(warnings).toHaveLength(1);
  now += SERVED_STALE_LOG_INTERVAL_MS - 1;
  vendorEvents.servedStale();
  expect(warnings).toHaveLength(1);
  now += 1;
  vendorEvents.servedStale();
  expect(warnings).toHaveLength(2);
  expect(metrics.filter((m) => m === METRIC.servedStale)).toHaveLength(502);
});
