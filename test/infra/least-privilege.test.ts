import { KEY_ACTIONS_DELEGATED_TO_IAM } from '../../lib/key-policy';
import { VPC_ACCESS_ACTIONS } from '../../lib/token-functions';
import { observeRun, type EmittingFunction, type ObservedRun } from '../support/observed-run';
import { HARDENED_CONTEXT, SECRET_KEY_ARN } from './support/contexts';
import { synthesize, type Synthesized, type TemplateJson } from './support/synth';
import { allStatements, asList, identityStatements, render, resourceAt, rolesOfStatement, statementsOfRole, type FoundStatement } from './support/template';

let standard: Synthesized;
let hardened: Synthesized;
let observed: ObservedRun;

beforeAll(async () => {
  standard = synthesize();
  hardened = synthesize({ ...HARDENED_CONTEXT, secretPrefix: 'acme-corp/ekuaibao/' });
  // Both functions' code against DynamoDB Local, a Secrets Manager stand-in, a Lambda Invoke
  // stand-in and the upstream simulator, recording every SDK command each one sends.
  observed = await observeRun();
}, 120_000);

const actionsOf = (s: FoundStatement) => [...asList(s.statement.Action), ...asList(s.statement.NotAction)];
const resourcesOf = (s: FoundStatement) => asList(s.statement.Resource as unknown).map(render);

test.each([
  ['default', () => standard],
  ['hardened', () => hardened],
])('no policy statement anywhere in the %s template has a wildcard action', (_, synth) => {
  const statements = allStatements(synth().json);
  expect(statements.length).toBeGreaterThan(10);
  const wildcards = statements.flatMap((s) => actionsOf(s).filter((a) => a.includes('*')).map((a) => `${s.logicalId} ${s.at}: ${a}`));
  expect(wildcards).toEqual([]);
});

test('no Allow statement uses NotAction or NotResource', () => {
  for (const synth of [standard, hardened]) {
    const inverted = allStatements(synth.json).filter(
      (s) => s.statement.Effect === 'Allow' && (s.statement.NotAction !== undefined || s.statement.NotResource !== undefined),
    );
    expect(inverted).toEqual([]);
  }
});

test('the only identity statements on Resource * are the X-Ray ones Lambda tracing needs, and in a VPC the network-interface ones', () => {
  const xray = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
  const onEverything = (synth: Synthesized) => identityStatements(synth.json).filter((s) => resourcesOf(s).includes('*'));
  expect(onEverything(standard).map((s) => actionsOf(s).sort())).toEqual([xray, xray]);
  // The hardened stack runs in a VPC: Lambda attaches each function through interfaces it creates.
  const hardenedStatements = onEverything(hardened);
  expect(hardenedStatements.filter((s) => s.statement.Sid !== 'AttachToTheVpc').map((s) => actionsOf(s).sort())).toEqual([xray, xray]);
  const vpc = hardenedStatements.filter((s) => s.statement.Sid === 'AttachToTheVpc');
  expect(vpc).toHaveLength(2);
  for (const s of vpc) expect(actionsOf(s).sort()).toEqual([...VPC_ACCESS_ACTIONS].sort());
});

test('secret access is on the session tenant’s secret only (the actions are the ones the functions send, below)', () => {
  const secretStatements = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
  expect(secretStatements).toHaveLength(1);
  // Secrets Manager appends `-` and six random characters to a secret's name; `??????` is exactly those.
  expect(resourcesOf(secretStatements[0]!)).toEqual([
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:ekuaibao/tenants/${aws:PrincipalTag/tenantId}-??????',
  ]);
});

test('secret access follows the secretPrefix context key', () => {
  const secretStatements = identityStatements(hardened.json).filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));
  expect(secretStatements.flatMap(resourcesOf)).toEqual([
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:acme-corp/ekuaibao/${aws:PrincipalTag/tenantId}-??????',
  ]);
  const env = (resourceAt(hardened.json, 'TokenVending/TokenFunction/Function/Resource').resource.Properties!.Environment as {
    Variables: Record<string, string>;
  }).Variables;
  expect(env.TENANT_SECRET_PREFIX).toBe('acme-corp/ekuaibao/');
});

/** The services whose grants must be exactly what the code sends. */
const DATA_SERVICES = ['dynamodb:', 'secretsmanager:', 'lambda:', 'sts:'];
const isDataAction = (action: string) => DATA_SERVICES.some((prefix) => action.startsWith(prefix));

/** Who holds grants: each function's own role, and the tenant access role both assume per tenant. */
type Principal = EmittingFunction | 'tenant';
const ROLES: Record<Principal, string> = {
  token: 'TokenVending/TokenFunction/Role/Resource',
  warmer: 'TokenVending/WarmerFunction/Role/Resource',
  tenant: 'TokenVending/TenantAccessRole/Role/Resource',
};

/**
 * Tenant data: a tenant's secret, and any DynamoDB action on items (every one that carries a
 * partition key, `dynamodb:LeadingKeys`). These belong to the tenant access role, whoever sends
 * them; listing the table (Scan) and invoking the warmer are a function's own business.
 */
