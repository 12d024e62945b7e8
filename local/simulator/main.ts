/**
 * `npm run simulator`: a long-running Ekuaibao auth stand-in for the local server, manual
 * trials and the benchmark. Configuration comes from SIMULATOR_* variables (see config.ts).
 */
import { readCliConfig } from './config';
import { startSimulator } from './simulator';

let config;
try {
  config = readCliConfig(process.env);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}

const { host, port, credentials, usingDemoCredential, ...settings } = config;
const simulator = await startSimulator({
  host,
  port,
  credentials,
  ...settings,
  log: (line) => console.log(`${new Date().toISOString()} ${line}`),
});

console.log(`Ekuaibao auth simulator listening on ${simulator.baseUrl}`);
console.log(`settings: ${JSON.stringify(settings)}`);
if (usingDemoCredential) {
  // The demo pair is a fake made for this printout; configured credentials are never shown.
  console.log(`demo credential: ${JSON.stringify(credentials[0])}`);
  console.log(`try: curl -s -X POST -H 'content-type: application/json' \\
  -d '{"appKey":"demo-app-key","appSecurity":"demo-app-security-not-a-secret"}' \\
  ${simulator.baseUrl}/api/openapi/v1/auth/getAccessToken`);
  console.log(`also: the same body to ${simulator.baseUrl}/auth/openApi/v3/getAccessToken (v3 envelope), and
  curl -s '${simulator.baseUrl}/api/openapi/v2/location?corpId=${credentials[0]!.corporationId}'`);
} else {
  console.log(`credentials for corporations: ${credentials.map((c) => c.corporationId).join(', ')}`);
}
console.log(`control: GET ${simulator.baseUrl}/__simulator/counters (also reset, settings, credentials, faults, environments)`);

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  // A second signal means the user is done waiting.
  if (stopping) process.exit(130);
  stopping = true;
  console.log(`${signal}: closing`);
  await simulator.close();
  process.exit(0);
}
process.on('SIGINT', (s) => void stop(s));
process.on('SIGTERM', (s) => void stop(s));
