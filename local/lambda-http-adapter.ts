/**
 * What API Gateway and the Lambda service do around the handler, as a `node:http` request
 * listener: read the body, build the proxy event and a Lambda context, call the handler, write
 * its result back. `npm start` serves the real handler with it; the benchmark measures it alone.
 *
 * Before any of that it refuses, in the service's JSON error shape, what API Gateway would never
 * forward and a local server must not guess at: a Host header that is not loopback (DNS
 * rebinding) unless `ALLOWED_HOSTS` names it, and request targets it will not take literally
 * (see `parseRequestTarget`). `createLocalHttpServer` also answers Node's own refusals (parser
 * errors, headers too large, timeouts, CONNECT, unknown Expect) in that shape.
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { InvalidRequestBody } from '../functions/domain/errors';
import { BASE_HEADERS, errorResponse } from '../functions/token/error-response';
import { localLambdaContext, parseRequestTarget, toApiGatewayEvent } from './api-gateway-event';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Codes only the local server answers with (the function's own codes are in
 * `functions/domain/errors.ts`); same body shape, `{"error":{"code","message","requestId"}}`.
 * In AWS, API Gateway and CloudFront refuse these requests before the function runs.
 */
export const LOCAL_STATUS_BY_CODE = {
  /** Not an origin-form target taken literally: absolute-form, `//…`, `*`, CONNECT, `.`/`..` segments, bad characters or percent-encoding. */
  INVALID_REQUEST_TARGET: 400,
  /** Node's HTTP parser refused the request (garbage request line, bad header…), or no / several Host headers. */
  MALFORMED_REQUEST: 400,
  /** The Host header names neither a loopback host nor one in ALLOWED_HOSTS. */
  HOST_NOT_ALLOWED: 403,
  /** The request did not arrive within Node's headers or request timeout. */
  REQUEST_TIMEOUT: 408,
  /** An `Expect` header other than `100-continue`. */
  EXPECTATION_FAILED: 417,
  /** The request line and headers exceed Node's limit (16 KiB). */
  REQUEST_HEADERS_TOO_LARGE: 431,
} as const;

export type LocalErrorCode = keyof typeof LOCAL_STATUS_BY_CODE;

export interface LocalHttpOptions {
  /**
   * Host names (lower case, no port, IPv6 without brackets) the Host header may name besides the
   * loopback ones; `*` allows any. Default: loopback only. See `ALLOWED_HOSTS` in local/config.ts.
   */
  readonly allowedHosts?: readonly string[];
}

const MAX_BODY_BYTES = 64 * 1024;

export function localErrorResponse(code: LocalErrorCode, message: string, requestId: string = randomUUID()): APIGatewayProxyResult {
  return {
    statusCode: LOCAL_STATUS_BY_CODE[code],
    headers: { ...BASE_HEADERS },
    body: JSON.stringify({ error: { code, message, requestId } }),
  };
}

export function createLambdaRequestListener(handler: ProxyHandler, timeoutMs: number, options: LocalHttpOptions = {}): RequestListener {
  const allowedHosts = options.allowedHosts ?? [];
  return async (req, res) => {
    const requestId = randomUUID();
    try {
      const refused = refuseHost(req, allowedHosts, requestId);
      if (refused) return send(res, refused);
      const target = parseRequestTarget(req.url ?? '');
      if ('refused' in target) return send(res, localErrorResponse('INVALID_REQUEST_TARGET', target.refused, requestId));
      let body: string;
      try {
        body = await readBody(req);
      } catch {
        // API Gateway refuses oversized payloads itself (413); the body is the service's error shape.
        const tooLarge = errorResponse(new InvalidRequestBody('larger than 64 KiB'), requestId);
        return send(res, { ...tooLarge, statusCode: 413 });
      }
      const event = toApiGatewayEvent(req.method ?? 'GET', req.url ?? '/', req.headers, body);
      let result: APIGatewayProxyResult;
      try {
        result = await handler(event, localLambdaContext(timeoutMs));
      } catch {
        // What Lambda does with a handler that throws: API Gateway answers 502.
        result = { statusCode: 502, headers: { 'Content-Type': 'application/json' }, body: '{"message":"Internal server error"}' };
      }
      send(res, result);
    } catch (error) {
      // A bug here must not become an unhandled rejection: that would stop the whole server.
      if (!res.headersSent) send(res, errorResponse(error, requestId));
      else res.destroy();
    }
  };
}

