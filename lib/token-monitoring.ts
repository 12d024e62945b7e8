import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
// The names the functions emit, from the one module that spells them (no imports of its own).
import { METRIC } from '../contract/metrics';

/** A custom metric the functions emit through Powertools Metrics. */
export type ServiceMetricName = (typeof METRIC)[keyof typeof METRIC];

const PERIOD = Duration.minutes(5);

/** Thresholds, in one place; README's alarm table is written from this. */
export const ALARM_THRESHOLDS = {
  /** Any unhandled error of the token function (the handler maps expected failures to responses). */
  tokenFunctionErrors: 1,
  /** Any throttle: callers got 429/502 from Lambda concurrency limits. */
  tokenFunctionThrottles: 1,
  /** Warmer errors (scheduled runs or refresh requests) in two consecutive 5-minute periods. */
  warmerErrors: 1,
  /** API 5XX responses per 5 minutes. */
  api5xx: 5,
  /** Upstream getAccessToken failures per 5 minutes. */
  upstreamFailures: 3,
  /** Callers that gave up waiting for another caller's upstream call, per 5 minutes. */
  leaseWaitTimeouts: 1,
  /** Refreshes the token function could not hand to the warmer, per 5 minutes. */
  refreshTriggerFailures: 5,
} as const;

export interface TokenMonitoringProps {
  readonly tokenFunction: IFunction;
  readonly warmerFunction: IFunction;
  readonly stage: Stage;
  readonly metricsNamespace: string;
  readonly serviceName: string;
  /** p99 API latency above this, for three periods in a row, alarms. */
  readonly apiLatencyThreshold: Duration;
  readonly alarmEmail?: string;
  /** Where alarms go; without one, a topic is created, encrypted with `topicKey`. */
  readonly alarmTopic?: ITopic;
  /** Encrypts the topic created when no `alarmTopic` is given. */
  readonly topicKey: IKey;
}

/**
 * Alarms for what operators act on, one dashboard for everything else. Service metric names come
 * from `contract/metrics.ts`, which the functions emit from too.
 *
 * @example
 * const monitoring = new TokenMonitoring(this, 'Monitoring', {
 *   tokenFunction, warmerFunction, stage: api.deploymentStage, metricsNamespace: 'EkuaibaoTokenVending',
 *   serviceName: 'ekuaibao-token-vending', apiLatencyThreshold: Duration.seconds(5), alarmEmail: 'oncall@example.com',
 * });
 */
export class TokenMonitoring extends Construct {
  public readonly alarms: Alarm[] = [];
  public readonly dashboard: Dashboard;
  /** Every alarm and OK notification goes here (Control Tower CT.CLOUDWATCH.PR.1: alarms act). */
  public readonly alarmTopic: ITopic;
  /** The e-mail subscription created for `alarmEmail`. */
  public alarmEmailSubscription?: Subscription;

  private readonly props: TokenMonitoringProps;

