/**
 * A bug cannot cross tenants (issue 14; the AWS SaaS Factory token vending machine pattern): the
 * functions read a tenant's secret and token item only with a session of the tenant access role
 * tagged with that tenant (contract/tenant-session.ts), and the template is what makes that so:
 *
 * - the only grants of secret or item access in the whole template are the tenant access role's,
 *   and they reach the secret and the item of the session's tenant tag only;
 * - the functions' own roles have none (the warmer lists the table, nothing more);
 * - only the two function roles may assume the tenant access role, and only with the tenant tag;
 * - both functions are told the role (`TENANT_ROLE_ARN`).
 *
 * Each property is a function that returns what is wrong, so the planted bugs at the end show
 * that it would catch one.
 */
import { App, ArnFormat, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { TENANT_SESSION_TAG } from '../../contract/tenant-session';
import type { EkuaibaoTokenVending } from '../../lib/token-vending';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import { HARDENED_CONTEXT, SECRET_KEY_ARN } from './support/contexts';
import { cdkJsonContext, synthesize, tempOutdir, type TemplateJson } from './support/synth';
import {
  allStatements,
  asList,
  type FoundStatement,
  identityStatements,
  render,
  resourceAt,
  rolesOfStatement,
  type Statement,
  statementsOfRole,
  trustStatements,
} from './support/template';

/** The session's tenant, as the policies name it: IAM substitutes the session tag per request. */
const SESSION_TENANT = `\${aws:PrincipalTag/${TENANT_SESSION_TAG}}`;
const SESSION_ACTIONS = ['sts:AssumeRole', 'sts:TagSession'];
/** What every tenant session request must satisfy, in the trust policy and in the function roles' policies. */
const SESSION_CONDITIONS = {
  StringLike: { [`aws:RequestTag/${TENANT_SESSION_TAG}`]: '?*' },
  'ForAllValues:StringEquals': { 'aws:TagKeys': [TENANT_SESSION_TAG] },
  Null: { 'sts:TransitiveTagKeys': 'true' },
};

interface Ids {
  readonly tenantRole: string;
  readonly tokenRole: string;
  readonly warmerRole: string;
  readonly table: string;
  readonly secretPrefix: string;
}

function idsOf(json: TemplateJson, secretPrefix: string): Ids {
  const id = (suffix: string) => resourceAt(json, suffix).logicalId;
  return {
    tenantRole: id('TokenVending/TenantAccessRole/Role/Resource'),
    tokenRole: id('TokenVending/TokenFunction/Role/Resource'),
    warmerRole: id('TokenVending/WarmerFunction/Role/Resource'),
    table: id('TokenVending/Store/Table/Resource'),
    secretPrefix,
  };
}

const actionsOf = (s: Statement) => [...asList(s.Action), ...asList(s.NotAction)];
const resourcesOf = (s: Statement) => asList(s.Resource as unknown).map(render);
const isSecretAction = (a: string) => a.startsWith('secretsmanager:') || a === '*';
/** Any DynamoDB action but listing the table reaches items (or the table itself). */
const isItemAction = (a: string) => (a.startsWith('dynamodb:') && a !== 'dynamodb:Scan') || a === '*';
const decryptsSecrets = (s: Statement) => render(s.Condition?.StringEquals?.['kms:ViaService']).startsWith('secretsmanager.');
const where = (s: FoundStatement) => `${s.logicalId} ${s.statement.Sid ?? s.at}`;

/** The session tenant's secret: `arn:...:secret:<prefix>${aws:PrincipalTag/tenantId}-??????`, nothing wider. */
const tenantSecretPattern = (prefix: string) =>
  `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${prefix}${SESSION_TENANT}-??????`;

/**
 * Every grant of tenant data in the template (any policy but trust policies: identity, key,
 * resource policies alike) is the tenant access role's, and scoped to the session's tenant.
 */
function tenantDataProblems(json: TemplateJson, ids: Ids): string[] {
  const problems: string[] = [];
  const grants = allStatements(json).filter(
    (s) =>
      s.statement.Effect === 'Allow' &&
      !s.at.startsWith('Properties.AssumeRolePolicyDocument') &&
      (actionsOf(s.statement).some((a) => isSecretAction(a) || isItemAction(a)) || decryptsSecrets(s.statement)),
  );
  if (!grants.some((s) => actionsOf(s.statement).includes('secretsmanager:GetSecretValue'))) problems.push('no grant of the tenant secret at all');
  if (!grants.some((s) => actionsOf(s.statement).some(isItemAction))) problems.push('no grant of the token item at all');
  for (const s of grants) {
    const { statement } = s;
    const holders = s.type.startsWith('AWS::IAM::') ? rolesOfStatement(json, s) : [`(a ${s.type} policy)`];
    if (holders.join() !== ids.tenantRole) problems.push(`${where(s)}: tenant data granted to ${holders.join(', ') || 'nobody'}, not the tenant access role`);
    if (statement.NotAction !== undefined || statement.NotResource !== undefined) problems.push(`${where(s)}: NotAction/NotResource`);
    const actions = actionsOf(statement);
    if (actions.some(isSecretAction)) {
      if (actions.join() !== 'secretsmanager:GetSecretValue') problems.push(`${where(s)}: secret actions ${actions.join(', ')}, not GetSecretValue alone`);
      for (const r of resourcesOf(statement)) {
        if (r !== tenantSecretPattern(ids.secretPrefix)) problems.push(`${where(s)}: secrets ${r}, not the session tenant's`);
      }
    }
    if (actions.some(isItemAction)) {
      if (resourcesOf(statement).join() !== `\${${ids.table}.Arn}`) problems.push(`${where(s)}: items of ${resourcesOf(statement).join(', ')}, not the token table`);
      const leadingKeys = statement.Condition?.['ForAllValues:StringEquals']?.['dynamodb:LeadingKeys'];
      if (JSON.stringify(leadingKeys) !== JSON.stringify([SESSION_TENANT])) {
        problems.push(`${where(s)}: items not limited to the session tenant's key (dynamodb:LeadingKeys ${JSON.stringify(leadingKeys)})`);
      }
      if (statement.Condition?.Null?.['dynamodb:LeadingKeys'] !== 'false') problems.push(`${where(s)}: a request without a partition key would pass`);
    }
    if (decryptsSecrets(statement)) {
      const secretArn = render(statement.Condition?.StringLike?.['kms:EncryptionContext:SecretARN']);
      if (secretArn !== tenantSecretPattern(ids.secretPrefix)) problems.push(`${where(s)}: secret keys decrypt ${secretArn || 'any secret'}, not the session tenant's`);
    }
  }
  return problems;
}

/** The functions' own roles read no secret and no item; the warmer lists the table, the token function does not. */
function functionRoleProblems(json: TemplateJson, ids: Ids): string[] {
  const problems: string[] = [];
  for (const [name, roleId, listing] of [
    ['token function', ids.tokenRole, []],
    ['warmer', ids.warmerRole, ['dynamodb:Scan']],
  ] as const) {
    const allowed = statementsOfRole(json, roleId).filter((s) => s.statement.Effect === 'Allow');
    const actions = allowed.flatMap((s) => actionsOf(s.statement));
    const data = [...new Set(actions.filter((a) => a.startsWith('secretsmanager:') || a.startsWith('dynamodb:') || a === '*'))].sort();
    if (JSON.stringify(data) !== JSON.stringify(listing)) problems.push(`${name}'s role may ${data.join(', ') || 'nothing'} (expected ${listing.join(', ') || 'nothing'})`);
    for (const s of allowed.filter((x) => decryptsSecrets(x.statement))) problems.push(`${name}'s role decrypts secrets: ${where(s)}`);
  }
  return problems;
}

/** Only the two function roles may assume the tenant access role, and only for a session tagged with one tenant. */
function trustProblems(json: TemplateJson, ids: Ids): string[] {
  const problems: string[] = [];
  const statements = trustStatements(json, ids.tenantRole);
  if (statements.length !== 1) problems.push(`${statements.length} trust statements, expected 1`);
  for (const s of statements) {
    const principals = asList((s.Principal as { AWS?: unknown } | undefined)?.AWS).map(render).sort();
    const expected = [`\${${ids.tokenRole}.Arn}`, `\${${ids.warmerRole}.Arn}`].sort();
    if (s.Effect !== 'Allow') continue;
    if (JSON.stringify(principals) !== JSON.stringify(expected) || Object.keys(s.Principal as object).join() !== 'AWS') {
      problems.push(`trusted: ${JSON.stringify(s.Principal)}, expected the two function roles`);
    }
    if (JSON.stringify(actionsOf(s).sort()) !== JSON.stringify(SESSION_ACTIONS)) problems.push(`trust actions ${actionsOf(s).join(', ')}`);
    if (JSON.stringify(s.Condition) !== JSON.stringify(SESSION_CONDITIONS)) problems.push(`trust conditions ${JSON.stringify(s.Condition)}`);
  }
  return problems;
}

/** Both function roles, and nothing else, may ask for tenant sessions: on the tenant access role only, with the same conditions. */
function sessionGrantProblems(json: TemplateJson, ids: Ids): string[] {
  const problems: string[] = [];
  const grants = identityStatements(json).filter((s) => s.statement.Effect === 'Allow' && actionsOf(s.statement).some((a) => a.startsWith('sts:')));
  for (const s of grants) {
    const holders = rolesOfStatement(json, s);
    if (holders.length !== 1 || ![ids.tokenRole, ids.warmerRole].includes(holders[0]!)) problems.push(`${where(s)}: sessions granted to ${holders.join(', ')}`);
    if (JSON.stringify(actionsOf(s.statement).sort()) !== JSON.stringify(SESSION_ACTIONS)) problems.push(`${where(s)}: ${actionsOf(s.statement).join(', ')}`);
    if (resourcesOf(s.statement).join() !== `\${${ids.tenantRole}.Arn}`) problems.push(`${where(s)}: sessions of ${resourcesOf(s.statement).join(', ')}`);
    if (JSON.stringify(s.statement.Condition) !== JSON.stringify(SESSION_CONDITIONS)) problems.push(`${where(s)}: conditions ${JSON.stringify(s.statement.Condition)}`);
  }
  for (const [name, roleId] of [['token function', ids.tokenRole], ['warmer', ids.warmerRole]] as const) {
    if (!grants.some((s) => rolesOfStatement(json, s).includes(roleId))) problems.push(`the ${name}'s role may not get tenant sessions`);
  }
  return problems;
}

const CONFIGURATIONS: Array<[string, Record<string, string>, string]> = [
  ['default', {}, 'ekuaibao/tenants/'],
  ['hardened, another prefix', { ...HARDENED_CONTEXT, secretPrefix: 'acme-corp/ekuaibao/' }, 'acme-corp/ekuaibao/'],
];

describe.each(CONFIGURATIONS)('%s', (_, context, secretPrefix) => {
  let json: TemplateJson;
  let ids: Ids;

  beforeAll(() => {
    json = synthesize(context).json;
    ids = idsOf(json, secretPrefix);
  });

  test('the only grants of secrets and token items are the tenant access role’s, scoped by the session tag', () => {
    expect(tenantDataProblems(json, ids)).toEqual([]);
    // As a reviewer reads them.
    const role = json.Resources[ids.tenantRole]!.Properties!;
    const statements = (role.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap((p) => p.PolicyDocument.Statement);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(resourcesOf(bySid.OwnTenantSecretOnly!)).toEqual([tenantSecretPattern(secretPrefix)]);
    expect(bySid.OwnTenantTokenItemOnly).toMatchObject({
      Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [SESSION_TENANT] }, Null: { 'dynamodb:LeadingKeys': 'false' } },
    });
    expect(render(bySid.TokenTableKeyThroughDynamoDB!.Condition!.StringEquals!['kms:ViaService'])).toBe('dynamodb.${AWS::Region}.amazonaws.com');
  });

  test('the functions’ own roles read no secret and no item; the warmer only lists the table', () => {
    expect(functionRoleProblems(json, ids)).toEqual([]);
  });

  test('only the token function’s and the warmer’s roles may assume the tenant access role, with exactly one tenant tag', () => {
    expect(trustProblems(json, ids)).toEqual([]);
    expect(trustStatements(json, ids.tenantRole)).toEqual([
      {
        Sid: 'TenantSessionsOfTheFunctions',
        Effect: 'Allow',
        Principal: { AWS: [{ 'Fn::GetAtt': [ids.tokenRole, 'Arn'] }, { 'Fn::GetAtt': [ids.warmerRole, 'Arn'] }] },
        Action: SESSION_ACTIONS,
        Condition: SESSION_CONDITIONS,
      },
    ]);
    // The default session limit (1 h); the functions ask for 15 minutes.
    expect(json.Resources[ids.tenantRole]!.Properties!.MaxSessionDuration).toBeUndefined();
  });

  test('both function roles may get tenant sessions of the tenant access role, and of nothing else', () => {
    expect(sessionGrantProblems(json, ids)).toEqual([]);
  });

  test('both functions are told the tenant access role', () => {
    for (const fn of ['TokenFunction', 'WarmerFunction']) {
      const env = (resourceAt(json, `TokenVending/${fn}/Function/Resource`).resource.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.TENANT_ROLE_ARN).toEqual({ 'Fn::GetAtt': [ids.tenantRole, 'Arn'] });
    }
  });
});

