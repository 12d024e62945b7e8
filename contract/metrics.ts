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
