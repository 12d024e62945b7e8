/**
 * A decomposition aid for figure 4, not a baseline: local/server.ts's request handling (read the
 * body, build the API Gateway event and Lambda context) with the handler replaced by a constant
 * answer of the same body and headers. Between the bare server and `npm start`, it shows how much
 * of the gap the HTTP → Lambda translation takes and how much the handler takes.
 * env: BENCH_BODY, BENCH_HEADERS (JSON). Prints "listening on <url>".
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { localLambdaContext, toApiGatewayEvent } from '../../local/api-gateway-event';

const body = process.env.BENCH_BODY ?? '{}';
const headers = JSON.parse(process.env.BENCH_HEADERS ?? '{}') as Record<string, string>;
const MAX_BODY_BYTES = 64 * 1024;

// As in local/server.ts.
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

const constantHandler = async (_event: unknown, _context: unknown) => ({ statusCode: 200, headers, body });

const server = createServer(async (req, res) => {
  try {
    const requestBody = await readBody(req);
    const event = toApiGatewayEvent(req.method ?? 'GET', req.url ?? '/', req.headers, requestBody);
    const result = await constantHandler(event, localLambdaContext(29_000));
    res.writeHead(result.statusCode, result.headers);
    res.end(result.body);
  } catch {
    if (!res.headersSent) res.writeHead(413, { 'Content-Type': 'application/json' });
    res.end('{}');
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(`adapter server listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