const TENANT_ITEM_ACTION = /^dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem|BatchGetItem|BatchWriteItem|Query|ConditionCheckItem)$/;
const isTenantScoped = (action: string) => action.startsWith('secretsmanager:') || TENANT_ITEM_ACTION.test(action);
/** What a function needs for a tenant session: AssumeRole, with a session tag. */
const SESSION_ACTIONS = ['sts:AssumeRole', 'sts:TagSession'];

const sortedUnique = (actions: Iterable<string>) => [...new Set(actions)].sort();

/**
 * The grants each principal must hold, from what the functions were observed sending: the tenant
 * access role gets the tenant-scoped actions (the rule above), sent with tenant sessions or not;
 * each function's role gets the rest of what it sent with its own credentials, plus tenant sessions.
 */
function expectedGrants(observed: ObservedRun): Record<Principal, string[]> {
  const own = (fn: EmittingFunction) => sortedUnique([...observed.actions[fn].filter((a) => !isTenantScoped(a)), ...SESSION_ACTIONS]);
  return {
    token: own('token'),
    warmer: own('warmer'),
    tenant: sortedUnique([...observed.tenantActions, ...observed.actions.token, ...observed.actions.warmer].filter(isTenantScoped)),
  };
}

/** The DynamoDB, Secrets Manager, Lambda and STS actions a role is allowed, sorted. */
function grantedDataActions(synth: Synthesized, principal: Principal): string[] {
  const roleId = resourceAt(synth.json, ROLES[principal]).logicalId;
  const actions = statementsOfRole(synth.json, roleId)
    .filter((s) => s.statement.Effect === 'Allow')
    .flatMap((s) => asList(s.statement.Action))
    .filter(isDataAction);
  return sortedUnique(actions);
}

test('the observed run saw both functions talk to DynamoDB and Secrets Manager, and the token function hand refreshes to the warmer', () => {
  const sent = [...observed.commands.token, ...observed.commands.warmer, ...observed.tenantCommands];
  expect(sent).toEqual(expect.arrayContaining(['DynamoDBClient GetItemCommand', 'SecretsManagerClient GetSecretValueCommand']));
  expect(observed.commands.token).toEqual(expect.arrayContaining(['LambdaClient InvokeCommand']));
  expect(observed.commands.warmer).toEqual(expect.arrayContaining(['DynamoDBClient ScanCommand']));
});

test('the functions send every tenant-scoped call with a tenant session, each for its own tenant', () => {
  // Their own roles hold no such grant: one sent with the function's own credentials would fail in AWS.
  expect({ token: observed.actions.token.filter(isTenantScoped), warmer: observed.actions.warmer.filter(isTenantScoped) }).toEqual({ token: [], warmer: [] });
  expect(observed.tenantActions.filter((a) => !isTenantScoped(a))).toEqual([]);
  expect(observed.crossTenantCalls).toEqual([]);
});

test.each([
  ['default', () => standard],
  ['hardened', () => hardened],
])('each role in the %s template is allowed exactly the DynamoDB, Secrets Manager, Lambda and STS actions the code sends with it', (_, synth) => {
  const expected = expectedGrants(observed);
  for (const principal of ['token', 'warmer', 'tenant'] as const) {
    // Labelled, so that a failure names the role.
    expect({ role: principal, granted: grantedDataActions(synth(), principal) }).toEqual({ role: principal, granted: expected[principal] });
  }
});

test('no other principal of the stack is allowed any DynamoDB, Secrets Manager, Lambda or STS action', () => {
  for (const synth of [standard, hardened]) {
    const key = (s: FoundStatement) => `${s.logicalId} ${s.at} ${JSON.stringify(s.statement)}`;
    const functionStatements = new Set(
      Object.values(ROLES).flatMap((suffix) => statementsOfRole(synth.json, resourceAt(synth.json, suffix).logicalId).map(key)),
    );
    const elsewhere = identityStatements(synth.json)
      .filter((s) => !functionStatements.has(key(s)) && s.statement.Effect === 'Allow' && asList(s.statement.Action).some(isDataAction))
      .map((s) => `${s.logicalId} ${s.at}: ${asList(s.statement.Action).join(', ')}`);
    expect(elsewhere).toEqual([]);
  }
});

test('DynamoDB access is on the token table only', () => {
  for (const synth of [standard, hardened]) {
    const table = resourceAt(synth.json, 'TokenVending/Store/Table/Resource').logicalId;
    const dynamo = identityStatements(synth.json).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.length).toBeGreaterThan(0);
    for (const s of dynamo) expect(resourcesOf(s)).toEqual([`\${${table}.Arn}`]);
  }
});

