import { KEY_ACTIONS_DELEGATED_TO_IAM } from '../../lib/key-policy';
import { VPC_ACCESS_ACTIONS } from '../../lib/token-functions';
import { observeRun, type EmittingFunction, type ObservedRun } from '../support/observed-run';
import { HARDENED_CONTEXT, SECRET_KEY_ARN } from './support/contexts';
import { synthesize, type Synthesized, type TemplateJson } from './support/synth';
import { allStatements, asList, identityStatements, render, resourceAt, type FoundStatement } from './support/template';

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

test('secret access is on the prefix ARN pattern only (the actions are the ones the functions send, below)', () => {
  const secretStatements = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
  expect(secretStatements).toHaveLength(1);
  expect(resourcesOf(secretStatements[0]!)).toEqual([
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:ekuaibao/tenants/*',
  ]);
});

test('secret access follows the secretPrefix context key', () => {
  const secretStatements = identityStatements(hardened.json).filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));
  expect(secretStatements.flatMap(resourcesOf)).toEqual([
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:acme-corp/ekuaibao/*',
  ]);
  const env = (resourceAt(hardened.json, 'TokenVending/TokenFunction/Function/Resource').resource.Properties!.Environment as {
    Variables: Record<string, string>;
  }).Variables;
  expect(env.TENANT_SECRET_PREFIX).toBe('acme-corp/ekuaibao/');
});

/** The services whose grants must be exactly what the code sends. */
const DATA_SERVICES = ['dynamodb:', 'secretsmanager:', 'lambda:'];
const isDataAction = (action: string) => DATA_SERVICES.some((prefix) => action.startsWith(prefix));

const FUNCTION_ROLES: Record<EmittingFunction, string> = {
  token: 'TokenVending/TokenFunction/Role/Resource',
  warmer: 'TokenVending/WarmerFunction/Role/Resource',
};

/**
 * Every identity statement that applies to a role: its inline policies, the IAM policies attached
 * to it, and the managed policies it lists or that list it.
 */
function statementsOfRole(json: TemplateJson, roleId: string): FoundStatement[] {
  const managedArns = asList(json.Resources[roleId]!.Properties?.ManagedPolicyArns as unknown[]).map(render);
  return identityStatements(json).filter((s) => {
    const attachedTo = asList(json.Resources[s.logicalId]!.Properties?.Roles as unknown[]).map(render);
    switch (s.type) {
      case 'AWS::IAM::Role':
        return s.logicalId === roleId;
      case 'AWS::IAM::Policy':
        return attachedTo.includes(`\${${roleId}}`);
      case 'AWS::IAM::ManagedPolicy':
        return attachedTo.includes(`\${${roleId}}`) || managedArns.includes(`\${${s.logicalId}}`);
      default:
        return false;
    }
  });
}

/** The DynamoDB, Secrets Manager and Lambda actions a function's role is allowed, sorted. */
function grantedDataActions(synth: Synthesized, fn: EmittingFunction): string[] {
  const roleId = resourceAt(synth.json, FUNCTION_ROLES[fn]).logicalId;
  const actions = statementsOfRole(synth.json, roleId)
    .filter((s) => s.statement.Effect === 'Allow')
    .flatMap((s) => asList(s.statement.Action))
    .filter(isDataAction);
  return [...new Set(actions)].sort();
}

test('the observed run saw both functions talk to DynamoDB and Secrets Manager, and the token function hand refreshes to the warmer', () => {
  expect(observed.commands.token).toEqual(expect.arrayContaining(['DynamoDBClient GetItemCommand', 'LambdaClient InvokeCommand']));
  expect(observed.commands.warmer).toEqual(expect.arrayContaining(['DynamoDBClient ScanCommand', 'SecretsManagerClient GetSecretValueCommand']));
});

test.each([
  ['default', () => standard],
  ['hardened', () => hardened],
])('each function’s role in the %s template is allowed exactly the DynamoDB, Secrets Manager and Lambda actions its code sends', (_, synth) => {
  for (const fn of ['token', 'warmer'] as const) {
    // Labelled, so that a failure names the function.
    expect({ function: fn, granted: grantedDataActions(synth(), fn) }).toEqual({ function: fn, granted: [...observed.actions[fn]] });
  }
});

test('no other principal of the stack is allowed any DynamoDB, Secrets Manager or Lambda action', () => {
  for (const synth of [standard, hardened]) {
    const key = (s: FoundStatement) => `${s.logicalId} ${s.at} ${JSON.stringify(s.statement)}`;
    const functionStatements = new Set(
      Object.values(FUNCTION_ROLES).flatMap((suffix) => statementsOfRole(synth.json, resourceAt(synth.json, suffix).logicalId).map(key)),
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

test('the table key is usable only through DynamoDB', () => {
  const key = resourceAt(standard.json, 'TokenVending/Store/TableKey/Resource').logicalId;
  const kms = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
  expect(kms).toHaveLength(1);
  expect(resourcesOf(kms[0]!)).toEqual([`\${${key}.Arn}`]);
  expect(render(kms[0]!.statement.Condition!.StringEquals!['kms:ViaService'])).toBe('dynamodb.${AWS::Region}.amazonaws.com');
});

test('customer managed secret keys are opt-in, and usable only through Secrets Manager for tenant secrets', () => {
  const viaSecretsManager = (synth: Synthesized) =>
    identityStatements(synth.json).filter((s) => render(s.statement.Condition?.StringEquals?.['kms:ViaService']).startsWith('secretsmanager.'));
  expect(viaSecretsManager(standard)).toEqual([]);
  const [statement] = viaSecretsManager(hardened);
  expect(statement).toBeDefined();
  expect(actionsOf(statement!)).toEqual(['kms:Decrypt']);
  expect(resourcesOf(statement!)).toEqual([SECRET_KEY_ARN]);
  expect(render(statement!.statement.Condition!.StringLike!['kms:EncryptionContext:SecretARN'])).toBe(
    'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:acme-corp/ekuaibao/*',
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
