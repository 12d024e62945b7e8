import { Match } from 'aws-cdk-lib/assertions';
import { App, Stack } from 'aws-cdk-lib';
import { Role, AccountPrincipal } from 'aws-cdk-lib/aws-iam';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCESS_LOG_FIELDS, GATEWAY_ERRORS } from '../../lib/token-api';
import { EkuaibaoTokenVending } from '../../lib/token-vending';
import { HARDENED_CONTEXT } from './support/contexts';
import { logicalIdsOfType, synthesize, tempOutdir, type Synthesized } from './support/synth';
import { render, resourceAt } from './support/template';
import { TOKEN_ANSWER_SCHEMA } from '../../functions/token/response-schemas';

let standard: Synthesized;
let hardened: Synthesized;

beforeAll(() => {
  standard = synthesize();
  hardened = synthesize(HARDENED_CONTEXT);
});

describe('routes', () => {
  test('exposes exactly GET /tenants/{tenantId}/token and POST /tenants/{tenantId}/token/invalidate', () => {
    const methods = standard.template.findResources('AWS::ApiGateway::Method');
    const routes = Object.values(methods).map((m) => {
      const props = m.Properties as { HttpMethod: string; ResourceId: { Ref: string } };
      const resourcePath = String((standard.json.Resources[props.ResourceId.Ref]!.Metadata as Record<string, string>)['aws:cdk:path']);
      return `${props.HttpMethod} ${resourcePath.replace(/^.*\/Api\/Api\/Default/, '').replace(/\/Resource$/, '')}`;
    });
    expect(routes.sort()).toEqual(['GET /tenants/{tenantId}/token', 'POST /tenants/{tenantId}/token/invalidate']);
  });

  test('every API method requires IAM (SigV4) authorization', () => {
    for (const synth of [standard, hardened]) {
      const methods = Object.values(synth.template.findResources('AWS::ApiGateway::Method'));
      expect(methods.length).toBeGreaterThan(0);
      for (const method of methods) expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
    }
  });

  test('both routes are Lambda proxy integrations of the token function', () => {
    const tokenFn = resourceAt(standard.json, 'TokenVending/TokenFunction/Function/Resource').logicalId;
    const methods = Object.values(standard.template.findResources('AWS::ApiGateway::Method'));
    for (const method of methods) {
      const integration = method.Properties.Integration as { Type: string; IntegrationHttpMethod: string; Uri: unknown };
      expect(integration.Type).toBe('AWS_PROXY');
      expect(integration.IntegrationHttpMethod).toBe('POST');
      expect(render(integration.Uri)).toContain(`\${${tokenFn}.Arn}/invocations`);
    }
  });

  test('API Gateway validates the tenantId path parameter on both routes', () => {
    const [validatorId] = logicalIdsOfType(standard.json, 'AWS::ApiGateway::RequestValidator');
    standard.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestParameters: true });
    standard.template.resourcePropertiesCountIs(
      'AWS::ApiGateway::Method',
      {
        RequestParameters: { 'method.request.path.tenantId': true },
        RequestValidatorId: { Ref: validatorId },
      },
      2,
    );
  });

  test('the invalidate body is validated against {"accessToken": string}', () => {
    standard.template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.objectLike({ required: ['accessToken'], properties: { accessToken: Match.objectLike({ type: 'string' }) } }),
    });
  });
});

test('both routes document a token answer on 200 and the error shape on every error status', () => {
  const models = standard.template.findResources('AWS::ApiGateway::Model');
  const idOf = (title: string) => Object.keys(models).find((id) => models[id]!.Properties.Schema.title === title)!;
  expect(models[idOf('Token')]!.Properties.Schema.required).toEqual([...TOKEN_ANSWER_SCHEMA.required]);
  const methods = standard.template.findResources('AWS::ApiGateway::Method', { Properties: { AuthorizationType: 'AWS_IAM' } });
  expect(Object.keys(methods)).toHaveLength(2);
  for (const method of Object.values(methods)) {
    const responses = method.Properties.MethodResponses as Array<{ StatusCode: string; ResponseModels: Record<string, { Ref: string }> }>;
    const modelOf = (status: string) => responses.find((r) => r.StatusCode === status)?.ResponseModels['application/json']?.Ref;
    expect(modelOf('200')).toBe(idOf('Token'));
    for (const status of ['400', '403', '404', '429', '500', '502', '503', '504']) expect(modelOf(status)).toBe(idOf('Error'));
  }
});