test('the token function may invoke the warmer by its exact ARN, and nothing else may', () => {
  for (const synth of [standard, hardened]) {
    const lambda = identityStatements(synth.json).filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(lambda).toHaveLength(1);
    const [statement] = lambda;
    const warmer = resourceAt(synth.json, 'TokenVending/WarmerFunction/Function/Resource').logicalId;
    // The unqualified ARN only: no `:*` for versions and aliases, no other function.
    expect(resourcesOf(statement!)).toEqual([`\${${warmer}.Arn}`]);
    expect(statement!.statement.Effect).toBe('Allow');
    const tokenRole = resourceAt(synth.json, 'TokenVending/TokenFunction/Role/Resource').logicalId;
    const policy = synth.json.Resources[statement!.logicalId]!;
    expect(policy.Type).toBe('AWS::IAM::Policy');
    expect(policy.Properties!.Roles).toEqual([{ Ref: tokenRole }]);
  }
});

test('the table key is usable only through DynamoDB: by the tenant access role for items, by the warmer for its Scan (read only)', () => {
  const key = resourceAt(standard.json, 'TokenVending/Store/TableKey/Resource').logicalId;
  const kms = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
  const principalOf = (roleId: string) => (Object.keys(ROLES) as Principal[]).find((p) => resourceAt(standard.json, ROLES[p]).logicalId === roleId);
  expect(Object.fromEntries(kms.map((s) => [rolesOfStatement(standard.json, s).map(principalOf).join(), actionsOf(s).sort()]))).toEqual({
    tenant: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
    warmer: ['kms:Decrypt', 'kms:DescribeKey'],
  });
  for (const s of kms) {
    expect(resourcesOf(s)).toEqual([`\${${key}.Arn}`]);
    expect(render(s.statement.Condition!.StringEquals!['kms:ViaService'])).toBe('dynamodb.${AWS::Region}.amazonaws.com');
  }
});

test('customer managed secret keys are opt-in, and usable only through Secrets Manager for the session tenant’s secret', () => {
  const viaSecretsManager = (synth: Synthesized) =>
    identityStatements(synth.json).filter((s) => render(s.statement.Condition?.StringEquals?.['kms:ViaService']).startsWith('secretsmanager.'));
  expect(viaSecretsManager(standard)).toEqual([]);
  const [statement] = viaSecretsManager(hardened);
  expect(statement).toBeDefined();
  expect(actionsOf(statement!)).toEqual(['kms:Decrypt']);
  expect(resourcesOf(statement!)).toEqual([SECRET_KEY_ARN]);
  expect(render(statement!.statement.Condition!.StringLike!['kms:EncryptionContext:SecretARN'])).toBe(
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:acme-corp/ekuaibao/${aws:PrincipalTag/tenantId}-??????',
  );
});

test('key policies delegate to IAM policies of this account with explicit actions, let only AWS services create grants, and name no other account', () => {
  const keyStatements = allStatements(hardened.json).filter((s) => s.type === 'AWS::KMS::Key');
  const keys = new Set(keyStatements.map((s) => s.logicalId));
  expect(keys.size).toBe(2); // the table key, the telemetry key (log groups, alarm topic)
  const delegations = keyStatements.filter((s) => s.statement.Sid === 'DelegateKeyUseToIamPoliciesOfThisAccount');
  expect(delegations).toHaveLength(2);
  for (const s of delegations) {
    expect(render((s.statement.Principal as { AWS: unknown }).AWS)).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:root');
    expect(actionsOf(s)).toEqual([...KEY_ACTIONS_DELEGATED_TO_IAM]);
  }
  const grantGuards = keyStatements.filter((s) => s.statement.Sid === 'GrantsOnlyForAwsResources');
  expect(grantGuards).toHaveLength(2);
  for (const s of grantGuards) {
    expect(s.statement).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:CreateGrant',
      Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
    });
  }
  const services = keyStatements.filter((s) => !['DelegateKeyUseToIamPoliciesOfThisAccount', 'GrantsOnlyForAwsResources'].includes(String(s.statement.Sid)));
  expect(services.map((s) => render((s.statement.Principal as { Service: unknown }).Service)).sort()).toEqual([
    'cloudwatch.amazonaws.com',
    'logs.${AWS::Region}.amazonaws.com',
  ]);
  // CloudWatch Logs may use the key for this account's log groups only.
  const logs = services.find((s) => render((s.statement.Principal as { Service: unknown }).Service).startsWith('logs.'))!;
  expect(render((logs.statement.Condition as { ArnLike: Record<string, unknown> }).ArnLike['kms:EncryptionContext:aws:logs:arn'])).toBe(
    'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*',
  );
});

test('the functions use no AWS managed policy; the only one is API Gateway’s account logging role', () => {
  const roles = standard.template.findResources('AWS::IAM::Role');
  const managed = Object.entries(roles).flatMap(([id, role]) =>
    asList(role.Properties.ManagedPolicyArns as unknown[]).map(render).filter((arn) => arn.includes(':iam::aws:policy/')).map((arn) => `${id} ${arn}`),
  );
  expect(managed).toEqual([
    expect.stringMatching(/^TokenVendingApiCloudWatchRole\w+ arn:\$\{AWS::Partition\}:iam::aws:policy\/service-role\/AmazonAPIGatewayPushToCloudWatchLogs$/),
  ]);
});
