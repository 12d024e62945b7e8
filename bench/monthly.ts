/**
 * What the service costs a month at 1, 100 and 10,000 tenants, when callers cache tokens as the
 * client library does (@ekuaibao-token-vending/client: a token is reused until `expireTime` minus
 * 60 s, then fetched again; a rejected token is reported once). A model, not a measurement: it
 * multiplies what the benchmark measured per request, per refresh and per scheduled run (cost.ts,
 * figures 1 and 2) by the traffic these assumptions give, and adds the fixed costs of the stack.
 * Every assumption is a field of `MONTHLY_ASSUMPTIONS` and is printed with the table.
 *
 * The stack as deployed: tenant sessions on (`TENANT_ROLE_ARN`: each tenant's secret and item read
 * with a session of the tenant access role; STS calls are free, the wait for them is billed
 * Lambda time), the AWS WAF web ACL with its per-tenant rate rule always in front of the API, two
 * customer managed keys (the table's; the telemetry key of the log groups and the alarm topic),
 * log groups kept 365 days, an alarm topic. What the model leaves out is listed in `notes`.
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
   * SECRET_MAX_AGE_SECONDS. With a tenant's requests arriving at random (Poisson, rate λ) and one
   * warm container serving them (this traffic needs one or two), a read is followed by max age
   * seconds of hits and then a wait for the next request: 1 / (1 + λ × max age) of its requests
   * read. More containers would read more often.
   */
  secretMaxAgeSeconds: 300,
  /**
   * Tenant sessions (contract/tenant-session.ts): a container uses a tenant's session until 2 minutes
   * before its 15 minutes end, then assumes the role again on the tenant's next request:
   * 1 / (1 + λ × 780 s) of a tenant's requests wait for an AssumeRole (the same reasoning as the
   * secret), and so does every refresh the warmer makes (a tenant's refreshes are an hour or more
   * apart). STS does not charge for AssumeRole; the wait is billed Lambda time.
   */
  tenantSessionUsableSeconds: 780,
  /**
   * DynamoDB caches the table key per principal and asks KMS again after about 5 minutes; each
   * tenant's session is a principal of its own (arn:…:assumed-role/<role>/tenant-<id>, the same
   * name in both functions), so each tenant's reads and writes cost a KMS request per 5 minutes of
   * use: 1 / (1 + λ × 300 s) of them, refreshes included, an estimate. The warmer's own role (its
   * Scan every 5 minutes) adds one per run. Set false to price the table key as one principal per role.
   */
  tableKeyRequestsPerTenantSession: true,
  tableKeyCacheSeconds: 300,
  /** In-region latencies added to the locally measured handler time to estimate billed duration. */
  awsGetItemMs: 5,
  awsGetSecretValueMs: 15,
  awsAssumeRoleMs: 20,
  awsScanPageMs: 30,
  /** A container is reclaimed after this long without a request; a request after a longer gap is a cold start. */
  containerIdleMinutes: 10,
  /** Log bytes per request: one API Gateway access-log line (24 JSON fields) + Lambda's platform start/report lines. */
  accessLogBytesPerRequest: 900,
  lambdaPlatformLogBytesPerInvocation: 700,
  /** Log groups keep 365 days: once the stack is a year old, twelve months of logs are stored. */
  logRetentionMonths: 12,
  /** X-Ray's default sampling rule: the first request each second, then 5 %. */
  xrayReservoirPerSecond: 1,
  xrayFixedRate: 0.05,
  /** CloudWatch alarms and dashboards are counted in lib/. Customer managed keys: the table's and the telemetry key (log groups, alarm topic). */
  kmsKeys: 2,
  /** AWS WAF: the web ACL's per-tenant rate rule always exists; the per-IP rule (`wafRateLimit`) is optional. */
  wafRules: 1,
  wafOptionalRules: 1,
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

/** Not priced, and why: printed under the table. */
export const MONTHLY_NOTES = [
  'STS: AssumeRole is free of charge (AWS does not charge for STS API calls); only the Lambda time spent waiting for it is counted',
  'SNS alarm topic: no charge for the topic; alarm notifications (a few per incident) and the telemetry key requests for them are negligible',
  'KMS requests for the telemetry key made by CloudWatch Logs for the encrypted log groups: not priced (small against the key\'s $1)',
  'VPC (optional `vpc`): NAT gateway hours and data processing, or interface endpoints, are costs of the customer\'s VPC, not of this stack: not counted',
] as const;

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
  /** The optional per-IP WAF rule (`wafRateLimit`): not in the total. (The web ACL and its per-tenant rule are.) */
  readonly perIpRuleAddOn: number;
  /** Requests that waited for an AssumeRole (token function and warmer). */
  readonly assumeRolesPerMonth: number;
}

