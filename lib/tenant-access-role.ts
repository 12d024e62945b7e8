import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import {
  Effect,
  type IRole,
  PolicyDocument,
  PolicyStatement,
  PrincipalBase,
  PrincipalPolicyFragment,
  Role,
} from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TENANT_SESSION_TAG } from '../contract/tenant-session';
import { TABLE_KEY_ACTIONS, TENANT_ITEM_ACTIONS, type TokenStore } from './token-store';

/**
 * The session's tenant, as IAM substitutes it when it evaluates a request made with a tenant
 * session: `${aws:PrincipalTag/tenantId}`. A plain string, so it reaches the template as written.
 */
export const TENANT_TAG_VARIABLE = `\${aws:PrincipalTag/${TENANT_SESSION_TAG}}`;

/** What a function does to get a tenant session: assume the role and tag the session with the tenant. */
export const TENANT_SESSION_ACTIONS = ['sts:AssumeRole', 'sts:TagSession'] as const;

/**
 * The conditions on every tenant session request, in the trust policy and in the function roles'
 * own policies alike: the session carries the tenant tag with a value, no other tag, and no tag that
 * would follow the session into another role (transitive tags).
 */
export function tenantSessionConditions(): Record<string, Record<string, unknown>> {
  return {
    StringLike: { [`aws:RequestTag/${TENANT_SESSION_TAG}`]: '?*' },
    'ForAllValues:StringEquals': { 'aws:TagKeys': [TENANT_SESSION_TAG] },
    Null: { 'sts:TransitiveTagKeys': 'true' },
  };
}

export interface TenantAccessRoleProps {
  /** The token table (and its key) whose items the role reads and writes, one tenant's per session. */
  readonly store: TokenStore;
  /** Secrets Manager name prefix; tenant `acme`'s secret is `${secretPrefix}acme`. */
  readonly secretPrefix: string;
  /** Customer managed keys that encrypt tenant secrets, if any (not the AWS managed `aws/secretsmanager`). */
  readonly secretsKmsKeyArns: readonly string[];
}

/**
 * The tenant access role (the AWS SaaS Factory "token vending machine" pattern): the only principal
 * of the stack that may read a tenant secret or read and write a token item, and only the tenant's
 * own, named by its session tag. The functions assume it per tenant with the session tag
 * `tenantId=<tenant>` (contract/tenant-session.ts), so a bug that mixes tenants up in the code
 * meets AccessDenied instead of another tenant's data.
 *
 * ```
 * token function role ──┐ sts:AssumeRole + sts:TagSession, tag tenantId=acme only
 * warmer role ──────────┴──▶ tenant access role (session "tenant-acme")
 *                              ├─ secretsmanager:GetSecretValue  secret:<prefix>acme-??????
 *                              ├─ dynamodb:GetItem|UpdateItem    table, dynamodb:LeadingKeys = [acme]
 *                              └─ kms through DynamoDB (table key), through Secrets Manager (opt-in keys, acme's secret)
 * ```
 *
 * The policy names no tenant: `${aws:PrincipalTag/tenantId}` is the session's tag, which IAM
 * substitutes per request, so adding a tenant needs no deploy.
 *
 * @example
 * const tenantAccess = new TenantAccessRole(this, 'TenantAccessRole', { store, secretPrefix: 'ekuaibao/tenants/', secretsKmsKeyArns: [] });
 * tenantAccess.allowTenantSessions(tokenFunction.role);
 * // the function's environment: TENANT_ROLE_ARN = tenantAccess.roleArn
 */
export class TenantAccessRole extends Construct {
  public readonly role: Role;
  /**
   * The ARN pattern of the session tenant's secret:
   * `arn:<partition>:secretsmanager:<region>:<account>:secret:<prefix>${aws:PrincipalTag/tenantId}-??????`.
   * Secrets Manager appends `-` and six random characters to every secret name; `??????` matches
   * exactly those, so `acme`'s session never reaches `acme-eu`'s secret (`acme-eu-AbCdEf`).
   */
  public readonly tenantSecretArnPattern: string;
  private readonly trust: TenantSessionTrust;

