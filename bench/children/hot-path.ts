/**
 * The table-hit hot path through the real handler, in a loop, profiled with the V8 CPU profiler
 * (node:inspector) from after a warm-up to the end of the loop: start-up (tsx, module loading) is
 * not in the profile. The first request fetches the tenant's token if the table has none. Run by
 * bench/profile.ts only.
 * env: BENCH_DYNAMODB_ENDPOINT, BENCH_TABLE, BENCH_TENANT, BENCH_BASE_URL, BENCH_APP_KEY,
 * BENCH_APP_SECURITY, BENCH_SECONDS, BENCH_PROFILE_FILE.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
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
const hit = async () => {
  const { event, context } = container.prepare(path);
  const result = await container.handler(event, context);
  if (result.statusCode !== 200) throw new Error(`table hit: ${result.statusCode}`);
};
for (let i = 0; i < 300; i++) await hit();
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
await session.post('Profiler.start');
const until = performance.now() + Number(process.env.BENCH_SECONDS ?? '4') * 1000;
let count = 0;
while (performance.now() < until) {
  await hit();
  count++;
}
const { profile } = await session.post('Profiler.stop');
writeFileSync(need('BENCH_PROFILE_FILE'), JSON.stringify(profile));
session.disconnect();
console.log(`@@HOT@@${JSON.stringify({ requests: count })}`);
