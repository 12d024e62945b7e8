// The throughput baseline: a bare node:http server answering every request with a fixed body of
// the same size and the same headers as the token API's table hit. Plain JavaScript.
// env: BENCH_BODY, BENCH_HEADERS (JSON). Prints "listening on <url>".
import { createServer } from 'node:http';

const body = process.env.BENCH_BODY ?? '{}';
const headers = JSON.parse(process.env.BENCH_HEADERS ?? '{}');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`bare server listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
