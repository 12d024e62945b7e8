import { THROWAWAY_CONTEXT } from './support/contexts';
import { synthesize, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';

let standard: Synthesized;
let throwaway: Synthesized;

beforeAll(() => {
  standard = synthesize();
  throwaway = synthesize(THROWAWAY_CONTEXT);
});

test('keys tokens by tenantId alone, on demand, expiring through the ttl attribute', () => {
  standard.template.resourceCountIs('AWS::DynamoDB::Table', 1);
  standard.template.hasResourceProperties('AWS::DynamoDB::Table', {
    KeySchema: [{ AttributeName: 'tenantId', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'tenantId', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
    TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
  });
});

test('has point-in-time recovery', () => {
  standard.template.hasResourceProperties('AWS::DynamoDB::Table', {
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
  });
});

test('is encrypted with its own customer managed key, which rotates', () => {
  const key = resourceAt(standard.json, 'TokenVending/Store/TableKey/Resource');
  expect(key.resource.Properties!.EnableKeyRotation).toBe(true);
  const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource');
  expect(table.resource.Properties!.SSESpecification).toEqual({
    SSEEnabled: true,
    SSEType: 'KMS',
    KMSMasterKeyId: { 'Fn::GetAtt': [key.logicalId, 'Arn'] },
  });
});

test('is retained, with deletion protection, by default', () => {
  const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource').resource;
  expect(table.Properties!.DeletionProtectionEnabled).toBe(true);
  expect(table.DeletionPolicy).toBe('Retain');
  expect(table.UpdateReplacePolicy).toBe('Retain');
  expect(resourceAt(standard.json, 'TokenVending/Store/TableKey/Resource').resource.DeletionPolicy).toBe('Retain');
});

test('retainOnDelete=false makes a throwaway stack: no protection, everything deleted', () => {
  const table = resourceAt(throwaway.json, 'TokenVending/Store/Table/Resource').resource;
  expect(table.Properties!.DeletionProtectionEnabled).toBe(false);
  expect(table.DeletionPolicy).toBe('Delete');
  expect(resourceAt(throwaway.json, 'TokenVending/Store/TableKey/Resource').resource.DeletionPolicy).toBe('Delete');
  for (const [, logGroup] of Object.entries(throwaway.template.findResources('AWS::Logs::LogGroup'))) {
    expect(logGroup.DeletionPolicy).toBe('Delete');
  }
});

test('the TableName output names the table', () => {
  const table = resourceAt(standard.json, 'TokenVending/Store/Table/Resource').logicalId;
  expect(render(standard.json.Outputs!.TableName!.Value)).toBe(`\${${table}}`);
});
