/** Context values as `cdk deploy -c key=value` passes them: always strings. */

export const SECRET_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** An existing VPC, by id: the functions run in its private subnets. */
export const VPC_CONTEXT: Record<string, string> = {
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  subnetIds: 'subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788',
  securityGroupIds: 'sg-0a1b2c3d4e5f60718',
};

/** Every optional feature on: VPC, private endpoint, account allow-list, per-IP WAF rule, alarm e-mail, secret keys. */
export const HARDENED_CONTEXT: Record<string, string> = {
  ...VPC_CONTEXT,
  allowedAccountIds: '444455556666, 777788889999',
  privateVpcEndpointIds: 'vpce-0123456789abcdef0,vpce-0fedcba9876543210',
  wafRateLimit: '600',
  alarmEmail: 'oncall@example.com',
  secretsKmsKeyArns: SECRET_KEY_ARN,
  throttlingRateLimit: '20',
  throttlingBurstLimit: '40',
};

/** A throwaway stack: nothing retained. */
export const THROWAWAY_CONTEXT: Record<string, string> = { retainOnDelete: 'false' };
