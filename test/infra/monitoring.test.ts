import { Match } from 'aws-cdk-lib/assertions';
import { METRIC, METRIC_EMITTERS } from '../../contract/metrics';
import { observeRun, type EmittingFunction, type ObservedRun } from '../support/observed-run';
import { HARDENED_CONTEXT } from './support/contexts';
import { synthesize, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';

let standard: Synthesized;
let withEmail: Synthesized;
let observed: ObservedRun;

beforeAll(async () => {
  standard = synthesize();
  withEmail = synthesize(HARDENED_CONTEXT);
  // Both functions' code against DynamoDB Local, a Secrets Manager stand-in, a Lambda Invoke
  // stand-in and the upstream simulator, collecting every metric each one publishes.
  observed = await observeRun();
}, 120_000);

const SERVICE_DIMENSION = [{ Name: 'service', Value: 'ekuaibao-token-vending' }];

function alarm(synth: Synthesized, id: string) {
  return resourceAt(synth.json, `TokenVending/Monitoring/${id}/Resource`).resource.Properties as Record<string, unknown>;
}

test('alarms on token function errors and throttles, and on warmer errors', () => {
  const tokenFn = resourceAt(standard.json, 'TokenVending/TokenFunction/Function/Resource').logicalId;
  const warmer = resourceAt(standard.json, 'TokenVending/WarmerFunction/Function/Resource').logicalId;
  expect(alarm(standard, 'TokenFunctionErrorsAlarm')).toMatchObject({
    Namespace: 'AWS/Lambda',
    MetricName: 'Errors',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: tokenFn } }],
    Threshold: 1,
  });
  expect(alarm(standard, 'TokenFunctionThrottlesAlarm')).toMatchObject({
    MetricName: 'Throttles',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: tokenFn } }],
  });
  expect(alarm(standard, 'WarmerErrorsAlarm')).toMatchObject({
    MetricName: 'Errors',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: warmer } }],
    EvaluationPeriods: 2,
    DatapointsToAlarm: 2,
  });
});

test('alarms on API 5XX and on p99 latency above the upstream timeout', () => {
  expect(alarm(standard, 'Api5xxAlarm')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError', Statistic: 'Sum', Threshold: 5 });
  expect(alarm(standard, 'ApiLatencyAlarm')).toMatchObject({
    Namespace: 'AWS/ApiGateway',
    MetricName: 'Latency',
    ExtendedStatistic: 'p99',
    Threshold: 5000,
    EvaluationPeriods: 3,
  });
  const dimensions = (alarm(standard, 'Api5xxAlarm').Dimensions as Array<{ Name: string }>).map((d) => d.Name).sort();
  expect(dimensions).toEqual(['ApiName', 'Stage']);
});

test('alarms on upstream failures, lease-wait timeouts and failed refresh hand-offs from the service metrics', () => {
  for (const [id, metricName, threshold] of [
    ['UpstreamFailuresAlarm', 'UpstreamFailures', 3],
    ['LeaseWaitTimeoutsAlarm', 'LeaseWaitTimeouts', 1],
    ['RefreshTriggerFailuresAlarm', 'RefreshTriggerFailures', 5],
  ] as const) {
    expect(alarm(standard, id)).toMatchObject({
      Namespace: 'EkuaibaoTokenVending',
      MetricName: metricName,
      Dimensions: SERVICE_DIMENSION,
      Statistic: 'Sum',
      Period: 300,
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  }
});

test('every alarm ignores missing data, so quiet periods are OK', () => {
  const alarms = Object.values(standard.template.findResources('AWS::CloudWatch::Alarm'));
  expect(alarms).toHaveLength(8);
  for (const a of alarms) expect(a.Properties.TreatMissingData).toBe('notBreaching');
});

test('every alarm notifies an encrypted, TLS-only topic on ALARM and OK, which is an output, even without alarmEmail', () => {
  for (const synth of [standard, withEmail]) {
    const topic = resourceAt(synth.json, 'TokenVending/Monitoring/AlarmTopic/Resource');
    const key = resourceAt(synth.json, 'TokenVending/TelemetryKey/Key/Resource');
    expect(render(topic.resource.Properties!.KmsMasterKeyId)).toBe(`\${${key.logicalId}.Arn}`);
    expect(key.resource.Properties!.EnableKeyRotation).toBe(true);
    synth.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const alarms = Object.values(synth.template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(5);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topic.logicalId }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topic.logicalId }]);
    }
    expect(render(synth.json.Outputs!.AlarmTopicArn!.Value)).toBe(`\${${topic.logicalId}}`);
  }
  standard.template.resourceCountIs('AWS::SNS::Subscription', 0);
});

test('alarmEmail subscribes an address to the topic', () => {
  withEmail.template.resourceCountIs('AWS::SNS::Topic', 1);
  withEmail.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
});

/**
 * Service metrics the observed run cannot make the functions emit, each with the fault it would
 * take and the line that emits it. Empty: the run injects upstream faults (simulator), DynamoDB
 * faults (a proxy in front of DynamoDB Local) and a failed Lambda Invoke, which reach every one.
 * Add an entry only for a metric that truly needs a fault the run cannot stage.
 */
const EMITTED_ONLY_UNDER_FAULT: Readonly<Record<string, { readonly fault: string; readonly source: string }>> = {};

const FUNCTIONS: Record<EmittingFunction, string> = {
  token: 'TokenVending/TokenFunction/Function/Resource',
  warmer: 'TokenVending/WarmerFunction/Function/Resource',
};

