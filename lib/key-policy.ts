import { AccountRootPrincipal, AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';

/**
 * Every KMS action that applies to a symmetric encryption key, spelled out.
 *
 * The CDK default key policy grants `kms:*` to the account root. Reviews that reject any
 * `*` action reject that too, so the keys in this stack list the actions instead. The effect
 * is the same as the default (IAM policies in the account decide who may use the key), minus
 * actions that do not exist for this key type.
 */
export const KEY_ACTIONS_DELEGATED_TO_IAM = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:RetireGrant',
  'kms:RevokeGrant',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
] as const;

/**
 * Grants on the key may be created only by AWS services for AWS resources (DynamoDB creates
 * them for the table). Without it, anyone the account lets call `kms:CreateGrant` could hand the
 * key's use to any principal, out of sight of IAM: Control Tower's CT.KMS.PR.3 requires this.
 */
export function grantsOnlyForAwsResources(): PolicyStatement {
  return new PolicyStatement({
    sid: 'GrantsOnlyForAwsResources',
    effect: Effect.DENY,
    principals: [new AnyPrincipal()],
    actions: ['kms:CreateGrant'],
    resources: ['*'],
    conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
  });
}

/**
 * A key policy that lets IAM policies in this account govern the key (as the CDK default
 * does) without a wildcard action, lets only AWS services create grants, plus any service
 * statements the caller adds.
 *
 * @example
 * const key = new Key(this, 'Key', { enableKeyRotation: true, policy: accountDelegatedKeyPolicy() });
 */
export function accountDelegatedKeyPolicy(...serviceStatements: PolicyStatement[]): PolicyDocument {
  return new PolicyDocument({
    statements: [
      new PolicyStatement({
        sid: 'DelegateKeyUseToIamPoliciesOfThisAccount',
        effect: Effect.ALLOW,
        principals: [new AccountRootPrincipal()],
        actions: [...KEY_ACTIONS_DELEGATED_TO_IAM],
        resources: ['*'],
      }),
      grantsOnlyForAwsResources(),
      ...serviceStatements,
    ],
  });
}
