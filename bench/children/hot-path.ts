/**
 * Profiled with `node --cpu-prof`: the table-hit hot path through the real handler, in a loop,
 * for a tenant whose token the parent put in the table. Run by bench/profile.ts only.
 * env: BENCH_DYNAMODB_ENDPOINT, BENCH_TABLE, BENCH_TENANT, BENCH_BASE_URL, BENCH_APP_KEY,
 * BENCH_APP_SECURITY, BENCH_SECONDS.
 */
import { StaticCredentials } from '../../functions/adapters/tenant-credentials';
import { createContainer, tokenPath } from '../support/container';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const need = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const baseUrl = need('BENCH_BASE_URL');
const tenant = need('BENCH_TENANT');
const container = createContainer({
  tableName: need('BENCH_TABLE'),
  dynamoDbEndpoint: need('BENCH_DYNAMODB_ENDPOINT'),
  credentials: new StaticCredentials(
    { [tenant]: { appKey: need('BENCH_APP_KEY'), appSecurity: need('BENCH_APP_SECURITY'), baseUrl } },
    { defaultBaseUrl: baseUrl, allowLoopbackHttp: true },
  ),
});
const path = tokenPath(tenant);
const first = await container.get(path);
if (first.statusCode !== 200) throw new Error(`first request: ${first.statusCode} ${first.body}`);
const until = performance.now() + Number(process.env.BENCH_SECONDS ?? '4') * 1000;
let count = 0;
while (performance.now() < until) {
  const { event, context } = container.prepare(path);
  const result = await container.handler(event, context);
  if (result.statusCode !== 200) throw new Error(`table hit: ${result.statusCode}`);
  count++;
}
console.log(`@@HOT@@${JSON.stringify({ requests: count })}`);
