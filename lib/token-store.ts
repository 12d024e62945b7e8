import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, Grant, type IGrantable, ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../contract/table';
import { accountDelegatedKeyPolicy } from './key-policy';

/**
 * The DynamoDB actions each function sends, and nothing else. These are not chosen here but
 * observed: test/infra/least-privilege.test.ts runs both functions' code against DynamoDB Local
 * (test/support/observed-run.ts), records every SDK command each one sends, and requires each
 * function's role to be granted exactly those. Every read is a GetItem and every write a
 * conditional UpdateItem (functions/adapters/token-table.ts); only the warmer's scheduled run
 * lists the table (Scan). Nothing puts or deletes items: DynamoDB's TTL removes them.
 */
export const TOKEN_FUNCTION_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;
/** What only the warmer sends: its scheduled run scans for the tenants due for a refresh. */
export const WARMER_ONLY_TABLE_ACTIONS = ['dynamodb:Scan'] as const;
export const WARMER_TABLE_ACTIONS = [...TOKEN_FUNCTION_TABLE_ACTIONS, ...WARMER_ONLY_TABLE_ACTIONS] as const;

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
 * The token cache table (encrypted with its own rotating key), one customer managed policy with
 * the access both functions need (the table's GetItem and UpdateItem, the table key through
 * DynamoDB, read access to the tenant secrets under the prefix), and a grant of what only the
 * warmer needs on top (`grantWarmerTableAccess`: Scan).
 *
 * @example
 * const store = new TokenStore(this, 'Store', { secretPrefix: 'ekuaibao/tenants/', secretsKmsKeyArns: [], retainOnDelete: true });
 * tokenRole.addManagedPolicy(store.accessPolicy);
 * warmerRole.addManagedPolicy(store.accessPolicy);
 * store.grantWarmerTableAccess(warmerRole);
 */
export class TokenStore extends Construct {
  public readonly table: Table;
  public readonly tableKey: Key;
  /**
   * What both functions need, and all the token function gets: the table
   * (`TOKEN_FUNCTION_TABLE_ACTIONS`), its key through DynamoDB, the tenant secrets (read only).
   * The warmer gets `grantWarmerTableAccess` on top.
   */
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
        actions: [...TOKEN_FUNCTION_TABLE_ACTIONS],
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
      description: 'Ekuaibao token vending: token cache table (read, conditional update) and tenant secrets (read only)',
      statements,
    });
  }

  /**
   * Grants the warmer what it needs beyond `accessPolicy`: `WARMER_ONLY_TABLE_ACTIONS` (Scan) on
   * the table, in the grantee's own policy. The token function never lists the table.
   */
  public grantWarmerTableAccess(warmer: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee: warmer,
      actions: [...WARMER_ONLY_TABLE_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }
}
