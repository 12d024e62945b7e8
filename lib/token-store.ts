import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../contract/table';
import { accountDelegatedKeyPolicy } from './key-policy';

/** The DynamoDB actions the token function and the warmer use, and nothing else. */
export const TOKEN_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Scan',
] as const;

/**
 * What DynamoDB asks KMS for on behalf of a caller of a table encrypted with a customer
 * managed key. Usable only through DynamoDB (`kms:ViaService`).
 */
export const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'] as const;

export interface TokenStoreProps {
  /** Secrets Manager name prefix; one secret per tenant is named `${secretPrefix}${tenantId}`. */
  readonly secretPrefix: string;
  /** Keys that encrypt tenant secrets, when they are not the AWS managed `aws/secretsmanager` key. */
  readonly secretsKmsKeyArns: readonly string[];
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainOnDelete: boolean;
}

/**
 * The token cache table (encrypted with its own rotating key) and one customer managed policy
 * with exactly the access the functions need: the table, the table key through DynamoDB, and
 * read access to the tenant secrets under the prefix.
 *
 * @example
 * const store = new TokenStore(this, 'Store', { secretPrefix: 'ekuaibao/tenants/', secretsKmsKeyArns: [], retainOnDelete: true });
 * role.addManagedPolicy(store.accessPolicy);
 */
export class TokenStore extends Construct {
  public readonly table: Table;
  public readonly tableKey: Key;
  public readonly accessPolicy: ManagedPolicy;
  /** ARN pattern of every tenant secret, e.g. `arn:aws:secretsmanager:eu-west-1:111122223333:secret:ekuaibao/tenants/*`. */
  public readonly secretArnPattern: string;

  constructor(scope: Construct, id: string, props: TokenStoreProps) {
    super(scope, id);
    const removalPolicy = props.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.tableKey = new Key(this, 'TableKey', {
      description: 'Encrypts the Ekuaibao token cache table',
      enableKeyRotation: true,
      policy: accountDelegatedKeyPolicy(),
      removalPolicy,
      // Only matters when the key is deleted, i.e. for throwaway stacks.
      ...(props.retainOnDelete ? {} : { pendingWindow: Duration.days(7) }),
    });

    this.table = new Table(this, 'Table', {
      partitionKey: { name: PARTITION_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.tableKey,
      deletionProtection: props.retainOnDelete,
      removalPolicy,
    });

    // Secrets Manager appends a random six-character suffix to every secret ARN, so the
    // prefix is followed by a wildcard; nothing outside the prefix is reachable.
    this.secretArnPattern = Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${props.secretPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const statements = [
      new PolicyStatement({
        sid: 'TokenCacheTable',
        effect: Effect.ALLOW,
        actions: [...TOKEN_TABLE_ACTIONS],
        resources: [this.table.tableArn],
      }),
      new PolicyStatement({
        sid: 'TokenCacheTableKeyThroughDynamoDB',
        effect: Effect.ALLOW,
        actions: [...TABLE_KEY_ACTIONS],
        resources: [this.tableKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
      new PolicyStatement({
        sid: 'TenantSecretsUnderPrefix',
        effect: Effect.ALLOW,
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secretArnPattern],
      }),
    ];
    if (props.secretsKmsKeyArns.length > 0) {
      statements.push(
        new PolicyStatement({
          sid: 'TenantSecretKeysThroughSecretsManager',
          effect: Effect.ALLOW,
          actions: ['kms:Decrypt'],
          resources: [...props.secretsKmsKeyArns],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` },
            // Secrets Manager puts the secret ARN in the encryption context; this keeps the
            // keys usable for tenant secrets only, even if they encrypt other secrets too.
            StringLike: { 'kms:EncryptionContext:SecretARN': this.secretArnPattern },
          },
        }),
      );
    }
    this.accessPolicy = new ManagedPolicy(this, 'AccessPolicy', {
      description: 'Ekuaibao token vending: token cache table and tenant secrets (read only)',
      statements,
    });
  }
}