describe('errors answered by API Gateway', () => {
  test.each([
    ['DEFAULT_4XX', 'REQUEST_REJECTED'],
    ['DEFAULT_5XX', 'GATEWAY_ERROR'],
    ['MISSING_AUTHENTICATION_TOKEN', 'ACCESS_DENIED'],
    ['ACCESS_DENIED', 'ACCESS_DENIED'],
    ['THROTTLED', 'THROTTLED'],
    ['BAD_REQUEST_PARAMETERS', 'INVALID_TENANT_ID'],
    ['INTEGRATION_TIMEOUT', 'GATEWAY_TIMEOUT'],
  ])('%s answers the service error shape with code %s', (type, code) => {
    const responses = standard.template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } });
    const [response] = Object.values(responses);
    expect(response).toBeDefined();
    const props = response!.Properties as { ResponseTemplates: Record<string, string>; ResponseParameters: Record<string, string> };
    expect(props.ResponseParameters['gatewayresponse.header.Content-Type']).toBe("'application/json'");
    // What API Gateway renders: $context.error.messageString is a quoted JSON string.
    const rendered = props.ResponseTemplates['application/json']!
      .replace('$context.error.messageString', JSON.stringify('Forbidden'))
      .replace('$context.requestId', 'c0ffee00-0000-4000-8000-000000000000');
    expect(JSON.parse(rendered)).toEqual({
      error: { code, message: 'Forbidden', requestId: 'c0ffee00-0000-4000-8000-000000000000' },
    });
  });

  test('every mapped gateway error is in the template', () => {
    standard.template.resourceCountIs('AWS::ApiGateway::GatewayResponse', GATEWAY_ERRORS.length);
  });
});

describe('stage', () => {
  test('is throttled with the configured rate and burst', () => {
    standard.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 })],
    });
    hardened.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })],
    });
  });

  test('traces with X-Ray and never logs request or response bodies', () => {
    standard.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      MethodSettings: [Match.objectLike({ DataTraceEnabled: false, LoggingLevel: 'ERROR', MetricsEnabled: true })],
    });
  });

  test('writes JSON access logs to a log group with retention', () => {
    const stage = Object.values(standard.template.findResources('AWS::ApiGateway::Stage'))[0]!;
    const setting = stage.Properties.AccessLogSetting as { Format: string; DestinationArn: unknown };
    expect(JSON.parse(setting.Format)).toEqual(ACCESS_LOG_FIELDS);
    expect(setting.Format).not.toMatch(/\$input|\$context\.authorizer|body/i);
    const accessLogs = resourceAt(standard.json, 'TokenVending/Api/AccessLogs/Resource');
    expect(render(setting.DestinationArn)).toContain(`:log-group:\${${accessLogs.logicalId}}`);
    expect(accessLogs.resource.Properties!.RetentionInDays).toBe(365);
    expect(render(accessLogs.resource.Properties!.KmsKeyId)).toMatch(/^\$\{TokenVendingTelemetryKey\w+\.Arn\}$/);
  });

  test('pre-creates the execution log group with retention, before the stage', () => {
    const exec = resourceAt(standard.json, 'TokenVending/Api/ExecutionLogs/Resource');
    expect(render(exec.resource.Properties!.LogGroupName)).toMatch(/^API-Gateway-Execution-Logs_\$\{TokenVendingApi\w+\}\/v1$/);
    expect(exec.resource.Properties!.RetentionInDays).toBe(365);
    expect(render(exec.resource.Properties!.KmsKeyId)).toMatch(/^\$\{TokenVendingTelemetryKey\w+\.Arn\}$/);
    const stage = resourceAt(standard.json, 'TokenVending/Api/Api/DeploymentStage.v1/Resource');
    expect(stage.resource.DependsOn).toContain(exec.logicalId);
  });

  test('sets the account-level CloudWatch role that API Gateway logging needs, and keeps it on delete', () => {
    standard.template.resourceCountIs('AWS::ApiGateway::Account', 1);
    const role = resourceAt(standard.json, 'TokenVending/Api/Api/CloudWatchRole/Resource');
    expect(role.resource.DeletionPolicy).toBe('Retain');
    const opted = synthesize({ manageApiGatewayAccountRole: 'false' });
    opted.template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('endpoint and resource policy', () => {
  test('is a regional API with no resource policy by default', () => {
    standard.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
      Policy: Match.absent(),
    });
  });

  test('can be private, reachable only through the given VPC endpoints', () => {
    hardened.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: ['vpce-0123456789abcdef0', 'vpce-0fedcba9876543210'] },
      Policy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'execute-api:Invoke',
            Resource: 'execute-api:/*',
            Condition: { StringNotEquals: { 'aws:SourceVpce': ['vpce-0123456789abcdef0', 'vpce-0fedcba9876543210'] } },
          }),
        ]),
      },
    });
  });

  test('can limit callers to given accounts, and never grants to everyone', () => {
    const api = Object.values(hardened.template.findResources('AWS::ApiGateway::RestApi'))[0]!;
    const statements = (api.Properties.Policy as { Statement: Array<Record<string, unknown>> }).Statement;
    const deny = statements.find((s) => s.Sid === 'DenyCallersOfOtherAccounts')!;
    expect(deny.Effect).toBe('Deny');
    expect((deny.Condition as Record<string, Record<string, unknown[]>>).StringNotEquals!['aws:PrincipalAccount']).toEqual([
      { Ref: 'AWS::AccountId' },
      '444455556666',
      '777788889999',
    ]);
    for (const allow of statements.filter((s) => s.Effect === 'Allow')) {
      expect(JSON.stringify(allow.Principal)).not.toMatch(/"\*"/);
    }
  });
});

