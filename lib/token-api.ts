import { Aws, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  type JsonSchema,
  JsonSchemaType,
  JsonSchemaVersion,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Method,
  Model,
  RequestValidator,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import { InterfaceVpcEndpoint } from 'aws-cdk-lib/aws-ec2';
import { AccountPrincipal, AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnPermission, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { ROUTES, route, type RouteName, routePath } from '../contract/routes';
import { STATUS_BY_CODE } from '../functions/token/error-response';
import { ERROR_ANSWER_SCHEMA, TOKEN_ANSWER_SCHEMA } from '../functions/token/response-schemas';

/** The service's error shape, for errors that API Gateway answers before the function runs. */
export interface GatewayError {
  readonly type: ResponseType;
  readonly code: string;
}

/**
 * API Gateway's own rejections, mapped to the stable codes callers switch on. A 403 from
 * the gateway is always ACCESS_DENIED (unsigned, badly signed, not allowed, unknown route),
 * whatever API Gateway's message says.
 */
export const GATEWAY_ERRORS: readonly GatewayError[] = [
  { type: ResponseType.DEFAULT_4XX, code: 'REQUEST_REJECTED' },
  { type: ResponseType.DEFAULT_5XX, code: 'GATEWAY_ERROR' },
  { type: ResponseType.ACCESS_DENIED, code: 'ACCESS_DENIED' },
  { type: ResponseType.MISSING_AUTHENTICATION_TOKEN, code: 'ACCESS_DENIED' },
  { type: ResponseType.INVALID_SIGNATURE, code: 'ACCESS_DENIED' },
  { type: ResponseType.EXPIRED_TOKEN, code: 'ACCESS_DENIED' },
  { type: ResponseType.UNAUTHORIZED, code: 'ACCESS_DENIED' },
  { type: ResponseType.WAF_FILTERED, code: 'ACCESS_DENIED' },
  { type: ResponseType.THROTTLED, code: 'THROTTLED' },
  { type: ResponseType.QUOTA_EXCEEDED, code: 'THROTTLED' },
  { type: ResponseType.RESOURCE_NOT_FOUND, code: 'NOT_FOUND' },
  // The same codes the function uses for the same mistakes.
  { type: ResponseType.BAD_REQUEST_PARAMETERS, code: 'INVALID_TENANT_ID' },
  { type: ResponseType.BAD_REQUEST_BODY, code: 'INVALID_REQUEST_BODY' },
  { type: ResponseType.INTEGRATION_TIMEOUT, code: 'GATEWAY_TIMEOUT' },
  { type: ResponseType.INTEGRATION_FAILURE, code: 'GATEWAY_ERROR' },
];

/** The window of the per-tenant rate limit: WAF counts each tenant route's requests over the last minute. */
export const TENANT_RATE_WINDOW_SECONDS = 60;

/** `{"error":{"code","message","requestId"}}`, filled in by API Gateway. */
export function gatewayErrorTemplate(code: string): string {
  return `{"error":{"code":"${code}","message":$context.error.messageString,"requestId":"$context.requestId"}}`;
}

/**
 * One JSON object per request. No bodies, no query strings, no headers other than the user
 * agent: the response body is the token and must never be logged.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTimeEpoch: '$context.requestTimeEpoch',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatencyMs: '$context.responseLatency',
  integrationLatencyMs: '$context.integration.latency',
  integrationStatus: '$context.integration.status',
  integrationError: '$context.integration.error',
  errorType: '$context.error.responseType',
  errorMessage: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  callerAccountId: '$context.identity.accountId',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  vpceId: '$context.identity.vpceId',
  wafResponseCode: '$context.wafResponseCode',
  xrayTraceId: '$context.xrayTraceId',
};

export interface TokenApiProps {
  readonly tokenFunction: IFunction;
  readonly apiName: string;
  readonly stageName: string;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  /** Accounts (besides this one) whose principals may call; empty: no account restriction. */
  readonly allowedAccountIds: readonly string[];
  /** Interface VPC endpoints of a private API; empty: a regional API. */
  readonly privateVpcEndpointIds: readonly string[];
  /** Requests per tenant route per minute before WAF answers 429 for that route. */
  readonly tenantRateLimit: number;
  /** Requests per source IP per 5 minutes before WAF blocks the IP; undefined: no such rule. */
  readonly wafRateLimit?: number;
  readonly logRetention: RetentionDays;
  /** Encrypts the access and execution log groups. */
  readonly logsKey: IKey;
  readonly removalPolicy: RemovalPolicy;
  readonly manageAccountCloudWatchRole: boolean;
}

/**
 * The REST API: `GET /tenants/{tenantId}/token` and `POST /tenants/{tenantId}/token/invalidate`,
 * both IAM (SigV4) authorized and proxied to the token function.
 *
 * @example
 * const api = new TokenApi(this, 'Api', {
 *   tokenFunction, apiName: 'token-vending', stageName: 'v1', throttlingRateLimit: 50, throttlingBurstLimit: 100,
 *   allowedAccountIds: [], privateVpcEndpointIds: [], logRetention: RetentionDays.THREE_MONTHS,
 *   removalPolicy: RemovalPolicy.RETAIN, manageAccountCloudWatchRole: true,
 * });
 * api.routeArn('getToken', 'acme'); // arn:...:execute-api:...:<apiId>/v1/GET/tenants/acme/token
 */
export class TokenApi extends Construct {
  public readonly api: RestApi;
  public readonly accessLogGroup: LogGroup;
  public readonly executionLogGroup: LogGroup;
  public readonly getTokenMethod: Method;
  public readonly invalidateMethod: Method;
  public readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: TokenApiProps) {
    super(scope, id);
    const isPrivate = props.privateVpcEndpointIds.length > 0;

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      encryptionKey: props.logsKey,
      removalPolicy: props.removalPolicy,
    });

    this.api = new RestApi(this, 'Api', {
      restApiName: props.apiName,
      description: 'Ekuaibao Open API token vending (IAM authorized)',
      endpointConfiguration: isPrivate
        ? {
            types: [EndpointType.PRIVATE],
            vpcEndpoints: props.privateVpcEndpointIds.map((vpcEndpointId, i) =>
              InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(this, `VpcEndpoint${i}`, { vpcEndpointId, port: 443 }),
            ),
          }
        : { types: [EndpointType.REGIONAL] },
      policy: resourcePolicy(props.allowedAccountIds, props.privateVpcEndpointIds),
      cloudWatchRole: props.manageAccountCloudWatchRole,
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      deployOptions: {
        stageName: props.stageName,
        description: 'Token vending stage',
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        // Full request/response logging would write access tokens into CloudWatch Logs.
        dataTraceEnabled: false,
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    // The stack prints the URL under a stable output name of its own.
    this.api.node.tryRemoveChild('Endpoint');

    // API Gateway creates the execution log group on first use with no retention; creating it
    // first, under the name API Gateway will use, gives it one.
    this.executionLogGroup = new LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${props.stageName}`,
      retention: props.logRetention,
      encryptionKey: props.logsKey,
      removalPolicy: props.removalPolicy,
    });
    this.api.deploymentStage.node.addDependency(this.executionLogGroup);

    // API Gateway cannot match a path parameter against a pattern; it rejects a missing one and
    // a malformed invalidate body, and the function checks the tenant id pattern itself.
    const validator = new RequestValidator(this, 'RequestValidator', {
      restApi: this.api,
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    const invalidateBody = new Model(this, 'InvalidateBodyModel', {
      restApi: this.api,
      contentType: 'application/json',
      description: `POST ${route('invalidateToken').resource} body`,
      schema: {
        schema: JsonSchemaVersion.DRAFT4,
        type: JsonSchemaType.OBJECT,
        required: ['accessToken'],
        properties: { accessToken: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 4096 } },
      },
    });
    const integration = new LambdaIntegration(props.tokenFunction, { proxy: true, allowTestInvoke: false });
    // Both routes answer a token on 200 (invalidate: the one to use instead of the reported one).
    // The proxy integration passes answers through; the models document them for exported
    // OpenAPI definitions and generated SDKs.
    const tokenModel = new Model(this, 'TokenModel', {
      restApi: this.api,
      contentType: 'application/json',
      description: 'A token answer',
      schema: jsonSchema(TOKEN_ANSWER_SCHEMA),
    });
    const errorModel = new Model(this, 'ErrorModel', {
      restApi: this.api,
      contentType: 'application/json',
      description: 'Every error answer: {"error":{"code","message","requestId"}}',
      schema: jsonSchema(ERROR_ANSWER_SCHEMA),
    });
    const errorStatuses = [...new Set([...Object.values(STATUS_BY_CODE), 403, 429, 504])].sort((a, b) => a - b);
    const methodOptions = {
      authorizationType: AuthorizationType.IAM,
      requestValidator: validator,
      requestParameters: { 'method.request.path.tenantId': true },
      methodResponses: [
        { statusCode: '200', responseModels: { 'application/json': tokenModel } },
        ...errorStatuses.map((status) => ({ statusCode: String(status), responseModels: { 'application/json': errorModel } })),
      ],
    };
    // One resource path and method per route of the shared list the function routes on.
    const methods = new Map<RouteName, Method>();
    for (const r of ROUTES) {
      const resource = this.api.root.resourceForPath(r.resource);
      const options = r.method === 'POST' ? { ...methodOptions, requestModels: { 'application/json': invalidateBody } } : methodOptions;
      methods.set(r.name, resource.addMethod(r.method, integration, options));
    }
    this.getTokenMethod = methods.get('getToken')!;
    this.invalidateMethod = methods.get('invalidateToken')!;

    for (const { type, code } of GATEWAY_ERRORS) {
      this.api.addGatewayResponse(`GatewayResponse${type.responseType}`, {
        type,
        responseHeaders: { 'Content-Type': "'application/json'" },
        templates: { 'application/json': gatewayErrorTemplate(code) },
      });
    }

    this.scopePermissionsToThisAccount();
    this.webAcl = this.createWebAcl(props);
    new CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }

  /**
   * AWS WAF in front of the stage. Its first rule gives every tenant a budget of its own: a rate
   * limit aggregated on the request path, which names one tenant's route (GET token or POST
   * invalidate), so a caller allowed for one tenant cannot spend the stage's throttle budget that
   * every tenant shares. The path is URL-decoded first, so `%61cme` counts as `acme`. Over the
   * limit, WAF answers 429 with the service's error shape (`THROTTLED`, which callers retry).
   * The per-IP rule is opt-in.
   */
  private createWebAcl(props: TokenApiProps): CfnWebACL {
    const visibility = (name: string) => ({ cloudWatchMetricsEnabled: true, metricName: `${props.apiName}-${name}`, sampledRequestsEnabled: true });
    const throttled = { customResponse: { responseCode: 429, customResponseBodyKey: 'throttled' } };
    const rules: CfnWebACL.RuleProperty[] = [
      {
        name: 'RateLimitPerTenantRoute',
        priority: 0,
        action: { block: throttled },
        statement: {
          rateBasedStatement: {
            limit: props.tenantRateLimit,
            evaluationWindowSec: TENANT_RATE_WINDOW_SECONDS,
            aggregateKeyType: 'CUSTOM_KEYS',
            customKeys: [{ uriPath: { textTransformations: [{ priority: 0, type: 'URL_DECODE' }] } }],
          },
        },
        visibilityConfig: visibility('tenant-rate-limit'),
      },
    ];
    if (props.wafRateLimit !== undefined) {
      rules.push({
        name: 'RateLimitPerSourceIp',
        priority: 1,
        action: { block: {} },
        statement: { rateBasedStatement: { limit: props.wafRateLimit, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
        visibilityConfig: visibility('rate-limit'),
      });
    }
    return new CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: 'Per-tenant rate limit, and optional per-IP limit, for the token vending API',
      defaultAction: { allow: {} },
      customResponseBodies: {
        throttled: {
          contentType: 'APPLICATION_JSON',
          // WAF has no templates: no request id to quote, and its own headers are x-amzn-waf-*.
          content: JSON.stringify({
            error: { code: 'THROTTLED', message: 'Too many requests for this tenant; retry later', requestId: 'aws-waf' },
          }),
        },
      },
      visibilityConfig: visibility('waf'),
      rules,
    });
  }

  /**
   * API Gateway's permissions to invoke the function are scoped by `SourceArn` (this API), which
   * CDK writes as an `Fn::Join`. Control Tower's CT.LAMBDA.PR.2 reads only literal strings there,
   * so when the stack's account is known (`cdk deploy` sets it, see lib/token-vending-app.ts) the
   * permissions also carry it as `SourceAccount`. Environment-agnostic synths cannot, and
   * lib/compliance.ts says why the rule is acknowledged for them.
   */
  private scopePermissionsToThisAccount(): void {
    const account = Stack.of(this).account;
    if (Token.isUnresolved(account)) return;
    for (const permission of this.apiGatewayPermissions()) permission.sourceAccount = account;
  }

  /** API Gateway's permissions to invoke the token function, one per method. */
  public apiGatewayPermissions(): CfnPermission[] {
    return this.api.node
      .findAll()
      .filter((c): c is CfnPermission => c instanceof CfnPermission && c.principal === 'apigateway.amazonaws.com');
  }

  /**
   * The `execute-api:Invoke` ARN of one tenant's route, e.g.
   * `arn:aws:execute-api:eu-west-1:111122223333:a1b2c3/v1/GET/tenants/acme/token`.
   */
  public routeArn(name: RouteName, tenantId: string): string {
    const r = route(name);
    return this.api.arnForExecuteApi(r.method, routePath(r, tenantId), this.api.deploymentStage.stageName);
  }

  /** The `execute-api:Invoke` ARNs of every route of one tenant. */
  public tenantRouteArns(tenantId: string): string[] {
    return ROUTES.map((r) => this.routeArn(r.name, tenantId));
  }
}

/**
 * Optional resource policy. It never grants by itself: it names whole accounts (which still
 * need IAM policies for the per-tenant routes) and denies everything else.
 */
function resourcePolicy(allowedAccountIds: readonly string[], vpcEndpointIds: readonly string[]): PolicyDocument | undefined {
  if (allowedAccountIds.length === 0 && vpcEndpointIds.length === 0) return undefined;
  const invokeAnything = { actions: ['execute-api:Invoke'], resources: ['execute-api:/*'] };
  const statements = [
    new PolicyStatement({
      sid: 'AllowIamAuthorizedCallersOfTheseAccounts',
      effect: Effect.ALLOW,
      principals: [Aws.ACCOUNT_ID, ...allowedAccountIds].map((account) => new AccountPrincipal(account)),
      ...invokeAnything,
    }),
  ];
  if (allowedAccountIds.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'DenyCallersOfOtherAccounts',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        ...invokeAnything,
        conditions: { StringNotEquals: { 'aws:PrincipalAccount': [Aws.ACCOUNT_ID, ...allowedAccountIds] } },
      }),
    );
  }
  if (vpcEndpointIds.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'DenyCallsNotThroughTheseVpcEndpoints',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        ...invokeAnything,
        conditions: { StringNotEquals: { 'aws:SourceVpce': [...vpcEndpointIds] } },
      }),
    );
  }
  return new PolicyDocument({ statements });
}

/** A plain JSON Schema (draft 4) as the CDK's `JsonSchema`, whose `type` is an enum of the same strings. */
function jsonSchema(schema: object): JsonSchema {
  return { schema: JsonSchemaVersion.DRAFT4, ...(schema as JsonSchema) };
}
