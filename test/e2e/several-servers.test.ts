/**
 * Several `npm start` servers on one DYNAMODB_ENDPOINT behave as several Lambda containers: one
 * upstream call at a time, refreshes in the background, and an invalidation answered on one server
 * is final on all of them. Run on the dynalite the first server embeds, and on DynamoDB Local, with
 * an upstream that kills older tokens whenever it issues or refreshes one.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';
import { dynamoDbLocalEndpoint, uniqueTableName } from '../support/harness';
import { startNpmStart, stopNpmStart, type StartedServer as Server } from '../support/npm-start';

const CREDENTIAL = { appKey: 'fake-app-key-e2e', appSecurity: 'fake-app-security-e2e', corporationId: 'FAKEcorpE2E0' };
const TOKEN_LIFETIME_MS = 14_000;

function startServer(env: Record<string, string>): Promise<Server> {
  return startNpmStart({
    // A token lives 14 s: refresh-due after 4 s, withheld after 9 s.
    SAFETY_MARGIN_SECONDS: '5',
    REFRESH_WINDOW_SECONDS: '10',
    REFRESH_LIFETIME_DAYS: '0',
    UPSTREAM_TIMEOUT_MS: '2000',
    ...env,
  });
}

async function getToken(server: Server): Promise<{ status: number; accessToken?: string }> {
  const response = await fetch(`${server.url}/tenants/acme/token`);
  const body = (await response.json()) as { accessToken?: string };
  return { status: response.status, ...(body.accessToken && { accessToken: body.accessToken }) };
}

let simulator: Simulator;
let servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.map(stopNpmStart));
  servers = [];
  await simulator?.close();
});

async function tokenWorks(accessToken: string): Promise<boolean> {
  const response = await fetch(`${simulator.baseUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(accessToken)}`);
  return response.status === 200;
}

test.each([
  ['the embedded dynalite of the first server', 'dynalite'],
  ['DynamoDB Local', 'dynamodb-local'],
])('three servers on %s keep one token lineage', async (_label, engine) => {
  simulator = await startSimulator({
    issueDelayMs: 300,
    tokenLifetimeMs: TOKEN_LIFETIME_MS,
    refreshedTokenLifetimeMs: TOKEN_LIFETIME_MS,
    newTokenInvalidatesOld: true,
    credentials: [CREDENTIAL],
  });
  const folder = await mkdtemp(join(tmpdir(), 'tenants-'));
  const tenantsFile = join(folder, 'tenants.json');
  await writeFile(tenantsFile, JSON.stringify({ acme: { appKey: CREDENTIAL.appKey, appSecurity: CREDENTIAL.appSecurity, baseUrl: simulator.baseUrl } }));
  const common = { TENANTS_FILE: tenantsFile, TABLE_NAME: uniqueTableName('several') };

  const first = await startServer(engine === 'dynalite' ? common : { ...common, DYNAMODB_ENDPOINT: dynamoDbLocalEndpoint() });
  const endpoint = /DynamoDB: (\S+)/.exec(first.output())![1]!;
  servers = [first, ...(await Promise.all([startServer({ ...common, DYNAMODB_ENDPOINT: endpoint }), startServer({ ...common, DYNAMODB_ENDPOINT: endpoint })]))];

  // A cold stampede across the three: one getAccessToken, one token, and it works.
  const cold = await Promise.all(servers.flatMap((server) => Array.from({ length: 10 }, () => getToken(server))));
  expect(cold.map((r) => r.status)).toEqual(Array(30).fill(200));
  expect(new Set(cold.map((r) => r.accessToken)).size).toBe(1);
  expect(simulator.counters().getAccessToken).toBe(1);
  const firstToken = cold[0]!.accessToken!;

  // Inside the refresh window: callers get the valid token at once; one refresh runs behind them.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const due = await Promise.all(servers.map(getToken));
  expect(due.map((r) => r.status)).toEqual([200, 200, 200]);
  let current = firstToken;
  for (let i = 0; i < 40 && current === firstToken; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    current = (await getToken(servers[i % 3]!)).accessToken!;
  }
  expect(current).not.toBe(firstToken);
  expect(simulator.counters().refreshToken).toBe(1);
  // The refresh killed the first token; no server hands it out any more.
  const afterRefresh = await Promise.all(servers.map(getToken));
  expect(afterRefresh.map((r) => r.accessToken)).toEqual([current, current, current]);
  expect(await tokenWorks(current)).toBe(true);

  // An invalidation answered by one server is final on all of them.
  const reported = await fetch(`${servers[1]!.url}/tenants/acme/token/invalidate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken: current }),
  });
  expect(reported.status).toBe(200);
  const replacement = ((await reported.json()) as { accessToken: string }).accessToken;
  expect(replacement).not.toBe(current);
  const afterInvalidation = await Promise.all(servers.flatMap((server) => [getToken(server), getToken(server)]));
  expect(afterInvalidation.map((r) => r.status)).toEqual(Array(6).fill(200));
  expect(afterInvalidation.map((r) => r.accessToken)).toEqual(Array(6).fill(replacement));
  expect(await tokenWorks(afterInvalidation[0]!.accessToken!)).toBe(true);

  const counters = simulator.counters();
  expect(counters.inFlightMax.getAccessToken).toBe(1);
  expect(counters.inFlightMax.refreshToken).toBe(1);
  expect(counters.getAccessToken).toBe(2);
  // No token appears in any server's logs.
  for (const server of servers) {
    for (const token of [firstToken, current]) expect(server.output()).not.toContain(token);
  }
}, 90_000);
