/**
 * `npm start`: the token API on a local HTTP server. Requests become the same API Gateway events
 * and run through the same handler as in AWS; DynamoDB is an embedded dynalite (or any endpoint
 * you name), credentials come from a file, and without one a sandbox upstream (the simulator)
 * serves tenant `demo`. Several servers on one DYNAMODB_ENDPOINT behave like several Lambda
 * containers sharing one table.
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { isIPv6, type AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import dynalite from 'dynalite';
import { API_GATEWAY_INTEGRATION_TIMEOUT_MS } from '../contract/lease-timing';
import { StaticCredentials } from '../functions/adapters/tenant-credentials';
import type { CredentialSource } from '../functions/domain/types';
import { createTokenApi } from '../functions/token/api';
import { loadConfig } from '../functions/token/config';
import { createVendor } from '../functions/token/wiring';
import { loadLocalConfig } from './config';
import { createLocalHttpServer } from './lambda-http-adapter';
import { startSimulator, type Simulator } from './simulator/simulator';
import { ensureTokenTable, localDynamoDbConfig } from './token-table-setup';

/** The sandbox's fake tenant: the simulator knows it, nothing real does. */
export const SANDBOX_TENANT = {
  tenantId: 'demo',
  appKey: 'demo-app-key',
  appSecurity: 'demo-app-security-not-a-secret',
  corporationId: 'DEMOcorp0000',
} as const;

/** A sandbox tenant on the v3 auth API, whose prefix is looked up by its corpId. */
export const SANDBOX_V3_TENANT = {
  tenantId: 'demo-v3',
  appKey: 'demo-v3-app-key',
  appSecurity: 'demo-v3-app-security-not-a-secret',
  corporationId: 'DEMOcorp0003',
} as const;

/** Like API Gateway, which gives up on the function after this long. */
const LOCAL_TIMEOUT_MS = API_GATEWAY_INTEGRATION_TIMEOUT_MS;

export interface LocalServer {
  readonly url: string;
  readonly dynamoDbEndpoint: string;
  /** Present in sandbox mode (no TENANTS_FILE). */
  readonly simulator?: Simulator;
  close(): Promise<void>;
}

export async function startLocalServer(env: Record<string, string | undefined> = process.env): Promise<LocalServer> {
  const local = loadLocalConfig(env);
  // Fails early on a bad variable; read again below with the sandbox's hosts.
  let config = loadConfig({ ...env, TABLE_NAME: local.TABLE_NAME, DEFAULT_BASE_URL: local.UPSTREAM_BASE_URL });
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    let dynamoDbEndpoint = local.DYNAMODB_ENDPOINT;
    if (dynamoDbEndpoint === undefined) {
      const engine = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      const port = await listen(engine, 0, '127.0.0.1');
      closers.push(() => closeServer(engine));
      dynamoDbEndpoint = `http://127.0.0.1:${port}`;
    }
    await ensureTokenTable(dynamoDbEndpoint, local.TABLE_NAME);

    const parsing = { defaultBaseUrl: local.UPSTREAM_BASE_URL, allowLoopbackHttp: true };
    let credentials: CredentialSource;
    let simulator: Simulator | undefined;
    if (local.TENANTS_FILE !== undefined) {
      const tenants = JSON.parse(await readFile(local.TENANTS_FILE, 'utf8')) as Record<string, unknown>;
      credentials = new StaticCredentials(tenants, parsing);
    } else {
      simulator = await startSimulator({
        issueDelayMs: local.SANDBOX_ISSUE_DELAY_MS,
        credentials: [SANDBOX_TENANT, SANDBOX_V3_TENANT].map(({ appKey, appSecurity, corporationId }) => ({ appKey, appSecurity, corporationId })),
      });
      closers.push(() => simulator!.close());
      credentials = new StaticCredentials(
        {
          [SANDBOX_TENANT.tenantId]: {
            appKey: SANDBOX_TENANT.appKey,
            appSecurity: SANDBOX_TENANT.appSecurity,
            baseUrl: simulator.baseUrl,
          },
          // No baseUrl: the prefix comes from the (simulated) location API, as for a real corpId.
          [SANDBOX_V3_TENANT.tenantId]: {
            appKey: SANDBOX_V3_TENANT.appKey,
            appSecurity: SANDBOX_V3_TENANT.appSecurity,
            corpId: SANDBOX_V3_TENANT.corporationId,
            authVersion: 'v3',
          },
        },
        parsing,
      );
      // The sandbox's location and v3 hosts are the simulator too, unless the environment says otherwise.
      config = loadConfig({
        LOCATION_BASE_URL: simulator.baseUrl,
        V3_AUTH_BASE_URL: simulator.baseUrl,
        ...env,
        TABLE_NAME: local.TABLE_NAME,
        DEFAULT_BASE_URL: local.UPSTREAM_BASE_URL,
      });
    }

    const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ekuaibao-token-vending' });
    const metrics = new Metrics({ namespace: 'EkuaibaoTokenVending', serviceName: 'ekuaibao-token-vending' });
    metrics.setThrowOnEmptyMetrics(false);
    const vendor = createVendor({
      config,
      logger,
      metrics,
      credentials,
      dynamoDb: localDynamoDbConfig(dynamoDbEndpoint),
      allowLoopbackHttp: true,
    });
    const handler = createTokenApi({ vendor, logger, metrics });

    // Refuses Host headers that are not loopback (DNS rebinding) unless ALLOWED_HOSTS names them,
    // request targets it would have to resolve, and answers Node's own refusals as JSON.
    const server = createLocalHttpServer(handler, LOCAL_TIMEOUT_MS, { allowedHosts: local.ALLOWED_HOSTS });
    const port = await listen(server, local.PORT, local.HOST);
    closers.push(() => closeServer(server));
    return {
      url: `http://${isIPv6(local.HOST) ? `[${local.HOST}]` : local.HOST}:${port}`,
      dynamoDbEndpoint,
      ...(simulator && { simulator }),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
