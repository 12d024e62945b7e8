import { ArnFormat, Aws, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { accountDelegatedKeyPolicy } from './key-policy';

export interface TelemetryKeyProps {
  /** Keep the key when the stack is deleted: the retained log groups stay readable. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The customer managed key of what the service writes about itself: its log groups (Control
 * Tower CT.CLOUDWATCH.PR.3) and its alarm topic. CloudWatch Logs may use it only for log groups
 * of this account and region, CloudWatch alarms only to publish to the topic, and IAM policies of
 * the account decide the rest (`accountDelegatedKeyPolicy`).
 *
 * @example
 * const key = new TelemetryKey(this, 'TelemetryKey', { removalPolicy: RemovalPolicy.RETAIN });
 * new LogGroup(this, 'Logs', { encryptionKey: key.key });
 */
export class TelemetryKey extends Construct {
  public readonly key: Key;

  constructor(scope: Construct, id: string, props: TelemetryKeyProps) {
    super(scope, id);
    const logs = new ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`);
    this.key = new Key(this, 'Key', {
      description: 'Encrypts the Ekuaibao token vending log groups and alarm topic',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
      pendingWindow: Duration.days(30),
      policy: accountDelegatedKeyPolicy(
        new PolicyStatement({
          sid: 'CloudWatchLogsEncryptsThisAccountsLogGroups',
          effect: Effect.ALLOW,
          principals: [logs],
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          resources: ['*'],
          conditions: {
            ArnLike: {
              'kms:EncryptionContext:aws:logs:arn': Stack.of(this).formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
            },
          },
        }),
        new PolicyStatement({
          sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
          effect: Effect.ALLOW,
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
      ),
    });
  }
}
