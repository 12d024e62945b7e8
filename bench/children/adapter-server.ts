/**
 * A decomposition aid for figure 4, not a baseline: local/server.ts's request handling (read the
 * body, build the API Gateway event and Lambda context) with the handler replaced by a constant
 * answer of the same body and headers. Between the bare server and `npm start`, it shows how much
 * of the gap the HTTP → Lambda translation takes and how much the handler takes.
 * env: BENCH_BODY, BENCH_HEADERS (JSON). Prints "listening on <url>".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLambdaRequestListener } from '../../local/lambda-http-adapter';

const body = process.env.BENCH_BODY ?? '{}';
const headers = JSON.parse(process.env.BENCH_HEADERS ?? '{}') as Record<string, string>;
const constantHandler = async () => ({ statusCode: 200, headers, body });

const server = createServer(createLambdaRequestListener(constantHandler, 29_000));
server.listen(0, '127.0.0.1', () => {
  console.log(`adapter server listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