test('customer managed secret keys decrypt the session tenant’s secret only, through Secrets Manager', () => {
  const json = synthesize({ ...HARDENED_CONTEXT, secretPrefix: 'acme-corp/ekuaibao/' }).json;
  const ids = idsOf(json, 'acme-corp/ekuaibao/');
  const decrypt = allStatements(json).filter((s) => decryptsSecrets(s.statement));
  expect(decrypt.map((s) => rolesOfStatement(json, s))).toEqual([[ids.tenantRole]]);
  expect(decrypt[0]!.statement).toMatchObject({ Action: 'kms:Decrypt', Resource: SECRET_KEY_ARN });
  expect(render(decrypt[0]!.statement.Condition!.StringLike!['kms:EncryptionContext:SecretARN'])).toBe(tenantSecretPattern('acme-corp/ekuaibao/'));
});

test('the TenantAccessRoleArn output names the role', () => {
  const { json } = synthesize();
  const role = resourceAt(json, 'TokenVending/TenantAccessRole/Role/Resource').logicalId;
  expect(render(json.Outputs!.TenantAccessRoleArn!.Value)).toBe(`\${${role}.Arn}`);
});

/**
 * The stack with one bug planted, synthesized without the compliance packs (cdk-nag would reject
 * some plants for their wildcard alone; these checks must catch them on their own).
 */
