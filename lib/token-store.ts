import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../contract/table';
import { accountDelegatedKeyPolicy } from './key-policy';

/**
 * The DynamoDB actions the functions send for one tenant, on that tenant's item, and nothing else.
 * They are sent with a tenant session (lib/tenant-access-role.ts), so these are what the tenant
 * access role grants, for the item whose key is the session's tenant only. They are not chosen
 * here but observed: test/infra/least-privilege.test.ts runs both functions' code against DynamoDB
 * Local (test/support/observed-run.ts), records every SDK command each one sends, and requires the
 * grants to be exactly those. Every read is a GetItem and every write a conditional UpdateItem
 * (functions/adapters/token-table.ts). Nothing puts or deletes items: DynamoDB's TTL removes them.
 */
export const TENANT_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;
/**
 * What the warmer sends with its own credentials: its scheduled run scans for the tenants due for a
 * refresh, which is no one tenant's business. The token function never lists the table.
 */
export const WARMER_LISTING_ACTIONS = ['dynamodb:Scan'] as const;

/**
 * What DynamoDB asks KMS for on behalf of a caller that reads and writes items of a table
 * encrypted with a customer managed key. Usable only through DynamoDB (`kms:ViaService`).
 */
export const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'] as const;
/** The same for a caller that only reads (the warmer's Scan). */
export const TABLE_KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'] as const;

export interface TokenStoreProps {
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainOnDelete: boolean;
}

/**
 * The token cache table, encrypted with its own rotating key. It grants nothing by itself: each
 * tenant's item is reached through the tenant access role (lib/tenant-access-role.ts, which uses
 * `tableKeyThroughDynamoDB`), and the warmer lists the table with its own role
 * (`grantWarmerTableAccess`).
 *
 * @example
 * const store = new TokenStore(this, 'Store', { retainOnDelete: true });
 * store.grantWarmerTableAccess(warmerRole);
 */
export class TokenStore extends Construct {
  public readonly table: Table;
  public readonly tableKey: Key;

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
  }

  /** `actions` on the table key, only when DynamoDB asks for them on the caller's behalf. */
  public tableKeyThroughDynamoDB(actions: readonly string[], sid: string): PolicyStatement {
    return new PolicyStatement({
      sid,
      effect: Effect.ALLOW,
      actions: [...actions],
      resources: [this.tableKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    });
  }

  /**
   * Lets the warmer list the table (`WARMER_LISTING_ACTIONS`: Scan) and read it through the table
   * key, in the grantee's own policy. No item action: the warmer reads and writes a tenant's item
   * with that tenant's session, like the token function.
   */
  public grantWarmerTableAccess(warmer: IGrantable): void {
    const principal = warmer.grantPrincipal;
    principal.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'ListTheTokenTable', effect: Effect.ALLOW, actions: [...WARMER_LISTING_ACTIONS], resources: [this.table.tableArn] }),
    );
    principal.addToPrincipalPolicy(this.tableKeyThroughDynamoDB(TABLE_KEY_READ_ACTIONS, 'ReadTheTokenTableThroughItsKey'));
  }
}
