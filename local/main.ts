/** Entry point of `npm start`. */
import { startLocalServer, SANDBOX_TENANT } from './server';

// EMF metrics only mean something to CloudWatch; locally they would drown the logs.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const server = await startLocalServer();
const lines = [`ekuaibao-token-vending listening on ${server.url}`, `DynamoDB: ${server.dynamoDbEndpoint}`];
if (server.simulator) {
  lines.push(
    `Sandbox mode: tenant "${SANDBOX_TENANT.tenantId}" is served by the upstream simulator at ${server.simulator.baseUrl}`,
    'Try:',
    `  curl ${server.url}/tenants/${SANDBOX_TENANT.tenantId}/token`,
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
