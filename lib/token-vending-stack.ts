import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { route } from '../contract/routes';
import { EkuaibaoTokenVending, type EkuaibaoTokenVendingProps } from './token-vending';

export interface TokenVendingStackProps extends StackProps {
  readonly tokenVending?: EkuaibaoTokenVendingProps;
}

/** The deployable unit: the construct plus the outputs an operator copies from. */
export class TokenVendingStack extends Stack {
  public readonly tokenVending: EkuaibaoTokenVending;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps = {}) {
    super(scope, id, props);
    const vending = new EkuaibaoTokenVending(this, 'TokenVending', props.tokenVending);
    this.tokenVending = vending;
    const { api } = vending.api;

    new CfnOutput(this, 'ApiUrl', { description: 'Base URL of the token API (stage included)', value: api.url });
    new CfnOutput(this, 'TokenUrlTemplate', {
      description: 'GET this with SigV4 (service execute-api) after replacing {tenantId}',
      value: api.urlForPath(route('getToken').resource),
    });
    new CfnOutput(this, 'ExampleCallerPolicy', {
      description: 'IAM policy for a caller of tenant TENANT_ID: replace TENANT_ID, attach to the caller role',
      value: vending.exampleCallerPolicy('TENANT_ID'),
    });
    new CfnOutput(this, 'TenantSecretPrefix', {
      description: 'Create one Secrets Manager secret per tenant named <prefix><tenantId>',
      value: vending.settings.secretPrefix,
    });
    new CfnOutput(this, 'TableName', { description: 'Token cache table', value: vending.store.table.tableName });
    new CfnOutput(this, 'DashboardName', { description: 'CloudWatch dashboard', value: vending.monitoring.dashboard.dashboardName });
    if (vending.monitoring.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', { description: 'SNS topic of the alarms', value: vending.monitoring.alarmTopic.topicArn });
    }
  }
}
