import { Annotations, CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import { SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { NetworkPlacement } from './settings';
import type { Construct } from 'constructs';
import { route } from '../contract/routes';
import { EkuaibaoTokenVending, type EkuaibaoTokenVendingProps } from './token-vending';

export interface TokenVendingStackProps extends StackProps {
  readonly tokenVending?: EkuaibaoTokenVendingProps;
  /** An existing VPC by id (from context); becomes the construct's `vpc`, `vpcSubnets` and `securityGroups`. */
  readonly network?: NetworkPlacement;
}

/** The deployable unit: the construct plus the outputs an operator copies from. */
export class TokenVendingStack extends Stack {
  public readonly tokenVending: EkuaibaoTokenVending;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps = {}) {
    super(scope, id, props);
    const vending = new EkuaibaoTokenVending(this, 'TokenVending', {
      ...props.tokenVending,
      ...(props.network && this.importNetwork(props.network)),
    });
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
    new CfnOutput(this, 'TenantAccessRoleArn', {
      description: 'The role the functions assume per tenant (session tag tenantId); CloudTrail shows its sessions as tenant-<tenantId>',
      value: vending.tenantAccessRole.roleArn,
    });
    new CfnOutput(this, 'DashboardName', { description: 'CloudWatch dashboard', value: vending.monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic every alarm and OK notification goes to: subscribe your on-call to it',
      value: vending.monitoring.alarmTopic.topicArn,
    });
  }

  /**
   * The VPC, subnets and security groups named by id, without a lookup (synth stays offline).
   * The subnets are given explicitly, so the VPC's own subnet layout is never consulted.
   */
  private importNetwork(network: NetworkPlacement): Pick<EkuaibaoTokenVendingProps, 'vpc' | 'vpcSubnets' | 'securityGroups'> {
    const vpc = Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: network.vpcId, availabilityZones: Fn.getAzs() });
    Annotations.of(vpc).acknowledgeWarning(
      '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
      'The functions are given their subnets explicitly; nothing selects subnets by availability zone.',
    );
    const subnets = network.subnetIds.map((id, i) => {
      const subnet = Subnet.fromSubnetId(this, `Subnet${i}`, id);
      Annotations.of(subnet).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'Lambda needs the subnet id only; the stack adds no routes.');
      return subnet;
    });
    return {
      vpc,
      vpcSubnets: { subnets },
      securityGroups: network.securityGroupIds.map((id, i) => SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id, { mutable: false })),
    };
  }
}
