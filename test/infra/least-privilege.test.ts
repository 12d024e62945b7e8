import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { KEY_ACTIONS_DELEGATED_TO_IAM } from '../../lib/key-policy';
import { REPO_ROOT } from '../../lib/paths';
import { TOKEN_TABLE_ACTIONS } from '../../lib/token-store';
import { HARDENED_CONTEXT, SECRET_KEY_ARN } from './support/contexts';
import { synthesize, type Synthesized } from './support/synth';
import { allStatements, asList, identityStatements, render, resourceAt, type FoundStatement } from './support/template';

let standard: Synthesized;
let hardened: Synthesized;

beforeAll(() => {
  standard = synthesize();
  hardened = synthesize({ ...HARDENED_CONTEXT, secretPrefix: 'acme-corp/ekuaibao/' });
});

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

test('the only identity statements on Resource * are the X-Ray ones Lambda tracing needs', () => {
  for (const synth of [standard, hardened]) {
    const onEverything = identityStatements(synth.json).filter((s) => resourcesOf(s).includes('*'));
    expect(onEverything.length).toBe(2);
    for (const s of onEverything) expect(actionsOf(s).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  }
});

test('secret access is GetSecretValue on the prefix ARN pattern only', () => {
  const secretStatements = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
  expect(secretStatements).toHaveLength(1);
  expect(actionsOf(secretStatements[0]!)).toEqual(['secretsmanager:GetSecretValue']);
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

test('DynamoDB access is exactly the actions used, on the token table only', () => {
  const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource').logicalId;
  const dynamo = identityStatements(standard.json).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
  expect(dynamo).toHaveLength(1);
  expect(actionsOf(dynamo[0]!).sort()).toEqual([...TOKEN_TABLE_ACTIONS].sort());
  expect(resourcesOf(dynamo[0]!)).toEqual([`\${${table}.Arn}`]);
});

/** The IAM action each AWS SDK Lambda command needs (Service Authorization Reference, AWS Lambda). */
const LAMBDA_COMMAND_ACTIONS: Record<string, string> = {
  InvokeCommand: 'lambda:InvokeFunction',
  InvokeWithResponseStreamCommand: 'lambda:InvokeFunction',
};

/** The `@aws-sdk/client-lambda` commands that the function code (functions/) imports. */
function lambdaCommandsTheFunctionsSend(): string[] {
  const dir = path.join(REPO_ROOT, 'functions');
  const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const commands = sources.flatMap((file) =>
    // Value imports and re-exports only: a type-only import sends nothing.
    [...readFileSync(path.join(dir, file), 'utf8').matchAll(/(?:import|export)\s*\{([^}]*)\}\s*from\s*['"]@aws-sdk\/client-lambda['"]/g)].flatMap((m) =>
      m[1]!
        .split(',')
        .map((name) => name.trim())
        .filter((name) => !name.startsWith('type '))
        .map((name) => name.split(/\s+as\s+/)[0]!)
        .filter((name) => name.endsWith('Command')),
    ),
  );
  return [...new Set(commands)].sort();
}

test('the token function may invoke the warmer by its exact ARN, with the actions its code sends, and nothing else may', () => {
  const sent = lambdaCommandsTheFunctionsSend();
  expect(sent).not.toEqual([]);
  const needed = [...new Set(sent.map((command) => LAMBDA_COMMAND_ACTIONS[command] ?? `(no IAM action known for ${command})`))].sort();
  for (const synth of [standard, hardened]) {
    const lambda = identityStatements(synth.json).filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(lambda).toHaveLength(1);
    const [statement] = lambda;
    expect(actionsOf(statement!).sort()).toEqual(needed);
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

test('key policies delegate to IAM policies of this account with explicit actions, and name no other account', () => {
  const keyStatements = allStatements(hardened.json).filter((s) => s.type === 'AWS::KMS::Key');
  const delegations = keyStatements.filter((s) => s.statement.Sid === 'DelegateKeyUseToIamPoliciesOfThisAccount');
  expect(delegations).toHaveLength(2); // table key, alarm topic key
  for (const s of delegations) {
    expect(render((s.statement.Principal as { AWS: unknown }).AWS)).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:root');
    expect(actionsOf(s)).toEqual([...KEY_ACTIONS_DELEGATED_TO_IAM]);
  }
  const services = keyStatements.filter((s) => s.statement.Sid !== 'DelegateKeyUseToIamPoliciesOfThisAccount');
  expect(services.map((s) => s.statement.Principal)).toEqual([{ Service: 'cloudwatch.amazonaws.com' }]);
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
