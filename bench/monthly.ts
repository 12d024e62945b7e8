/**
 * What the service costs a month at 1, 100 and 10,000 tenants, when callers cache tokens as the
 * client library does (@ekuaibao-token-vending/client: a token is reused until `expireTime` minus
 * 60 s, then fetched again; a rejected token is reported once). A model, not a measurement: it
 * multiplies what the benchmark measured per request, per refresh and per scheduled run (cost.ts,
 * figures 1 and 2) by the traffic these assumptions give, and adds the fixed costs of the stack.
 * Every assumption is a field of `MONTHLY_ASSUMPTIONS` and is printed with the table.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { METRIC } from '../contract/metrics';
import { lambdaDollarsPerMs, PRICES, type RefreshPathCost } from './cost';
import { REPO_ROOT } from './support/bundles';
import { round } from './support/stats';

export const MONTHLY_ASSUMPTIONS = {
  tenants: [1, 100, 10_000],
  /** Caller processes per tenant, each with its own client-library cache. */
  callersPerTenant: 10,
  /**
   * Token lifetimes: 2 h (a token from getAccessToken, the documented default) and 1 day (a token
   * from the refresh endpoint with the default REFRESH_LIFETIME_DAYS=1, i.e. steady state).
   */
  lifetimesHours: [2, 24],
  /**
   * The warmer refreshes a token 16 to 21 minutes before it expires (refresh window 15 min + horizon
   * 6 min, runs every 5 min): a new token every lifetime − 18.5 min on average. A caller's cache
   * ends 6 minutes before its token expires (5-minute safety margin + the client's 60 s skew), so
   * it always gets the successor: one GET per caller process per token.
   */
  refreshLeadMinutes: 18.5,
  hoursPerMonth: 730,
  scheduledRunsPerMonth: 8_640,
  /** Rejected-token reports (POST …/invalidate), each followed by a new token through the lease. */
  reportsPerTenantPerDay: 1,
  /**
   * A request reads the tenant's secret when its container's copy is older than
   * SECRET_MAX_AGE_SECONDS: with a tenant's requests arriving at random (Poisson) and one warm
   * container serving them (this traffic needs one or two), that is exp(−max age × the tenant's
   * request rate) of its requests. More containers would read more often.
   */
  secretMaxAgeSeconds: 300,
  /** In-region latencies added to the locally measured handler time to estimate billed duration. */
  awsGetItemMs: 5,
  awsGetSecretValueMs: 15,
  awsScanPageMs: 30,
  /** A container is reclaimed after this long without a request; a request after a longer gap is a cold start. */
  containerIdleMinutes: 10,
  /** Log bytes per request: one API Gateway access-log line (24 JSON fields) + Lambda's platform start/report lines. */
  accessLogBytesPerRequest: 900,
  lambdaPlatformLogBytesPerInvocation: 700,
  logRetentionMonths: 3,
  /** X-Ray's default sampling rule: the first request each second, then 5 %. */
  xrayReservoirPerSecond: 1,
  xrayFixedRate: 0.05,
  /** CloudWatch alarms and dashboards are counted in lib/; the KMS key of the table always exists. */
  kmsKeys: 1,
  wafRules: 1,
} as const;

export interface MonthlyInputs {
  readonly refreshPath: RefreshPathCost;
  /** RefreshTriggered (+ failures) per request in the cost run (asynchronous warmer invocations). */
  readonly asyncRefreshesPerRequest: number;
  /** Estimated billed ms of a warm GET, and how it was obtained. */
  readonly warmBilledMs: number;
  readonly warmBilledBasis: string;
  /** Estimated billed ms of a cold GET (INIT + first request), and how it was obtained. */
  readonly coldBilledMs: number;
  readonly coldBilledBasis: string;
}

export interface MonthlyLine {
  readonly group: 'fixed' | 'requests' | 'refresh' | 'observability';
  readonly item: string;
  readonly dollars: number;
}

export interface MonthlyRow {
  readonly tenants: number;
  readonly lifetimeHours: number;
  readonly getsPerMonth: number;
  readonly reportsPerMonth: number;
  readonly refreshesPerMonth: number;
  readonly asyncRefreshesPerMonth: number;
  readonly coldStartFraction: number;
  readonly lines: MonthlyLine[];
  readonly totals: Record<MonthlyLine['group'], number> & { readonly total: number };
  /** AWS WAF with one rate rule, if enabled (wafRateLimit): not in the total. */
  readonly wafAddOn: number;
}

export interface MonthlyModel {
  readonly assumptions: typeof MONTHLY_ASSUMPTIONS;
  readonly inputs: MonthlyInputs;
  readonly counted: { readonly alarms: number; readonly dashboards: number; readonly metricNames: number };
  readonly rows: MonthlyRow[];
}

