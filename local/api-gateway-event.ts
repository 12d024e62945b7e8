/**
 * What API Gateway REST does before it invokes the function: match the resource, decode path
 * parameters, and build a proxy event and a Lambda context. The local server uses it so that the
 * handler runs exactly the code path it runs in AWS.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { matchResource } from '../functions/token/routes';

export function toApiGatewayEvent(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders,
  body: string,
): APIGatewayProxyEvent {
  const url = new URL(rawUrl, 'http://localhost');
  const matched = matchResource(url.pathname);
  const singleHeaders: Record<string, string> = {};
  const multiHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    singleHeaders[name] = values.join(',');
    multiHeaders[name] = values;
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  }
  const requestId = randomUUID();
  return {
    httpMethod: method,
    path: url.pathname,
    resource: matched?.resource ?? url.pathname,
    pathParameters: matched?.pathParameters ?? null,
    headers: singleHeaders,
    multiValueHeaders: multiHeaders,
    queryStringParameters: url.searchParams.size > 0 ? query : null,
    multiValueQueryStringParameters: url.searchParams.size > 0 ? multiQuery : null,
    stageVariables: null,
    body: body === '' ? null : body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/local${url.pathname}`,
      stage: 'local',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: matched?.resource ?? url.pathname,
    },
  };
}

export function localLambdaContext(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'ekuaibao-token-vending-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:ekuaibao-token-vending-local',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