describe('WAF', () => {
  const webAclOf = (synth: typeof standard) => Object.values(synth.template.findResources('AWS::WAFv2::WebACL'))[0]!.Properties as {
    Rules: Array<{ Name: string; Priority: number; Action: unknown; Statement: { RateBasedStatement: Record<string, unknown> } }>;
    CustomResponseBodies: Record<string, { ContentType: string; Content: string }>;
  };

  test('every tenant route has a rate limit of its own: a regional web ACL aggregated on the URL-decoded path, attached to the stage', () => {
    standard.template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    const acl = webAclOf(standard);
    expect(acl.Rules).toEqual([
      expect.objectContaining({
        Name: 'RateLimitPerTenantRoute',
        Priority: 0,
        Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'throttled' } } },
        Statement: {
          RateBasedStatement: {
            Limit: 300,
            EvaluationWindowSec: 60,
            AggregateKeyType: 'CUSTOM_KEYS',
            CustomKeys: [{ UriPath: { TextTransformations: [{ Priority: 0, Type: 'URL_DECODE' }] } }],
          },
        },
      }),
    ]);
    // Over the limit a caller gets the service's error shape, with a code the client library retries.
    const body = JSON.parse(acl.CustomResponseBodies.throttled!.Content) as { error: { code: string; message: string; requestId: string } };
    expect(acl.CustomResponseBodies.throttled!.ContentType).toBe('APPLICATION_JSON');
    expect(body.error.code).toBe('THROTTLED');
    const stage = resourceAt(standard.json, 'TokenVending/Api/Api/DeploymentStage.v1/Resource').logicalId;
    const association = Object.values(standard.template.findResources('AWS::WAFv2::WebACLAssociation'))[0]!;
    expect(render(association.Properties.ResourceArn)).toContain(`/stages/\${${stage}}`);
  });

  test('tenantRateLimit sets the per-tenant limit', () => {
    const acl = webAclOf(synthesize({ tenantRateLimit: '60' }));
    expect(acl.Rules[0]!.Statement.RateBasedStatement.Limit).toBe(60);
    expect(() => synthesize({ tenantRateLimit: '5' })).toThrow(/"tenantRateLimit"/);
  });

  test('with wafRateLimit, a second rule also limits each source IP', () => {
    const acl = webAclOf(hardened);
    expect(acl.Rules.map((r) => r.Name)).toEqual(['RateLimitPerTenantRoute', 'RateLimitPerSourceIp']);
    expect(acl.Rules[1]).toEqual(
      expect.objectContaining({ Action: { Block: {} }, Statement: { RateBasedStatement: { Limit: 600, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } } }),
    );
  });
});

describe('per-tenant access', () => {
  test('the ExampleCallerPolicy output grants execute-api:Invoke on one tenant route ARNs only', () => {
    const output = standard.json.Outputs!.ExampleCallerPolicy!;
    const policy = JSON.parse(render(output.Value)) as { Version: string; Statement: Array<{ Effect: string; Action: string; Resource: string[] }> };
    const api = logicalIdsOfType(standard.json, 'AWS::ApiGateway::RestApi')[0];
    const stage = resourceAt(standard.json, 'TokenVending/Api/Api/DeploymentStage.v1/Resource').logicalId;
    const arn = `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${api}}/\${${stage}}`;
    expect(policy.Version).toBe('2012-10-17');
    expect(policy.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'execute-api:Invoke',
        Resource: [`${arn}/GET/tenants/TENANT_ID/token`, `${arn}/POST/tenants/TENANT_ID/token/invalidate`],
      }),
    ]);
  });

  test('grantTenantAccess gives a role both routes of one tenant and nothing else', () => {
    const stack = new Stack(new App({ outdir: tempOutdir(), context: { 'aws:cdk:bundling-stacks': [] } }), 'Consumer');
    const vending = new EkuaibaoTokenVending(stack, 'TokenVending');
    const caller = new Role(stack, 'Caller', { assumedBy: new AccountPrincipal('111122223333') });
    vending.grantTenantAccess(caller, 'acme');
    expect(() => vending.grantTenantAccess(caller, '*')).toThrow(/tenantId/);
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(caller.node.defaultChild as never) }] },
    }))[0]!;
    const statements = (policy.Properties.PolicyDocument as { Statement: Array<{ Action: string; Resource: unknown[] }> }).Statement;
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toBe('execute-api:Invoke');
    expect(statements[0]!.Resource.map(render).map((r) => r.replace(/^.*\}\/\$\{[^}]+\}/, ''))).toEqual([
      '/GET/tenants/acme/token',
      '/POST/tenants/acme/token/invalidate',
    ]);
  });
});