export interface MonthlyModel {
  readonly assumptions: typeof MONTHLY_ASSUMPTIONS;
  readonly inputs: MonthlyInputs;
  readonly counted: { readonly alarms: number; readonly dashboards: number; readonly metricNames: number };
  readonly rows: MonthlyRow[];
  readonly notes: readonly string[];
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
      // One tenant's request rate, per second; caches of age T then miss 1 / (1 + λT) of its requests.
      const tenantRate = requests / tenants / (minutesPerMonth * 60);
      const missFraction = (seconds: number) => 1 / (1 + tenantRate * seconds);
      const secretReadFraction = missFraction(a.secretMaxAgeSeconds);
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
      // Tenant sessions: requests that find no usable session, and every warmer refresh.
      const assumeRoles = requests * missFraction(a.tenantSessionUsableSeconds) + refreshesPerMonth + asyncRefreshesPerMonth;
      // DynamoDB's table-key requests to KMS: the warmer's own role (its Scans), and per tenant session.
      const tableKeyRequests = a.tableKeyRequestsPerTenantSession
        ? a.scheduledRunsPerMonth + (requests + refreshesPerMonth + asyncRefreshesPerMonth) * missFraction(a.tableKeyCacheSeconds)
        : 2 * a.scheduledRunsPerMonth;
      const logGb =
        (requests * (a.accessLogBytesPerRequest + a.lambdaPlatformLogBytesPerInvocation) +
          (a.scheduledRunsPerMonth + asyncRefreshesPerMonth) * a.lambdaPlatformLogBytesPerInvocation) /
        1e9;
      const lines: MonthlyLine[] = [
        line('fixed', `Secrets Manager: ${tenants.toLocaleString('en-US')} tenant secret${tenants === 1 ? '' : 's'} × $${p.secretsManagerPerSecretMonth}`, tenants * p.secretsManagerPerSecretMonth),
        line('fixed', `KMS: ${a.kmsKeys} customer managed keys (the table's; the telemetry key of the log groups and alarm topic) × $${p.kmsPerKeyMonth}`, a.kmsKeys * p.kmsPerKeyMonth),
        line('fixed', `AWS WAF: the web ACL ($${p.wafPerWebAclMonth}) and its per-tenant rate rule (${a.wafRules} × $${p.wafPerRuleMonth})`, p.wafPerWebAclMonth + a.wafRules * p.wafPerRuleMonth),
        line('fixed', `CloudWatch: ${alarms} alarms × $${p.cloudWatchPerStandardAlarmMonth}`, alarms * p.cloudWatchPerStandardAlarmMonth),
        line('fixed', `CloudWatch: ${dashboards} dashboard × $${p.cloudWatchPerDashboardMonth}`, dashboards * p.cloudWatchPerDashboardMonth),
        line('fixed', `CloudWatch: up to ${metricNames} custom metrics (EMF, dimension service) × $${p.cloudWatchPerCustomMetricMonth}, upper bound`, metricNames * p.cloudWatchPerCustomMetricMonth),
        line('fixed', 'DynamoDB: storage and point-in-time recovery of the items', tableGb * (p.dynamoDbStoragePerGbMonth + p.dynamoDbPitrPerGbMonth)),
        line('requests', 'API Gateway REST requests', perMillion(requests, p.apiGatewayRestPerMillionRequests)),
        line('requests', `AWS WAF requests ($${p.wafPerMillionRequests} per million)`, perMillion(requests, p.wafPerMillionRequests)),
        line('requests', 'Lambda requests (token function)', perMillion(requests, p.lambdaPerMillionRequests)),
        line(
          'requests',
          `Lambda duration (token function): ${inputs.warmBilledMs} ms warm, ${inputs.coldBilledMs} ms cold (${round(coldStartFraction * 100, 1)} % cold)`,
          lambdaMs(requests * (1 - coldStartFraction), inputs.warmBilledMs) + lambdaMs(requests * coldStartFraction, inputs.coldBilledMs),
        ),
        line('requests', 'DynamoDB reads: one strongly consistent GetItem per GET (1 RRU)', perMillion(getsPerMonth + reportsPerMonth * reportUnits.rru, p.dynamoDbPerMillionReadRequestUnits)),
        line('requests', 'DynamoDB writes of reports (retire, new token)', perMillion(reportsPerMonth * reportUnits.wru, p.dynamoDbPerMillionWriteRequestUnits)),
        line('requests', `Secrets Manager calls (${round(secretReadFraction * 100, 0)} % of requests find the container's copy older than ${a.secretMaxAgeSeconds} s)`, (requests * secretReadFraction * p.secretsManagerPer10kApiCalls) / 10_000),
        line(
          'requests',
          `Tenant sessions: ${Math.round(assumeRoles).toLocaleString('en-US')} AssumeRole calls (${round(missFraction(a.tenantSessionUsableSeconds) * 100, 0)} % of requests, plus each warmer refresh): STS free, ${a.awsAssumeRoleMs} ms of Lambda time each`,
          lambdaMs(assumeRoles, a.awsAssumeRoleMs),
        ),
        line(
          'requests',
          a.tableKeyRequestsPerTenantSession
            ? `KMS requests made by DynamoDB for the table key: ${Math.round(tableKeyRequests).toLocaleString('en-US')} (per tenant session about one per ${a.tableKeyCacheSeconds / 60} minutes of use, estimate; the warmer's Scans)`
            : 'KMS requests made by DynamoDB for the table key (about one per 5 minutes per role)',
          (tableKeyRequests * p.kmsPer10kRequests) / 10_000,
        ),
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
          `CloudWatch Logs: ${round(logGb, 3)} GB ingested a month (access log + Lambda platform lines), kept 365 days: ${round(logGb * a.logRetentionMonths, 3)} GB stored once the stack is a year old`,
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
        perIpRuleAddOn: round(a.wafOptionalRules * p.wafPerRuleMonth, 2),
        assumeRolesPerMonth: Math.round(assumeRoles),
      });
    }
  }
  return { assumptions: a, inputs, counted: { alarms, dashboards, metricNames }, rows, notes: MONTHLY_NOTES };
}
