/**
 * cdk-nag's AwsSolutions and Serverless packs run on every synth (registered by the app) and
 * fail it on any finding, error or warning, that is not acknowledged with a reason.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import { tokenVendingAcknowledgements } from '../../lib/compliance';
import { createTokenVendingApp } from '../../lib/token-vending-app';
import type { TokenVendingStack } from '../../lib/token-vending-stack';
import { HARDENED_CONTEXT, THROWAWAY_CONTEXT } from './support/contexts';
import { cdkJsonContext, tempOutdir } from './support/synth';

const CONFIGURATIONS: Array<[string, Record<string, string>]> = [
  ['default', {}],
  ['hardened (VPC, private, account allow-list, per-IP WAF rule, alarm e-mail, secret keys)', HARDENED_CONTEXT],
  ['throwaway', THROWAWAY_CONTEXT],
  ['without the API Gateway account role', { manageApiGatewayAccountRole: 'false' }],
];

interface Finding {
  readonly rule: string;
  readonly constructPath: string;
}

function build(context: Record<string, string>): { app: App; stack: TokenVendingStack } {
  // Control Tower's rules have their own test (control-tower.test.ts); these are cdk-nag's.
  return createTokenVendingApp(
    { outdir: tempOutdir(), context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } },
    { controlTower: false },
  );
}

/** Findings a pack reports on the tree, optionally as if nothing were acknowledged. */
function findings(pack: NagPack, app: App, ignoreAcknowledgements = false): Finding[] {
  if (ignoreAcknowledgements) Object.assign(pack, { isAcknowledged: () => false });
  return pack.validateScope(app).violations.flatMap((v) =>
    v.violatingResources.map((r) => ({ rule: v.ruleName, constructPath: r.constructPath ?? '' })),
  );
}

function bothPacks(app: App, ignoreAcknowledgements = false): Finding[] {
  return [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) => findings(pack, app, ignoreAcknowledgements));
}

/** The acknowledgements of cdk-nag findings (the Control Tower ones are checked in control-tower.test.ts). */
function nagAcknowledgements(stack: TokenVendingStack) {
  return tokenVendingAcknowledgements(stack.tokenVending).filter((a) => !a.id.startsWith('cdk-validator-cfnguard::'));
}

describe.each(CONFIGURATIONS)('%s', (_, context) => {
  let app: App;
  let stack: TokenVendingStack;
  let reportPath: string;

  beforeAll(() => {
    ({ app, stack } = build(context));
    // Throws, with the report, on any finding the packs registered by the app still report.
    const assembly = app.synth();
    reportPath = path.join(assembly.directory, 'validation-report.json');
  });

  test('synthesizes with an empty validation report', () => {
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { pluginReports: Array<{ violations?: unknown[] }> };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
  });

  test('both packs, run directly, report nothing unacknowledged', () => {
    expect(bothPacks(app)).toEqual([]);
  });

  test('every acknowledgement matches a real finding, and every finding has one', () => {
    const acknowledgements = nagAcknowledgements(stack);
    const raw = bothPacks(app, true);
    const covers = (ack: (typeof acknowledgements)[number], f: Finding) =>
      f.rule === ack.id && (f.constructPath === ack.scope.node.path || f.constructPath.startsWith(`${ack.scope.node.path}/`));
    expect(raw.filter((f) => !acknowledgements.some((a) => covers(a, f)))).toEqual([]);
    expect(acknowledgements.filter((a) => !raw.some((f) => covers(a, f))).map((a) => `${a.scope.node.path} ${a.id}`)).toEqual([]);
  });

  test('every acknowledgement names one specific finding and gives a specific reason', () => {
    for (const { id, reason } of nagAcknowledgements(stack)) {
      expect(id).toMatch(/^(AwsSolutions|Serverless)-[A-Za-z0-9]+(\[.+\])?$/);
      if (/IAM[45]$/.test(id.replace(/\[.*$/, ''))) expect(id).toMatch(/\[(Resource|Action|Policy)::.+\]$/);
      expect(reason.length).toBeGreaterThan(80);
    }
  });

  test('acknowledgements are recorded in the template for reviewers', () => {
    const template = JSON.parse(readFileSync(reportPath.replace('validation-report.json', `${stack.artifactId}.template.json`), 'utf8')) as {
      Resources: Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress: Array<{ id: string; reason: string }> } } }>;
    };
    const recorded = Object.values(template.Resources).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    for (const { id } of nagAcknowledgements(stack)) {
      expect(recorded.map((r) => r.id)).toContain(id);
    }
  });
});

describe('an unacknowledged finding fails the synth', () => {
  test('an error (a wildcard IAM action)', () => {
    const { app, stack } = build({});
    new Role(stack, 'Careless', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') }).addToPolicy(
      new PolicyStatement({ actions: ['s3:*'], resources: ['*'] }),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Action::s3:\*\]/);
  });

  test('a warning (a log group kept forever)', () => {
    const { app, stack } = build({});
    new LogGroup(stack, 'Forever', { retention: RetentionDays.INFINITE });
    expect(() => app.synth()).toThrow(/Serverless-CloudWatchLogGroupRetentionPeriod/);
  });
});
