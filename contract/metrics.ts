/**
 * Every metric the functions emit (namespace from POWERTOOLS_METRICS_NAMESPACE, dimension
 * `service`). The CDK alarms and dashboard import this list; nothing else spells these names.
 * No imports here, so that the CDK app can load it without the Lambda's dependencies.
 */
export const METRIC = {
  cacheHitTable: 'CacheHitTable',
  upstreamCalls: 'UpstreamCalls',
  upstreamFailures: 'UpstreamFailures',
  upstreamLatency: 'UpstreamLatency',
  leaseWaits: 'LeaseWaits',
  leaseWaitTime: 'LeaseWaitTime',
  leaseWaitTimeouts: 'LeaseWaitTimeouts',
  servedStale: 'ServedStaleOnUpstreamFailure',
  refreshTriggered: 'RefreshTriggered',
  refreshTriggerFailures: 'RefreshTriggerFailures',
  refreshFellBack: 'RefreshFellBackToGetAccessToken',
  storeRetries: 'StoreRetries',
  lineageSuperseded: 'LineageSuperseded',
  handedOutUnstored: 'TokensHandedOutUnstored',
  invalidations: 'InvalidationsReported',
  clientErrors: 'ClientErrors',
  serverErrors: 'ServerErrors',
  warmerRefreshed: 'WarmerRefreshed',
  warmerFailures: 'WarmerFailures',
} as const;

/** The service's two functions: the API's token function and the warmer (the refresher). */
export type EmittingFunction = 'token' | 'warmer';

/**
 * Which function emits each metric. Both functions run the same vendor, but only the token function
 * answers callers (hits, waits, client and server errors, invalidations, stale answers, refresh
 * hand-offs, new lineages, unstored tokens) and only the warmer counts its refreshes; upstream calls
 * and store retries come from both. test/infra/monitoring.test.ts checks this against what each
 * function emits in the observed run (test/support/observed-run.ts).
 */
export const METRIC_EMITTERS: { readonly [K in keyof typeof METRIC]: readonly EmittingFunction[] } = {
  cacheHitTable: ['token'],
  upstreamCalls: ['token', 'warmer'],
  upstreamFailures: ['token', 'warmer'],
  upstreamLatency: ['token', 'warmer'],
  leaseWaits: ['token'],
  leaseWaitTime: ['token'],
  leaseWaitTimeouts: ['token'],
  servedStale: ['token'],
  refreshTriggered: ['token'],
  refreshTriggerFailures: ['token'],
  refreshFellBack: ['token', 'warmer'],
  storeRetries: ['token', 'warmer'],
  lineageSuperseded: ['token'],
  handedOutUnstored: ['token'],
  invalidations: ['token'],
  clientErrors: ['token'],
  serverErrors: ['token'],
  warmerRefreshed: ['warmer'],
  warmerFailures: ['warmer'],
};