/** Alarms and dashboards as lib/token-monitoring.ts defines them (counted in the source, so the model follows it). */
export function countMonitoring(): { alarms: number; dashboards: number } {
  const source = readFileSync(path.join(REPO_ROOT, 'lib', 'token-monitoring.ts'), 'utf8');
  return {
    alarms: (source.match(/this\.addAlarm\(\s*'/g) ?? []).length,
    dashboards: (source.match(/new Dashboard\(/g) ?? []).length,
  };
}

export function monthlyModel(inputs: MonthlyInputs): MonthlyModel {
  const a = MONTHLY_ASSUMPTIONS;
  const p = PRICES;
  const { alarms, dashboards } = countMonitoring();
  const metricNames = Object.keys(METRIC).length;
  const minutesPerMonth = a.hoursPerMonth * 60;
  const rows: MonthlyRow[] = [];
  for (const lifetimeHours of a.lifetimesHours) {
    for (const tenants of a.tenants) {
      const refreshPeriodMin = lifetimeHours * 60 - a.refreshLeadMinutes;
      const refreshesPerMonth = (tenants * minutesPerMonth) / refreshPeriodMin;
      const getsPerMonth = refreshesPerMonth * a.callersPerTenant;
      const reportsPerMonth = tenants * a.reportsPerTenantPerDay * (a.hoursPerMonth / 24);
      const requests = getsPerMonth + reportsPerMonth;
      const perMinute = requests / minutesPerMonth;
      const coldStartFraction = Math.exp(-perMinute * a.containerIdleMinutes);
      const secretReadFraction = Math.exp(-(requests / tenants / (minutesPerMonth * 60)) * a.secretMaxAgeSeconds);
      const asyncRefreshesPerMonth = getsPerMonth * inputs.asyncRefreshesPerRequest;
      const r = inputs.refreshPath;
      const line = (group: MonthlyLine['group'], item: string, dollars: number): MonthlyLine => ({ group, item, dollars: round(dollars, 4) });
      const perMillion = (count: number, price: number) => (count / 1e6) * price;
      const tableGb = (tenants * r.itemBytes) / 1e9;
      // A report: the retire write and the replacement's lease + store (2 WRU) and reads, its own secret read.
      const reportUnits = { wru: 3, rru: 2 };
      const refreshesPerRun = refreshesPerMonth / a.scheduledRunsPerMonth;
      // The warmer refreshes up to 4 tenants at once: billed time per refresh shrinks when several are due.
      const billedMsPerScheduledRefresh = r.asyncRefresh.estimatedBilledMs / Math.min(4, Math.max(1, refreshesPerRun));
      const scanRruPerRun = Math.max(0.5, Math.ceil((tenants * r.itemBytes) / 4096) * 0.5);
      // A Scan reads 1 MB pages; the measured local run (a few items) plus an in-region page time each.
      const scanPages = Math.max(1, Math.ceil((tenants * r.itemBytes) / 1_048_576));
      const scanBilledMs = Math.ceil(r.scheduledScan.localMs + scanPages * a.awsScanPageMs);
      const lambdaMs = (count: number, ms: number) => count * ms * lambdaDollarsPerMs();
      const requestsPerSecond = requests / (minutesPerMonth * 60);
      const tracedPerSecond =
        Math.min(requestsPerSecond, a.xrayReservoirPerSecond) + a.xrayFixedRate * Math.max(0, requestsPerSecond - a.xrayReservoirPerSecond);
      const traces = tracedPerSecond * minutesPerMonth * 60 + a.scheduledRunsPerMonth + asyncRefreshesPerMonth;
      const logGb =
        (requests * (a.accessLogBytesPerRequest + a.lambdaPlatformLogBytesPerInvocation) +
          (a.scheduledRunsPerMonth + asyncRefreshesPerMonth) * a.lambdaPlatformLogBytesPerInvocation) /
        1e9;
      const lines: MonthlyLine[] = [
        line('fixed', `Secrets Manager: ${tenants.toLocaleString('en-US')} tenant secret${tenants === 1 ? '' : 's'} × $${p.secretsManagerPerSecretMonth}`, tenants * p.secretsManagerPerSecretMonth),
        line('fixed', `KMS: the table's customer managed key × $${p.kmsPerKeyMonth}`, a.kmsKeys * p.kmsPerKeyMonth),
        line('fixed', `CloudWatch: ${alarms} alarms × $${p.cloudWatchPerStandardAlarmMonth}`, alarms * p.cloudWatchPerStandardAlarmMonth),
        line('fixed', `CloudWatch: ${dashboards} dashboard × $${p.cloudWatchPerDashboardMonth}`, dashboards * p.cloudWatchPerDashboardMonth),
        line('fixed', `CloudWatch: up to ${metricNames} custom metrics (EMF, dimension service) × $${p.cloudWatchPerCustomMetricMonth}, upper bound`, metricNames * p.cloudWatchPerCustomMetricMonth),
        line('fixed', 'DynamoDB: storage and point-in-time recovery of the items', tableGb * (p.dynamoDbStoragePerGbMonth + p.dynamoDbPitrPerGbMonth)),
        line('requests', 'API Gateway REST requests', perMillion(requests, p.apiGatewayRestPerMillionRequests)),
        line('requests', 'Lambda requests (token function)', perMillion(requests, p.lambdaPerMillionRequests)),
        line(
          'requests',
          `Lambda duration (token function): ${inputs.warmBilledMs} ms warm, ${inputs.coldBilledMs} ms cold (${round(coldStartFraction * 100, 1)} % cold)`,
          lambdaMs(requests * (1 - coldStartFraction), inputs.warmBilledMs) + lambdaMs(requests * coldStartFraction, inputs.coldBilledMs),
        ),
        line('requests', 'DynamoDB reads: one strongly consistent GetItem per GET (1 RRU)', perMillion(getsPerMonth + reportsPerMonth * reportUnits.rru, p.dynamoDbPerMillionReadRequestUnits)),
        line('requests', 'DynamoDB writes of reports (retire, new token)', perMillion(reportsPerMonth * reportUnits.wru, p.dynamoDbPerMillionWriteRequestUnits)),
        line('requests', `Secrets Manager calls (${round(secretReadFraction * 100, 0)} % of requests find the container's copy older than ${a.secretMaxAgeSeconds} s)`, (requests * secretReadFraction * p.secretsManagerPer10kApiCalls) / 10_000),
        line('requests', 'KMS requests made by DynamoDB for the table key (about one per 5 minutes per role)', (2 * a.scheduledRunsPerMonth * p.kmsPer10kRequests) / 10_000),
        line(
          'refresh',
          `Warmer, scheduled runs: ${a.scheduledRunsPerMonth.toLocaleString('en-US')} requests, ${scanBilledMs} ms each, Scan ${scanRruPerRun} RRU each`,
          perMillion(a.scheduledRunsPerMonth, p.lambdaPerMillionRequests) +
            lambdaMs(a.scheduledRunsPerMonth, scanBilledMs) +
            perMillion(a.scheduledRunsPerMonth * scanRruPerRun, p.dynamoDbPerMillionReadRequestUnits),
        ),
        line(
          'refresh',
          `Warmer, refreshes in scheduled runs: ${Math.round(refreshesPerMonth).toLocaleString('en-US')} (${round(billedMsPerScheduledRefresh, 0)} billed ms, ${r.asyncRefresh.readRequestUnits} RRU + ${r.asyncRefresh.writeRequestUnits} WRU, 1 secret read each)`,
          lambdaMs(refreshesPerMonth, billedMsPerScheduledRefresh) +
            perMillion(refreshesPerMonth * r.asyncRefresh.readRequestUnits, p.dynamoDbPerMillionReadRequestUnits) +
            perMillion(refreshesPerMonth * r.asyncRefresh.writeRequestUnits, p.dynamoDbPerMillionWriteRequestUnits) +
            (refreshesPerMonth * p.secretsManagerPer10kApiCalls) / 10_000,
        ),
        line(
          'refresh',
          `Warmer, asynchronous refresh requests (RefreshTriggered): ${Math.round(asyncRefreshesPerMonth).toLocaleString('en-US')} × $${r.dollarsPerAsyncRefresh.toPrecision(2)}`,
          asyncRefreshesPerMonth * r.dollarsPerAsyncRefresh,
        ),
        line(
          'observability',
          `CloudWatch Logs: ${round(logGb, 3)} GB ingested (access log + Lambda platform lines), kept ${a.logRetentionMonths} months`,
          logGb * (p.cloudWatchLogsPerGbIngested + a.logRetentionMonths * p.cloudWatchLogsPerGbMonthStored),
        ),
        line('observability', `X-Ray: ${Math.round(traces).toLocaleString('en-US')} traces recorded (default sampling)`, perMillion(traces, p.xrayPerMillionTracesRecorded)),
      ];
      const totals = { fixed: 0, requests: 0, refresh: 0, observability: 0, total: 0 };
      for (const l of lines) {
        totals[l.group] += l.dollars;
        totals.total += l.dollars;
      }
      rows.push({
        tenants,
        lifetimeHours,
        getsPerMonth: Math.round(getsPerMonth),
        reportsPerMonth: Math.round(reportsPerMonth),
        refreshesPerMonth: Math.round(refreshesPerMonth),
        asyncRefreshesPerMonth: Math.round(asyncRefreshesPerMonth),
        coldStartFraction: round(coldStartFraction, 4),
        lines,
        totals: {
          fixed: round(totals.fixed, 2),
          requests: round(totals.requests, 2),
          refresh: round(totals.refresh, 2),
          observability: round(totals.observability, 2),
          total: round(totals.total, 2),
        },
        wafAddOn: round(p.wafPerWebAclMonth + a.wafRules * p.wafPerRuleMonth + perMillion(requests, p.wafPerMillionRequests), 2),
      });
    }
  }
  return { assumptions: a, inputs, counted: { alarms, dashboards, metricNames }, rows };
}
