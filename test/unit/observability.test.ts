/** What the vendor's events become in metrics and logs. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC, powertoolsEvents, REPEATED_EVENT_LOG_INTERVAL_MS } from '../../functions/token/observability';

function recorder() {
  const metrics: string[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const events = (now: () => number) =>
    powertoolsEvents(
      { addMetric: (name: string) => metrics.push(name) } as unknown as Metrics,
      { warn: (message: string) => warnings.push(message), info: (message: string) => infos.push(message) } as unknown as Logger,
      now,
    );
  return { metrics, warnings, infos, events };
}

test('every answer served during an outage is counted, and logged once a minute per container', () => {
  let now = 1_000_000;
  const { metrics, warnings, events } = recorder();
  const vendorEvents = events(() => now);
  for (let i = 0; i < 500; i++) vendorEvents.servedStale();
  expect(metrics.filter((m) => m === METRIC.servedStale)).toHaveLength(500);
  expect(warnings).toHaveLength(1);
  now += REPEATED_EVENT_LOG_INTERVAL_MS - 1;
  vendorEvents.servedStale();
  expect(warnings).toHaveLength(1);
  now += 1;
  vendorEvents.servedStale();
  expect(warnings).toHaveLength(2);
  expect(metrics.filter((m) => m === METRIC.servedStale)).toHaveLength(502);
});

test('every wait for another invocation\'s upstream call is counted and timed, and logged once a minute per container', () => {
  let now = 1_000_000;
  const { metrics, infos, events } = recorder();
  const vendorEvents = events(() => now);
  for (let i = 0; i < 500; i++) vendorEvents.leaseWait(i % 2 === 0 ? 'served' : 'timed-out', 1000);
  expect(metrics.filter((m) => m === METRIC.leaseWaits)).toHaveLength(500);
  expect(metrics.filter((m) => m === METRIC.leaseWaitTime)).toHaveLength(500);
  expect(metrics.filter((m) => m === METRIC.leaseWaitTimeouts)).toHaveLength(250);
  expect(infos).toHaveLength(1);
  now += REPEATED_EVENT_LOG_INTERVAL_MS - 1;
  vendorEvents.leaseWait('served', 10);
  expect(infos).toHaveLength(1);
  now += 1;
  vendorEvents.leaseWait('served', 10);
  expect(infos).toHaveLength(2);
  // The served-stale warning keeps its own minute.
  vendorEvents.servedStale();
  expect(infos).toHaveLength(2);
});
