/**
 * What API Gateway REST does before it invokes the function: match the resource, decode path
 * parameters, and build a proxy event and a Lambda context. The local server uses it so that the
 * handler runs exactly the code path it runs in AWS.
 *
 * The request target is taken literally, never resolved as a URL: no `.`/`..` segments, no
 * absolute-form or `//host` targets. A URL parser would turn `/tenants/x/%2e%2e/demo/token` or
 * `//evil/tenants/demo/token` into `/tenants/demo/token`, another tenant's route.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { matchResource } from '../functions/token/routes';

/** An origin-form request target (RFC 9112 §3.2.1): the path as sent and its query. */
export interface RequestTarget {
  /** Still percent-encoded, as API Gateway REST reports `path`. */
  readonly path: string;
  readonly query: URLSearchParams;
}

/**
 * pchar (RFC 3986) and `/`, `%` checked on its own: nothing a URL parser would rewrite (`\` is
 * `/` to it). The query is not used by any route; it only may not carry a fragment.
 */
const PATH_CHARACTERS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const BROKEN_PERCENT = /%(?![0-9A-Fa-f]{2})/;
/** `.` and `..`, also percent-encoded (`%2e`, `.%2E`…): what URL parsers resolve. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Parses a request target as the local server serves it: origin form only, taken literally.
 * Answers why it refuses one instead (a fixed sentence that never quotes the target).
 */
export function parseRequestTarget(target: string): RequestTarget | { readonly refused: string } {
  if (!target.startsWith('/')) {
    return { refused: 'Only origin-form request targets (/path?query) are served, not absolute-form, authority-form or *' };
  }
  if (target.startsWith('//')) return { refused: 'A request target may not start with //' };
  const mark = target.indexOf('?');
  const path = mark === -1 ? target : target.slice(0, mark);
  const query = mark === -1 ? '' : target.slice(mark + 1);
  if (!PATH_CHARACTERS.test(path) || query.includes('#')) {
    return { refused: 'The request target contains characters that must be percent-encoded, or a fragment' };
  }
  if (BROKEN_PERCENT.test(path)) return { refused: 'The request target has a malformed percent-encoding' };
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) {
    return { refused: 'The request target has a . or .. segment (also percent-encoded); they are not resolved' };
  }
  return { path, query: new URLSearchParams(query) };
}

export function toApiGatewayEvent(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders,
  body: string,
): APIGatewayProxyEvent {
  const target = parseRequestTarget(rawUrl);
  if ('refused' in target) throw new Error(`Request target refused: ${target.refused}`);
  const { path, query: searchParams } = target;
  const matched = matchResource(path);
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
  for (const [name, value] of searchParams) {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  }
  const requestId = randomUUID();
  return {
    httpMethod: method,
    path,
    resource: matched?.resource ?? path,
    pathParameters: matched?.pathParameters ?? null,
    headers: singleHeaders,
    multiValueHeaders: multiHeaders,
    queryStringParameters: searchParams.size > 0 ? query : null,
    multiValueQueryStringParameters: searchParams.size > 0 ? multiQuery : null,
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
      path: `/local${path}`,
      stage: 'local',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: matched?.resource ?? path,
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
