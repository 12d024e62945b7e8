import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { EkuaibaoTokenVending } from './token-vending';

/** Runs cdk-nag's AwsSolutions and Serverless packs on every synth of `app`. */
export function addCompliancePacks(app: App): void {
  Validations.of(app).addPlugins(
    // Acknowledgements are also copied into each resource's Metadata (`cdk_nag`), so a reviewer
    // reading only the template sees every exception with its reason.
    new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }),
    new ServerlessChecks(app),
  );
}

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
  const { store, tokenFunction, warmerFunction, warmerSchedule, api, monitoring, settings } = vending;
  const acks: Acknowledgement[] = [
    {
      scope: store.accessPolicy,
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${settings.secretPrefix}*]`,
      reason:
        `secretsmanager:GetSecretValue only, on secrets named ${settings.secretPrefix}<tenantId>: one secret per tenant, ` +
        'added without redeploying, and Secrets Manager appends a random suffix to every secret ARN, so a wildcard after the prefix is required.',
    },
    ...[tokenFunction, warmerFunction].map((fn) => ({
      scope: fn.role,
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords, which do not support resource-level permissions.',
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
  if (!api.webAcl) {
    acks.push({
      scope: api.api.deploymentStage,
      id: 'AwsSolutions-APIG3',
      reason:
        'The web ACL is opt-in (wafRateLimit): every method requires SigV4, unsigned requests never reach the function, and the stage is throttled. Enable it with -c wafRateLimit=<requests per IP per 5 min>.',
    });
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
