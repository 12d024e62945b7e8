/**
 * What an infra team expects to pass in (AWS Solutions Constructs style): the functions' own
 * props, an existing VPC, KMS key and SNS topic. The construct keeps what its guarantees rest on.
 */
import { App, type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { ApplicationLogLevel } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { FunctionEnvironment } from '../../contract/settings';
import { FUNCTION_ENTRIES } from '../../lib/paths';
import { TokenVendingFunction, type TokenVendingFunctionOverrides } from '../../lib/token-functions';
import { EkuaibaoTokenVending, type EkuaibaoTokenVendingProps } from '../../lib/token-vending';
import { tempOutdir } from './support/synth';
import { render } from './support/template';

const stackLogicalId = (c: IConstruct) => Stack.of(c).getLogicalId(c as CfnElement);

function build(props: (stack: Stack) => EkuaibaoTokenVendingProps) {
  const stack = new Stack(new App({ outdir: tempOutdir(), context: { 'aws:cdk:bundling-stacks': [] } }), 'Consumer');
  const vending = new EkuaibaoTokenVending(stack, 'TokenVending', props(stack));
  return { stack, vending, template: Template.fromStack(stack) };
}

const functionsOf = (template: Template) =>
  Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) => /TokenFunction|WarmerFunction/.test(id));

test('function props override the defaults, each function its own', () => {
  const { template, vending } = build(() => ({
    tokenFunctionProps: { reservedConcurrentExecutions: 50, memorySize: 1024, description: 'token function, ours' },
    warmerFunctionProps: { reservedConcurrentExecutions: 2 },
  }));
  template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 50, MemorySize: 1024, Description: 'token function, ours' });
  template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 2, MemorySize: 512 });
  // What the guarantees rest on stays: the timeout derived from the request budget, the role, the environment.
  const token = template.findResources('AWS::Lambda::Function', { Properties: { ReservedConcurrentExecutions: 50 } });
  const [props] = Object.values(token).map((r) => r.Properties as Record<string, unknown>);
  expect(props!.Timeout).toBe(28);
  expect(render(props!.Role)).toBe(`\${${stackLogicalId(vending.tokenFunction.role.node.defaultChild!)}.Arn}`);
  expect((props!.Environment as { Variables: Record<string, unknown> }).Variables).toHaveProperty('LEASE_WAIT_MS', '8000');
});

test('a prop the construct keeps is refused when given anyway (JavaScript, a cast), not merged over its own', () => {
  // A bundling of one's own would replace the construct's whole: the asset would lose the Lambda
  // client's file (lib/token-functions.ts) and break on the first refresh request.
  const bundling = { bundling: { minify: false } } as unknown as TokenVendingFunctionOverrides;
  expect(() => build(() => ({ tokenFunctionProps: bundling }))).toThrow(/"tokenFunctionProps\.bundling"/);
  expect(() => build(() => ({ warmerFunctionProps: { environment: {} } as unknown as TokenVendingFunctionOverrides }))).toThrow(
    /"warmerFunctionProps\.environment"/,
  );
  // Used on its own, the function construct refuses them too.
  const stack = new Stack(new App({ outdir: tempOutdir(), context: { 'aws:cdk:bundling-stacks': [] } }), 'Direct');
  expect(
    () =>
      new TokenVendingFunction(stack, 'Fn', {
        entry: FUNCTION_ENTRIES.token,
        description: 'direct',
        environment: {} as FunctionEnvironment,
        timeout: Duration.seconds(10),
        memorySize: 512,
        logLevel: ApplicationLogLevel.INFO,
        logRetention: RetentionDays.ONE_YEAR,
        removalPolicy: RemovalPolicy.DESTROY,
        logsKey: new Key(stack, 'Key'),
        overrides: { bundling: {} } as unknown as TokenVendingFunctionOverrides,
      }),
  ).toThrow(/"overrides\.bundling"/);
});

test('an existing VPC with its subnets and security groups: both functions run in it and may attach to it', () => {
  const { template } = build((stack) => {
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    return {
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [new SecurityGroup(stack, 'Egress', { vpc, allowAllOutbound: true })],
    };
  });
  const functions = functionsOf(template);
  expect(functions).toHaveLength(2);
  for (const [, fn] of functions) {
    const config = fn.Properties.VpcConfig as { SubnetIds: unknown[]; SecurityGroupIds: unknown[] };
    expect(config.SubnetIds).toHaveLength(2);
    expect(config.SecurityGroupIds.map(render)).toEqual([expect.stringMatching(/^\$\{Egress\w+\.GroupId\}$/)]);
  }
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'AttachToTheVpc', Action: Match.arrayWith(['ec2:CreateNetworkInterface']) })]) },
  });
});

test('without a VPC, no function has network interface permissions', () => {
  const { template } = build(() => ({}));
  expect(JSON.stringify(template.toJSON())).not.toContain('ec2:CreateNetworkInterface');
  for (const [, fn] of functionsOf(template)) expect(fn.Properties.VpcConfig).toBeUndefined();
});

test('an existing KMS key encrypts the log groups and the alarm topic, and no key is created for them', () => {
  const { template, vending } = build((stack) => ({ encryptionKey: new Key(stack, 'OrgKey', { enableKeyRotation: true }) }));
  const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
  expect(groups.length).toBe(4);
  for (const g of groups) expect(render(g.Properties.KmsKeyId)).toMatch(/^\$\{OrgKey\w+\.Arn\}$/);
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrgKey'), 'Arn'] } });
  expect(Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => id.includes('TelemetryKey'))).toEqual([]);
  expect(vending.telemetryKey.node.path).toBe('Consumer/OrgKey');
});

test('an existing SNS topic receives every alarm and OK notification, and no topic is created', () => {
  const { template, stack } = build((s) => ({ alarmTopic: new Topic(s, 'OnCall') }));
  template.resourceCountIs('AWS::SNS::Topic', 1);
  const topic = stack.resolve((stack.node.findChild('OnCall') as Topic).topicArn) as unknown;
  for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
    expect(alarm.Properties.AlarmActions).toEqual([topic]);
    expect(alarm.Properties.OKActions).toEqual([topic]);
  }
});

test('without a topic given, the construct creates one, encrypted, and alarms notify it', () => {
  const { template } = build(() => ({}));
  template.resourceCountIs('AWS::SNS::Topic', 1);
  const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
  const topic = template.findResources('AWS::SNS::Topic')[topicId!]!;
  expect(render(topic.Properties.KmsMasterKeyId)).toMatch(/TelemetryKey/);
  for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  }
});
