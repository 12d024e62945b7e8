/** Entry point of `npm start`. */
import { SANDBOX_TENANT, SANDBOX_V3_TENANT, startLocalServer } from './server';

// EMF metrics only mean something to CloudWatch; locally they would drown the logs.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const server = await startLocalServer();
const lines = [`ekuaibao-token-vending listening on ${server.url}`, `DynamoDB: ${server.dynamoDbEndpoint}`];
if (server.simulator) {
  lines.push(
    `Sandbox mode: tenants "${SANDBOX_TENANT.tenantId}" (v1 auth, base URL in its secret) and "${SANDBOX_V3_TENANT.tenantId}" ` +
      `(v3 auth, prefix looked up by corpId) are served by the upstream simulator at ${server.simulator.baseUrl}`,
    'Try:',
    `  curl ${server.url}/tenants/${SANDBOX_TENANT.tenantId}/token`,
    `  curl ${server.url}/tenants/${SANDBOX_V3_TENANT.tenantId}/token`,
  );
}
console.log(lines.join('\n'));

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void server.close().then(() => process.exit(0));
  });
}
