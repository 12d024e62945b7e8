import {
  type App,
  type IPolicyValidationContextBeta1,
  type IPolicyValidationPluginBeta1,
  type PolicyValidationPluginReportBeta1,
  Validations,
} from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { EkuaibaoTokenVending } from './token-vending';

export interface CompliancePackOptions {
  /**
   * Run AWS Control Tower's proactive controls (the cfn-guard rules organisations enforce as
   * CloudFormation hooks) too. They run the `cfn-guard` binary on the template, a few seconds per
   * synth; tests that assert other things turn them off.
   * @default true
   */
  readonly controlTower?: boolean;
}

/**
 * The guardrails every synth of `app` must pass: cdk-nag's AwsSolutions and Serverless packs and
 * Control Tower's proactive controls. Every exception is acknowledged below, with its reason.
 */
export function addCompliancePacks(app: App, options: CompliancePackOptions = {}): void {
  Validations.of(app).addPlugins(
    // Acknowledgements are also copied into each resource's Metadata (`cdk_nag`), so a reviewer
    // reading only the template sees every exception with its reason.
    new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }),
    new ServerlessChecks(app),
  );
  if (options.controlTower ?? true) Validations.of(app).addPlugins(new ControlTowerChecks());
}

/**
 * `CfnGuardValidator` with Control Tower's rules, whose findings count as errors. The plugin
 * reports violations without a severity, and CDK, once the app acknowledges any finding at all,
 * recomputes a report's success as "no violation of severity error": a broken control would then
 * pass the synth. Every control here is an error, as Control Tower's hooks enforce it.
 */
class ControlTowerChecks implements IPolicyValidationPluginBeta1 {
  private readonly guard = new CfnGuardValidator({ controlTowerRulesEnabled: true });
  // The acknowledgement namespace (`cdk-validator-cfnguard::...`) comes from the plugin's name.
  public readonly name = this.guard.name;
  public readonly version = this.guard.version;
  public readonly ruleIds = this.guard.ruleIds;

  public validate(context: IPolicyValidationContextBeta1): PolicyValidationPluginReportBeta1 {
    const report = this.guard.validate(context);
    return { ...report, violations: report.violations.map((v) => ({ ...v, severity: v.severity ?? 'error' })) };
  }
}

/** How an acknowledgement names a Control Tower rule (the plugin's rule name, not the CT.* id). */
export const CONTROL_TOWER = {
  lambdaInsideVpc: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
  lambdaPublicAccess: 'cdk-validator-cfnguard::lambda_function_public_access_prohibited_check',
} as const;

/** One acknowledged cdk-nag finding: on which construct, and why it is acceptable here. */
export interface Acknowledgement {
  readonly scope: IConstruct;
  readonly id: string;
  readonly reason: string;
}

/**
 * Every cdk-nag finding the construct accepts, each on the narrowest construct and with the
 * reason a security reviewer needs. Anything not listed here fails the synth.
 */
export function tokenVendingAcknowledgements(vending: EkuaibaoTokenVending): Acknowledgement[] {
  const { tokenFunction, warmerFunction, warmerSchedule, api, monitoring } = vending;
  // No finding on tenant data: the tenant access role reaches one secret per session,
  // `secret:<prefix>${aws:PrincipalTag/tenantId}-??????`, with no `*` for AwsSolutions-IAM5 to report.
  const acks: Acknowledgement[] = [
    ...[tokenFunction, warmerFunction].map((fn) => ({
      scope: fn.role,
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords, which do not support resource-level permissions.' +
        (fn.function.isBoundToVpc
          ? ' And, in a VPC, the actions of AWSLambdaVPCAccessExecutionRole (inline): Lambda creates, describes and deletes the network interfaces ' +
            'that attach the function; ec2:Describe* support no resource-level permissions, and the interfaces do not exist before Lambda creates them.'
          : ''),
    })),
    ...[api.getTokenMethod, api.invalidateMethod].map((method) => ({
      scope: method,
      id: 'AwsSolutions-COG4',
      reason:
        'Callers are AWS workloads authorized with IAM (SigV4); per-tenant access is an execute-api:Invoke grant on the tenant route ARN. There are no end users, so no Cognito user pool.',
    })),
    {
      scope: tokenFunction.function,
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by API Gateway only; the caller receives every failure as an HTTP error, so there is no event to dead-letter.',
    },
    {
      scope: warmerFunction.function,
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked asynchronously by its schedule (no data) and by the token function with a tenant id to refresh. A failed warm run is replaced by the next run; ' +
        'a failed refresh is asked for again by the next caller in the refresh window, and the valid token is served meanwhile. Failures raise the WarmerErrors alarm.',
    },
    ...[warmerFunction.asyncInvokeConfig].filter((config) => config !== undefined).map((config) => ({
      scope: config,
      id: 'Serverless-LambdaAsyncFailureDestination',
      reason:
        'The failed events would be refresh requests ({"tenantId"}) and schedule events, worthless after a minute (maxEventAge 60 s, no retries): ' +
        'the next caller in the refresh window or the next scheduled run asks again. Nobody would replay a failure destination; failures raise the WarmerErrors alarm.',
    })),
    {
      scope: warmerSchedule,
      id: 'Serverless-EventBusDLQ',
      reason:
        'Schedule events carry no data and expire after one interval (maxEventAge); a lost run is replaced by the next one. Failures raise the WarmerErrors alarm.',
    },
  ];
  const accountRole = api.api.node.tryFindChild('CloudWatchRole');
  if (accountRole) {
    acks.push({
      scope: accountRole,
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "The account-wide API Gateway logging role (AWS::ApiGateway::Account) must write to every API's log groups in the region; AWS documents this managed policy for it, and it holds only CloudWatch Logs actions.",
    });
  }
  // Control Tower's proactive controls: the only ones the stack does not meet by construction.
  for (const fn of [tokenFunction, warmerFunction]) {
    if (!fn.function.isBoundToVpc) {
      acks.push({
        scope: fn.function,
        id: CONTROL_TOWER.lambdaInsideVpc,
        reason:
          'CT.LAMBDA.PR.3: no VPC was given. The function needs only AWS APIs and the Ekuaibao endpoint over HTTPS. ' +
          'Give -c vpcId=... -c subnetIds=... -c securityGroupIds=... (or the vpc props) to run it in your VPC, and this exception goes away.',
      });
    }
  }
  // Exactly the permissions TokenApi could not name the account on (an environment-agnostic synth).
  for (const permission of api.apiGatewayPermissions()) {
    if (permission.sourceAccount === undefined) {
      acks.push({
        scope: permission,
        id: CONTROL_TOWER.lambdaPublicAccess,
        reason:
          'CT.LAMBDA.PR.2: the permission is for apigateway.amazonaws.com and scoped by SourceArn to this API (an Fn::Join, which the rule cannot read). ' +
          'A synth with a known account (cdk deploy sets it) adds SourceAccount as a literal, and the rule passes without this exception.',
      });
    }
  }
  const emailSubscription = monitoring.alarmEmailSubscription;
  if (emailSubscription) {
    acks.push({
      scope: emailSubscription,
      id: 'Serverless-SNSRedrivePolicy',
      reason:
        'E-mail subscription for alarm notifications: a dead-letter queue would hold undelivered e-mails nobody reads; alarm state and history stay in CloudWatch.',
    });
  }
  return acks;
}

export function acknowledgeTokenVendingFindings(vending: EkuaibaoTokenVending): void {
  for (const { scope, id, reason } of tokenVendingAcknowledgements(vending)) {
    Validations.of(scope).acknowledge({ id, reason });
  }
}