/** Where a function's Powertools metrics go: its `POWERTOOLS_METRICS_NAMESPACE` and `POWERTOOLS_SERVICE_NAME`. */
function metricsTarget(synth: Synthesized, fn: EmittingFunction): { namespace: string; service: string } {
  const env = (resourceAt(synth.json, FUNCTIONS[fn]).resource.Properties!.Environment as { Variables: Record<string, string> }).Variables;
  return { namespace: env.POWERTOOLS_METRICS_NAMESPACE!, service: env.POWERTOOLS_SERVICE_NAME! };
}

interface MetricRef {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
}

/** Every metric graphed on the dashboard, from its body's `[namespace, name, dim, value, ..., {options}]` rows. */
function dashboardMetrics(synth: Synthesized): MetricRef[] {
  const dashboard = Object.values(synth.template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
  const body = JSON.parse(render(dashboard.Properties.DashboardBody)) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> };
  return body.widgets.flatMap((widget) =>
    (widget.properties.metrics ?? []).map((row) => {
      const parts = row.filter((part): part is string => typeof part === 'string');
      // CloudWatch's "." / "..." shorthand would hide names; the CDK writes rows in full.
      if (parts.some((part) => part === '.' || part === '...')) throw new Error(`dashboard row in shorthand: ${JSON.stringify(row)}`);
      const [namespace, name, ...pairs] = parts;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i]!] = pairs[i + 1]!;
      return { namespace: namespace!, name: name!, dimensions };
    }),
  );
}

/** Every metric an alarm watches (a single metric, or the metrics of a math expression). */
function alarmMetrics(synth: Synthesized): MetricRef[] {
  type Dimensions = Array<{ Name: string; Value: unknown }> | undefined;
  const toRef = (namespace: string, name: string, dimensions: Dimensions): MetricRef => ({
    namespace,
    name,
    dimensions: Object.fromEntries((dimensions ?? []).map((d) => [d.Name, render(d.Value)])),
  });
  return Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')).flatMap((alarm) => {
    const p = alarm.Properties as {
      Namespace?: string;
      MetricName?: string;
      Dimensions?: Dimensions;
      Metrics?: Array<{ MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dimensions } } }>;
    };
    if (p.MetricName !== undefined) return [toRef(p.Namespace!, p.MetricName, p.Dimensions)];
    return (p.Metrics ?? []).flatMap((m) => (m.MetricStat ? [toRef(m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Dimensions)] : []));
  });
}

const sortedUnique = (names: Iterable<string>) => [...new Set(names)].sort();

/** What the functions emit: the observed run's metrics, plus those only a fault it cannot stage would emit. */
function emittedNames(): string[] {
  return sortedUnique([...observed.metrics.token, ...observed.metrics.warmer, ...Object.keys(EMITTED_ONLY_UNDER_FAULT)]);
}

test('the functions publish their metrics in the namespace, and with the service dimension, the stack gives them', () => {
  for (const fn of ['token', 'warmer'] as const) expect(metricsTarget(standard, fn)).toEqual(metricsTarget(standard, 'token'));
  const { namespace, service } = metricsTarget(standard, 'token');
  expect(observed.emitted.length).toBeGreaterThan(0);
  const targets = sortedUnique(observed.emitted.map((e) => JSON.stringify({ namespace: e.namespace, dimensions: e.dimensions, values: e.dimensionValues })));
  expect(targets).toEqual([JSON.stringify({ namespace, dimensions: [['service']], values: { service } })]);
});

test('the dashboard graphs every service metric the functions emit, and no other', () => {
  const { namespace, service } = metricsTarget(standard, 'token');
  const onDashboard = dashboardMetrics(standard).filter((m) => m.namespace === namespace);
  for (const m of onDashboard) expect({ metric: m.name, dimensions: m.dimensions }).toEqual({ metric: m.name, dimensions: { service } });
  expect(sortedUnique(onDashboard.map((m) => m.name))).toEqual(emittedNames());
});

test('every alarm on a service metric watches one the functions emit, with the service dimension', () => {
  const { namespace, service } = metricsTarget(standard, 'token');
  const watched = alarmMetrics(standard).filter((m) => m.namespace === namespace);
  expect(watched.length).toBeGreaterThan(0);
  const emitted = emittedNames();
  for (const m of watched) {
    expect({ metric: m.name, emitted: emitted.includes(m.name), dimensions: m.dimensions }).toEqual({ metric: m.name, emitted: true, dimensions: { service } });
  }
});

test('each function emits exactly the metrics contract/metrics.ts says it does', () => {
  for (const fn of ['token', 'warmer'] as const) {
    const declared = (Object.keys(METRIC) as Array<keyof typeof METRIC>).filter((key) => METRIC_EMITTERS[key].includes(fn)).map((key) => METRIC[key]);
    const unobservable = Object.keys(EMITTED_ONLY_UNDER_FAULT);
    expect({ function: fn, emits: [...observed.metrics[fn]] }).toEqual({
      function: fn,
      emits: sortedUnique(declared.filter((name) => !unobservable.includes(name))),
    });
  }
});

test('the dashboard shows every alarm', () => {
  const dashboard = Object.values(standard.template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
  const body = render(dashboard.Properties.DashboardBody);
  for (const id of Object.keys(standard.template.findResources('AWS::CloudWatch::Alarm'))) expect(body).toContain(`\${${id}.Arn}`);
});