  constructor(scope: Construct, id: string, props: TokenMonitoringProps) {
    super(scope, id);
    this.props = props;
    this.alarmTopic = props.alarmTopic ?? this.createTopic(props.topicKey);
    if (props.alarmEmail) {
      // Its own construct id (not derived from the address), so changing the address keeps the id.
      this.alarmEmailSubscription = new Subscription(this, 'AlarmEmail', {
        topic: this.alarmTopic,
        protocol: SubscriptionProtocol.EMAIL,
        endpoint: props.alarmEmail,
      });
    }

    const { tokenFunction, warmerFunction, stage } = props;
    const sum = { period: PERIOD, statistic: 'Sum' };

    this.addAlarm('TokenFunctionErrorsAlarm', tokenFunction.metricErrors(sum), ALARM_THRESHOLDS.tokenFunctionErrors, 1,
      'Token function failed without an answer (crash or timeout). Check its log group and X-Ray traces.');
    this.addAlarm('TokenFunctionThrottlesAlarm', tokenFunction.metricThrottles(sum), ALARM_THRESHOLDS.tokenFunctionThrottles, 1,
      'Token function invocations were throttled. Check account concurrency and the API stage throttling.');
    this.addAlarm('WarmerErrorsAlarm', warmerFunction.metricErrors(sum), ALARM_THRESHOLDS.warmerErrors, 2,
      'The token warmer (scheduled runs and refresh requests) failed in two 5-minute periods in a row; valid tokens are still served ' +
      'and expired ones fetched on demand. Check the warmer log group.');
    this.addAlarm('Api5xxAlarm', stage.metricServerError(sum), ALARM_THRESHOLDS.api5xx, 1,
      'The token API answered 5XX. Look at UpstreamFailures and the access log (errorType, integrationError).');
    this.addAlarm('ApiLatencyAlarm', stage.metricLatency({ period: PERIOD, statistic: 'p99' }),
      props.apiLatencyThreshold.toMilliseconds(), 3,
      'p99 API latency stayed above the upstream timeout for 15 minutes: callers wait on leases or on a slow upstream.');
    this.addAlarm('UpstreamFailuresAlarm', this.serviceMetric(METRIC.upstreamFailures, 'Sum'), ALARM_THRESHOLDS.upstreamFailures, 1,
      'Ekuaibao getAccessToken kept failing. Check the upstream status, tenant credentials and base URLs.');
    this.addAlarm('LeaseWaitTimeoutsAlarm', this.serviceMetric(METRIC.leaseWaitTimeouts, 'Sum'), ALARM_THRESHOLDS.leaseWaitTimeouts, 1,
      'Callers timed out waiting for another caller to fetch a token: the upstream is slower than LEASE_WAIT_MS.');
    this.addAlarm('RefreshTriggerFailuresAlarm', this.serviceMetric(METRIC.refreshTriggerFailures, 'Sum'), ALARM_THRESHOLDS.refreshTriggerFailures, 1,
      'The token function could not invoke the warmer to refresh tokens in their refresh window. Tokens are still served, but ' +
      'refreshes now wait for the schedule or for a caller whose token has run out. Check the token function log group for the invoke error ' +
      '(permission, throttling, the warmer function missing).');

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-${Aws.REGION}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Ekuaibao token vending\nService \`${props.serviceName}\`, metrics namespace \`${props.metricsNamespace}\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }));
    this.dashboard.addWidgets(
      graph('API requests and errors', [stage.metricCount(sum), stage.metricClientError(sum), stage.metricServerError(sum)]),
      graph('API latency (ms)', [
        stage.metricLatency({ period: PERIOD, statistic: 'p50' }),
        stage.metricLatency({ period: PERIOD, statistic: 'p99' }),
        stage.metricIntegrationLatency({ period: PERIOD, statistic: 'p99' }),
      ]),
      graph('Function answers', [
        this.serviceMetric(METRIC.cacheHitTable, 'Sum'),
        this.serviceMetric(METRIC.clientErrors, 'Sum'),
        this.serviceMetric(METRIC.serverErrors, 'Sum'),
        this.serviceMetric(METRIC.invalidations, 'Sum'),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Upstream calls', [
        this.serviceMetric(METRIC.upstreamCalls, 'Sum'),
        this.serviceMetric(METRIC.upstreamFailures, 'Sum'),
        this.serviceMetric(METRIC.servedStale, 'Sum'),
        this.serviceMetric(METRIC.refreshFellBack, 'Sum'),
      ]),
      graph('Upstream latency (ms)', [
        this.serviceMetric(METRIC.upstreamLatency, 'p50'),
        this.serviceMetric(METRIC.upstreamLatency, 'p99'),
      ]),
      graph(
        'Lease waits',
        [this.serviceMetric(METRIC.leaseWaits, 'Sum'), this.serviceMetric(METRIC.leaseWaitTimeouts, 'Sum')],
        [this.serviceMetric(METRIC.leaseWaitTime, 'p99')],
      ),
    );
    // Refreshes handed to the warmer, and what became of them.
    this.dashboard.addWidgets(
      graph('Refreshes handed to the warmer', [
        this.serviceMetric(METRIC.refreshTriggered, 'Sum'),
        this.serviceMetric(METRIC.refreshTriggerFailures, 'Sum'),
      ]),
      graph('Warmer refreshes', [
        this.serviceMetric(METRIC.warmerRefreshed, 'Sum'),
        this.serviceMetric(METRIC.warmerFailures, 'Sum'),
      ]),
      graph('Token lineage and store', [
        this.serviceMetric(METRIC.lineageSuperseded, 'Sum'),
        this.serviceMetric(METRIC.storeRetries, 'Sum'),
        this.serviceMetric(METRIC.handedOutUnstored, 'Sum'),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Token function', [
        tokenFunction.metricInvocations(sum),
        tokenFunction.metricErrors(sum),
        tokenFunction.metricThrottles(sum),
      ]),
      graph('Token function duration (ms)', [
        tokenFunction.metricDuration({ period: PERIOD, statistic: 'p50' }),
        tokenFunction.metricDuration({ period: PERIOD, statistic: 'p99' }),
      ]),
      graph(
        'Warmer',
        [warmerFunction.metricInvocations(sum), warmerFunction.metricErrors(sum)],
        [warmerFunction.metricDuration({ period: PERIOD, statistic: 'Maximum' })],
      ),
    );
  }

  /** One of the service's Powertools metrics (dimension `service`). */
  public serviceMetric(name: ServiceMetricName, statistic: string): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: this.props.serviceName },
      statistic,
      period: PERIOD,
    });
  }

  private addAlarm(id: string, metric: IMetric, threshold: number, evaluationPeriods: number, description: string): void {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods,
      datapointsToAlarm: evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
  }

  private createTopic(key: IKey): Topic {
    // CloudWatch can only publish to an encrypted topic whose key lets it; the AWS managed
    // aws/sns key does not, hence the service's own key (lib/telemetry-key.ts).
    return new Topic(this, 'AlarmTopic', {
      displayName: 'Ekuaibao token vending alarms',
      masterKey: key,
      enforceSSL: true,
    });
  }
}

function graph(title: string, left: IMetric[], right: IMetric[] = []): GraphWidget {
  return new GraphWidget({ title, left, right, width: 8, height: 6 });
}