  constructor(scope: Construct, id: string, props: TenantAccessRoleProps) {
    super(scope, id);
    const { table } = props.store;
    this.tenantSecretArnPattern = Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${props.secretPrefix}${TENANT_TAG_VARIABLE}-??????`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const statements = [
      new PolicyStatement({
        sid: 'OwnTenantSecretOnly',
        effect: Effect.ALLOW,
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.tenantSecretArnPattern],
      }),
      new PolicyStatement({
        sid: 'OwnTenantTokenItemOnly',
        effect: Effect.ALLOW,
        actions: [...TENANT_ITEM_ACTIONS],
        resources: [table.tableArn],
        conditions: {
          // Every partition key the request touches is the session's tenant...
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [TENANT_TAG_VARIABLE] },
          // ...and the request has one: ForAllValues alone also allows a request without any key.
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      }),
      props.store.tableKeyThroughDynamoDB(TABLE_KEY_ACTIONS, 'TokenTableKeyThroughDynamoDB'),
    ];
    if (props.secretsKmsKeyArns.length > 0) {
      statements.push(
        new PolicyStatement({
          sid: 'OwnTenantSecretKeysThroughSecretsManager',
          effect: Effect.ALLOW,
          actions: ['kms:Decrypt'],
          resources: [...props.secretsKmsKeyArns],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` },
            // Secrets Manager puts the secret ARN in the encryption context: the keys decrypt the
            // session tenant's secret only, even if they encrypt other secrets too.
            StringLike: { 'kms:EncryptionContext:SecretARN': this.tenantSecretArnPattern },
          },
        }),
      );
    }

    this.trust = new TenantSessionTrust();
    this.role = new Role(this, 'Role', {
      description: "Ekuaibao token vending: one tenant's secret and token item, for sessions tagged with that tenant",
      assumedBy: this.trust,
      inlinePolicies: { OwnTenantOnly: new PolicyDocument({ statements }) },
    });
  }

  public get roleArn(): string {
    return this.role.roleArn;
  }

  /**
   * Lets `functionRole` get tenant sessions: names it in the role's trust policy and grants it
   * `TENANT_SESSION_ACTIONS` on this role in its own policy, both only for sessions tagged as
   * `tenantSessionConditions` says. A role no function may assume fails the synth.
   */
  public allowTenantSessions(functionRole: IRole): void {
    this.trust.add(functionRole);
    functionRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TenantSessions',
        effect: Effect.ALLOW,
        actions: [...TENANT_SESSION_ACTIONS],
        resources: [this.role.roleArn],
        conditions: tenantSessionConditions(),
      }),
    );
  }
}

/**
 * The trust policy of the tenant access role: one statement, which starts with no principal and
 * gets each function role that `allowTenantSessions` names (the role exists before the functions,
 * whose environment carries its ARN). A trust statement without a principal fails the synth.
 */
class TenantSessionTrust extends PrincipalBase {
  private readonly statement = new PolicyStatement({
    sid: 'TenantSessionsOfTheFunctions',
    effect: Effect.ALLOW,
    actions: [...TENANT_SESSION_ACTIONS],
    conditions: tenantSessionConditions(),
  });
  private readonly roles: IRole[] = [];

  public add(role: IRole): void {
    this.roles.push(role);
    this.statement.addPrincipals(role);
  }

  public get policyFragment(): PrincipalPolicyFragment {
    return new PrincipalPolicyFragment({ AWS: this.roles.map((r) => r.roleArn) }, this.statement.conditions);
  }

  public override addToAssumeRolePolicy(document: PolicyDocument): void {
    document.addStatements(this.statement);
  }

  /** Not comparable: there is one trust statement, never merged with another. */
  public dedupeString(): string | undefined {
    return undefined;
  }
}
