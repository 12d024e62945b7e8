import { Match } from 'aws-cdk-lib/assertions';
import { METRIC } from '../../contract/metrics';
import { HARDENED_CONTEXT } from './support/contexts';
import { synthesize, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';

let standard: Synthesized;
let withEmail: Synthesized;

beforeAll(() => {
  standard = synthesize();
  withEmail = synthesize(HARDENED_CONTEXT);
});

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

test('without alarmEmail there is no topic and alarms notify nobody', () => {
  standard.template.resourceCountIs('AWS::SNS::Topic', 0);
  for (const a of Object.values(standard.template.findResources('AWS::CloudWatch::Alarm'))) expect(a.Properties.AlarmActions).toBeUndefined();
});

test('alarmEmail creates an encrypted, TLS-only topic that every alarm notifies, with its e-mail subscription', () => {
  const topic = resourceAt(withEmail.json, 'TokenVending/Monitoring/AlarmTopic/Resource');
  const key = resourceAt(withEmail.json, 'TokenVending/Monitoring/AlarmTopicKey/Resource');
  expect(render(topic.resource.Properties!.KmsMasterKeyId)).toBe(`\${${key.logicalId}.Arn}`);
  expect(key.resource.Properties!.EnableKeyRotation).toBe(true);
  withEmail.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  withEmail.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    },
  });
  for (const a of Object.values(withEmail.template.findResources('AWS::CloudWatch::Alarm'))) {
    expect(a.Properties.AlarmActions).toEqual([{ Ref: topic.logicalId }]);
    expect(a.Properties.OKActions).toEqual([{ Ref: topic.logicalId }]);
  }
  expect(render(withEmail.json.Outputs!.AlarmTopicArn!.Value)).toBe(`\${${topic.logicalId}}`);
});

test('the dashboard shows every metric the functions emit, and every alarm', () => {
  const dashboard = Object.values(standard.template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
  const body = render(dashboard.Properties.DashboardBody);
  const missing = Object.values(METRIC).filter((metric) => !body.includes(`"${metric}"`));
  expect(missing).toEqual([]);
  // The per-container memory cache is gone, and so is its metric.
  expect(body).not.toContain('CacheHitMemory');
  expect(body).toContain('"EkuaibaoTokenVending"');
  for (const id of Object.keys(standard.template.findResources('AWS::CloudWatch::Alarm'))) expect(body).toContain(`\${${id}.Arn}`);
});
