/**
 * One workload process of the client recovery test: calls the simulator's protected endpoint
 * through `TokenVendingClient.ekuaibaoFetch` every `intervalMs` until `durationMs` passed, then
 * prints one JSON line: the statuses it was answered, how many reports it sent, and how many
 * distinct tokens Ekuaibao rejected. It never prints a token.
 *
 *   node --import tsx fetch-worker.ts <apiUrl> <ekuaibaoBaseUrl> <durationMs> <intervalMs>
 */
import { createHash } from 'node:crypto';
import { TokenVendingClient } from '../../../client/src/index';

const [apiUrl, ekuaibaoBaseUrl, durationMs, intervalMs] = process.argv.slice(2);
const PROTECTED_PATH = '/api/openapi/v1/staffs';

let reports = 0;
const rejected = new Set<string>();
/** Sees every request the client sends, to count reports and rejections without printing tokens. */
const observingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const url = new URL(request.url);
  if (url.pathname.endsWith('/token/invalidate')) reports++;
  const response = await fetch(request);
  if (url.pathname === PROTECTED_PATH && response.status === 403) {
    rejected.add(createHash('sha256').update(url.searchParams.get('accessToken') ?? '').digest('hex'));
  }
  return response;
};

const client = new TokenVendingClient({ apiUrl: apiUrl!, ekuaibaoBaseUrl: ekuaibaoBaseUrl!, fetch: observingFetch });
const statuses: Record<string, number> = {};
const calls: Array<Promise<void>> = [];
const endAt = Date.now() + Number(durationMs);
while (Date.now() < endAt) {
  calls.push(
    client.ekuaibaoFetch('demo', PROTECTED_PATH).then(
      async (response) => {
        await response.arrayBuffer();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      },
      (error: { code?: string }) => {
        statuses[error.code ?? 'error'] = (statuses[error.code ?? 'error'] ?? 0) + 1;
      },
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, Number(intervalMs)));
}
await Promise.all(calls);
console.log(JSON.stringify({ statuses, reports, rejectedTokens: rejected.size }));