function planted(plant: (vending: EkuaibaoTokenVending) => void): TemplateJson {
  const app = new App({
    outdir: tempOutdir(),
    context: { ...cdkJsonContext(), 'aws:cdk:enable-path-metadata': true, 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new TokenVendingStack(app, 'Planted');
  plant(stack.tokenVending);
  return Template.fromStack(stack).toJSON() as TemplateJson;
}

const PREFIX = 'ekuaibao/tenants/';
const secretArn = (vending: EkuaibaoTokenVending, name: string) =>
  Stack.of(vending).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

describe('a planted bug is caught', () => {
  test.each<[string, (vending: EkuaibaoTokenVending) => void, (json: TemplateJson, ids: Ids) => string[], RegExp]>([
    [
      'the token function’s role reads every tenant secret under the prefix',
      (v) => v.tokenFunction.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn(v, `${PREFIX}*`)] })),
      tenantDataProblems,
      /tenant data granted to TokenVendingTokenFunctionRole\w+, not the tenant access role/,
    ],
    [
      'the warmer’s role reads items directly',
      (v) => v.warmerFunction.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [v.store.table.tableArn] })),
      functionRoleProblems,
      /warmer's role may dynamodb:GetItem, dynamodb:Scan/,
    ],
    [
      'the tenant access role reads any tenant’s item',
      (v) => v.tenantAccessRole.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [v.store.table.tableArn] })),
      tenantDataProblems,
      /items not limited to the session tenant's key/,
    ],
    [
      'the tenant access role reads one named tenant’s secret',
      (v) => v.tenantAccessRole.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn(v, `${PREFIX}acme-??????`)] })),
      tenantDataProblems,
      /secrets .*acme-\?\?\?\?\?\?, not the session tenant's/,
    ],
    [
      'the whole account may assume the tenant access role',
      (v) => v.tenantAccessRole.role.assumeRolePolicy!.addStatements(new PolicyStatement({ principals: [new AccountRootPrincipal()], actions: ['sts:AssumeRole'] })),
      trustProblems,
      /2 trust statements/,
    ],
  ])('%s', (_, plant, check, problem) => {
    const json = planted(plant);
    expect(check(json, idsOf(json, PREFIX)).join('\n')).toMatch(problem);
  });

  test('the unplanted stack passes the same checks', () => {
    const json = planted(() => {});
    const ids = idsOf(json, PREFIX);
    expect([...tenantDataProblems(json, ids), ...functionRoleProblems(json, ids), ...trustProblems(json, ids), ...sessionGrantProblems(json, ids)]).toEqual([]);
  });
});
