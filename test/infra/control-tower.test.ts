/**
 * AWS Control Tower's proactive controls (the cfn-guard rules organisations enforce as
 * CloudFormation hooks) run on every `cdk synth`, through @cdklabs/cdk-validator-cfnguard. The
 * stack passes all of them; the only exceptions are acknowledged in lib/compliance.ts, and only
 * where the rule cannot be met: no VPC given, or an environment-agnostic synth.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { addCompliancePacks } from '../../lib/compliance';
import { EkuaibaoTokenVending } from '../../lib/token-vending';
import { HARDENED_CONTEXT, THROWAWAY_CONTEXT, VPC_CONTEXT } from './support/contexts';
import { cdkJsonContext, synthesize, type Synthesized, tempOutdir } from './support/synth';

interface GuardReport {
  readonly conclusion: string;
  readonly violations: Array<{ ruleName: string }>;
  readonly suppressedViolations?: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }>;
}

/** The guard plugin's part of the validation report the synth wrote. */
function guardReport(synth: Synthesized): GuardReport {
  const report = JSON.parse(readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<GuardReport & { pluginName: string }>;
  };
  // CDK leaves a plugin out of the report when it found nothing at all, suppressed or not; the
  // planted test below shows the rules do run.
  return report.pluginReports.find((r) => r.pluginName === 'cdk-validator-cfnguard') ?? { conclusion: 'success', violations: [] };
}

const suppressed = (report: GuardReport) => [...new Set((report.suppressedViolations ?? []).map((v) => v.ruleName))].sort();

/** Synthesizes as `cdk deploy` does: with the target account and region known. */
function withAccount<T>(build: () => T): T {
  const saved = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  process.env.CDK_DEFAULT_ACCOUNT = '111122223333';
  process.env.CDK_DEFAULT_REGION = 'eu-west-1';
  try {
    return build();
  } finally {
    for (const [key, value] of [['CDK_DEFAULT_ACCOUNT', saved.account], ['CDK_DEFAULT_REGION', saved.region]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

test('the default stack passes every control except "Lambda inside a VPC", and the permissions rule only because the account is unknown offline', () => {
  const report = guardReport(synthesize({}, { controlTower: true }));
  expect(report.conclusion).toBe('success');
  expect(report.violations).toEqual([]);
  expect(suppressed(report)).toEqual(['lambda_function_public_access_prohibited_check', 'lambda_inside_vpc_check']);
});

test('deployed (account known), the default stack needs no exception but the VPC one', () => {
  const synth = withAccount(() => synthesize({}, { controlTower: true }));
  expect(suppressed(guardReport(synth))).toEqual(['lambda_inside_vpc_check']);
  // SourceAccount is the literal the rule reads; SourceArn still names this API.
  synth.template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'apigateway.amazonaws.com', SourceAccount: '111122223333' });
});

test('with the VPC context keys, deployed, the stack passes every control with no exception at all', () => {
  const synth = withAccount(() => synthesize(VPC_CONTEXT, { controlTower: true }));
  const report = guardReport(synth);
  expect(report.violations).toEqual([]);
  expect(suppressed(report)).toEqual([]);
  synth.template.hasResourceProperties('AWS::Lambda::Function', {
    VpcConfig: { SubnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'], SecurityGroupIds: ['sg-0a1b2c3d4e5f60718'] },
  });
});

test.each([
  ['hardened', HARDENED_CONTEXT],
  ['throwaway', THROWAWAY_CONTEXT],
])('the %s configuration passes too', (_, context) => {
  const report = guardReport(synthesize(context, { controlTower: true }));
  expect(report.violations).toEqual([]);
});

test('a resource that breaks a control fails the synth, naming the control, even where other findings are acknowledged', () => {
  // Planted: a log group without a KMS key, beside the construct (whose acknowledgements once made
  // CDK count the guard's findings as warnings: lib/compliance.ts, ControlTowerChecks).
  const app = new App({ outdir: tempOutdir(), context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Planted');
  new EkuaibaoTokenVending(stack, 'TokenVending');
  new LogGroup(stack, 'Unencrypted');
  addCompliancePacks(app);
  expect(() => app.synth()).toThrow(/CT\.CLOUDWATCH\.PR\.3/);
});