/**
 * A `node:http` server around `createLambdaRequestListener` whose own refusals are JSON too: the
 * Host header is checked by the listener (Node's bare 400 for a missing one is turned off), and
 * parser errors, timeouts, CONNECT and unknown `Expect` values get the error shape.
 */
export function createLocalHttpServer(handler: ProxyHandler, timeoutMs: number, options: LocalHttpOptions = {}): Server {
  const server = createServer({ requireHostHeader: false }, createLambdaRequestListener(handler, timeoutMs, options));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
      socket.destroy();
      return;
    }
    writeRawError(socket, clientErrorResponse(error.code));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    writeRawError(socket, localErrorResponse('INVALID_REQUEST_TARGET', 'CONNECT (authority-form) is not served'));
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    send(res, localErrorResponse('EXPECTATION_FAILED', 'Only Expect: 100-continue is supported'));
  });
  return server;
}

/** What Node's parser or timers refused, as the answer Node itself would give, in JSON. */
function clientErrorResponse(code: string | undefined): APIGatewayProxyResult {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return localErrorResponse('REQUEST_HEADERS_TOO_LARGE', 'The request line and headers are larger than the server accepts');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { ...errorResponse(new InvalidRequestBody('chunk extensions too large'), randomUUID()), statusCode: 413 };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return localErrorResponse('REQUEST_TIMEOUT', 'The request did not arrive in time');
    case 'HPE_INVALID_URL':
      return localErrorResponse('INVALID_REQUEST_TARGET', 'The request target is not a valid URL path');
    default:
      return localErrorResponse('MALFORMED_REQUEST', 'The request is not valid HTTP/1.1');
  }
}

/** A whole HTTP/1.1 response on a socket Node's HTTP machinery has given up on; then close it. */
function writeRawError(socket: Duplex, response: APIGatewayProxyResult): void {
  const headers = { ...(response.headers as Record<string, string>), 'Content-Length': String(Buffer.byteLength(response.body)), Connection: 'close' };
  const head = [
    `HTTP/1.1 ${response.statusCode} ${STATUS_CODES[response.statusCode] ?? 'Error'}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n');
  socket.end(`${head}\r\n\r\n${response.body}`);
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  res.writeHead(result.statusCode, result.headers as Record<string, string>);
  res.end(result.body);
}

/**
 * Exactly one Host header, naming a loopback host or one of `allowedHosts`. A page on an
 * attacker's domain whose DNS name is rebound to 127.0.0.1 still sends its own name as Host, so
 * this keeps browsers from reading tokens off a local server.
 */
function refuseHost(req: IncomingMessage, allowedHosts: readonly string[], requestId: string): APIGatewayProxyResult | undefined {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') count++;
  if (count !== 1) return localErrorResponse('MALFORMED_REQUEST', 'A request needs exactly one Host header', requestId);
  if (allowedHosts.includes('*')) return undefined;
  const name = hostNameOf(req.headers.host ?? '');
  if (name !== undefined && (isLoopbackHost(name) || allowedHosts.includes(name))) return undefined;
  return localErrorResponse(
    'HOST_NOT_ALLOWED',
    'The Host header names neither a loopback host nor one in ALLOWED_HOSTS of this local server',
    requestId,
  );
}

/** The host name of a Host header value (`name`, `name:port`, `[v6]:port`), normalized; undefined if it is not one. */
export function hostNameOf(header: string): string | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/.exec(header);
  return match ? normalizeHostName(match[1]!) : undefined;
}

/** Lower case, no trailing dot, IPv6 without brackets and in its shortest form; undefined if it is no host. */
export function normalizeHostName(name: string): string | undefined {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (isIPv6(bare)) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  if (isIPv4(bare)) return bare;
  if (!/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/.test(bare)) return undefined;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** localhost, 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8, as normalized by `normalizeHostName`. */
export function isLoopbackHost(name: string): boolean {
  return (
    name === 'localhost' ||
    (isIPv4(name) && name.startsWith('127.')) ||
    name === '::1' ||
    /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(name)
  );
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
