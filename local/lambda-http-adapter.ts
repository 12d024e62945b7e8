/**
 * What API Gateway and the Lambda service do around the handler, as a `node:http` request
 * listener: read the body, build the proxy event and a Lambda context, call the handler, write
 * its result back. `npm start` serves the real handler with it; the benchmark measures it alone.
 */
import type { IncomingMessage, RequestListener } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { InvalidRequestBody } from '../functions/domain/errors';
import { errorResponse } from '../functions/token/error-response';
import { localLambdaContext, toApiGatewayEvent } from './api-gateway-event';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const MAX_BODY_BYTES = 64 * 1024;

export function createLambdaRequestListener(handler: ProxyHandler, timeoutMs: number): RequestListener {
  return async (req, res) => {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      // API Gateway refuses oversized payloads itself (413); the body is the service's error shape.
      const refused = errorResponse(new InvalidRequestBody('larger than 64 KiB'), 'local');
      res.writeHead(413, refused.headers as Record<string, string>);
      res.end(refused.body);
      return;
    }
    const event = toApiGatewayEvent(req.method ?? 'GET', req.url ?? '/', req.headers, body);
    let result: APIGatewayProxyResult;
    try {
      result = await handler(event, localLambdaContext(timeoutMs));
    } catch {
      // What Lambda does with a handler that throws: API Gateway answers 502.
      result = { statusCode: 502, headers: { 'Content-Type': 'application/json' }, body: '{"message":"Internal server error"}' };
    }
    res.writeHead(result.statusCode, result.headers as Record<string, string>);
    res.end(result.body);
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
