/**
 * Issue 14: a bug cannot cross tenants. With `TENANT_ROLE_ARN`, every read and write of a tenant's
 * secret and item goes out with a session of the tenant access role tagged with that tenant
 * (STS over HTTP: test/support/sts-stub.ts), and only the warmer's listing uses the function's own
 * credentials. The run below records, for every AWS call, whose session made it and which tenant
 * the call touched, across many tenants with interleaved requests, refreshes, invalidations and
 * warm runs; then a planted bug shows the check catches a call made with another tenant's session.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { STSClient } from '@aws-sdk/client-sts';
import { AssumedRoleSessions, type TenantSessions } from '../../functions/adapters/tenant-sessions';
import { EkuaibaoClient } from '../../functions/adapters/ekuaibao-client';
import { VendingError } from '../../functions/domain/errors';
import type { LocatedCredentials, UpstreamAuth } from '../../functions/domain/types';
import { loadConfig } from '../../functions/token/config';
import { errorResponse } from '../../functions/token/error-response';
import { wireVendor } from '../../functions/token/wiring';
import { startSimulator, type Simulator } from '../../local/simulator/simulator';
import { ensureTokenTable, localDynamoDbConfig } from '../../local/token-table-setup';
import { startSecretsStub, type SecretsStub } from '../../bench/support/secrets-stub';
import { dynamoDbLocalEndpoint, uniqueTableName } from '../support/harness';
import { startStsStub, type StsStub, tenantOfAccessKeyId } from '../../bench/support/sts-stub';

const ROLE_ARN = 'arn:aws:iam::111122223333:role/EkuaibaoTenantAccess';
const TENANTS = Array.from({ length: 12 }, (_, i) => `tenant-${String(i).padStart(2, '0')}`);
const FAKE_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'AKIAOWNFUNCTIONROLE1', secretAccessKey: 'own-not-real' } };
/** Fetched with the function's own credentials: a fixed, non-session key. */
const OWN_KEY = FAKE_AWS.credentials.accessKeyId;

interface RecordedCall {
  readonly command: string;
  /** The tenant whose session made the call; 'own' for the function's own credentials. */
  readonly session: string;
  /** The tenant the call touched (its item key or secret name); undefined for a Scan or an STS call. */
  readonly touched?: string;
}

/**
 * Records every call of every client the wiring builds, through the same hook Powertools Tracer
 * uses (`captureAWSv3Client`): its command, the access key it was signed with, and its target.
 */
function recordingTracer(calls: RecordedCall[]): Tracer {
  return {
    captureAWSv3Client<T>(client: T): T {
      const c = client as unknown as {
        config: { credentials: () => Promise<{ accessKeyId: string }> };
        middlewareStack: { add: (mw: unknown, options: unknown) => void };
      };
      c.middlewareStack.add(
        (next: (args: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName: string }) =>
          async (args: { input: Record<string, unknown> }) => {
            const { accessKeyId } = await c.config.credentials();
            const key = args.input.Key as Record<string, unknown> | undefined;
            const secretId = typeof args.input.SecretId === 'string' ? args.input.SecretId : undefined;
            const touched = key ? String((key.tenantId as { S?: string })?.S ?? key.tenantId) : secretId?.replace(/^ekuaibao\/tenants\//, '');
            calls.push({
              command: context.commandName,
              session: accessKeyId === OWN_KEY ? 'own' : (tenantOfAccessKeyId(accessKeyId) ?? `unknown key ${accessKeyId}`),
              ...(touched !== undefined && { touched }),
            });
            return next(args);
          },
        { step: 'initialize', name: 'recordSession' },
      );
      return client;
    },
  } as unknown as Tracer;
}

/** Every call that touched a tenant with a session other than that tenant's. */
function crossings(calls: readonly RecordedCall[]): RecordedCall[] {
  return calls.filter((c) => c.touched !== undefined && c.session !== c.touched);
}

let sts: StsStub;
let secrets: SecretsStub;
let simulator: Simulator;
const silent = () => {
  const logger = new Logger({ logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
  metrics.setThrowOnEmptyMetrics(false);
  return { logger, metrics };
};

beforeAll(async () => {
  sts = await startStsStub();
  simulator = await startSimulator({
    issueDelayMs: 0,
    credentials: TENANTS.map((t) => ({ appKey: `${t}-key`, appSecurity: `${t}-security-not-real`, corporationId: `${t}-corp` })),
  });
  secrets = await startSecretsStub(
    new Map(TENANTS.map((t) => [`ekuaibao/tenants/${t}`, JSON.stringify({ appKey: `${t}-key`, appSecurity: `${t}-security-not-real` })])),
  );
});

afterAll(async () => {
  await Promise.all([sts.close(), simulator.close(), secrets.close()]);
});

/** The real Ekuaibao client, sent to the simulator (the secrets name the production base URL). */
function simulatedUpstream(): UpstreamAuth {
  const client = new EkuaibaoClient();
  const local = (c: LocatedCredentials): LocatedCredentials => ({ ...c, baseUrl: simulator.baseUrl });
  return {
    getAccessToken: (c, signal) => client.getAccessToken(local(c), signal),
    refreshToken: (c, current, options, signal) => client.refreshToken(local(c), current, options, signal),
  };
}

async function container(tableName: string, calls: RecordedCall[], options: { sessions?: (real: TenantSessions) => TenantSessions } = {}) {
  const config = loadConfig({ TABLE_NAME: tableName, TENANT_ROLE_ARN: ROLE_ARN, SECRET_MAX_AGE_SECONDS: '0' });
  const tracer = recordingTracer(calls);
  const real = new AssumedRoleSessions({
    roleArn: ROLE_ARN,
    client: tracer.captureAWSv3Client(new STSClient({ ...FAKE_AWS, endpoint: sts.endpoint })),
  });
  return wireVendor({
    config,
    ...silent(),
    tracer,
    sessions: options.sessions ? options.sessions(real) : real,
    dynamoDb: { ...localDynamoDbConfig(dynamoDbLocalEndpoint()), ...FAKE_AWS },
    secretsManager: { ...FAKE_AWS, endpoint: secrets.endpoint },
    upstream: simulatedUpstream(),
    refresher: 'background',
  });
}

test('every call that touches a tenant is made with that tenant’s session, across interleaved requests, refreshes, invalidations and warm runs', async () => {
  const tableName = uniqueTableName('tenant-sessions');
  await ensureTokenTable(dynamoDbLocalEndpoint(), tableName);
  const calls: RecordedCall[] = [];
  const stsBefore = sts.calls.length;
  // Two containers on one table, like two Lambda containers.
  const a = await container(tableName, calls);
  const b = await container(tableName, calls);
  const pick = (i: number) => (i % 2 === 0 ? a : b);

  const rounds = TENANTS.flatMap((tenantId, i) => [
    () => pick(i).vendor.vend(tenantId),
    () => pick(i + 1).vendor.vend(tenantId),
  ]);
  await Promise.all(rounds.map((r) => r()));
  const reported = await Promise.all(TENANTS.slice(0, 6).map((t, i) => pick(i).vendor.vend(t)));
  await Promise.all([
    ...reported.map((token, i) => pick(i + 1).vendor.invalidate(TENANTS[i]!, token.accessToken)),
    ...TENANTS.slice(6).map((t, i) => pick(i).vendor.refresh(t)),
    a.vendor.warmAll(365 * 24 * 3600 * 1000),
    ...TENANTS.map((t, i) => pick(i + 1).vendor.vend(t)),
  ]);
  await Promise.all([a.refreshesIdle?.(), b.refreshesIdle?.()]);

  const touching = calls.filter((c) => c.touched !== undefined);
  expect(new Set(touching.map((c) => c.touched))).toEqual(new Set(TENANTS));
  expect(new Set(touching.map((c) => c.command))).toEqual(new Set(['GetItemCommand', 'UpdateItemCommand', 'GetSecretValueCommand']));
  expect(crossings(calls)).toEqual([]);
  // Only the warmer's listing and the STS calls use the function's own credentials.
  const own = calls.filter((c) => c.session === 'own');
  expect(new Set(own.map((c) => c.command))).toEqual(new Set(['ScanCommand', 'AssumeRoleCommand']));
  expect(calls.filter((c) => c.command === 'ScanCommand').every((c) => c.session === 'own')).toBe(true);
  // One session per container per tenant, each tagged with its tenant and named after it.
  const assumed = sts.calls.slice(stsBefore);
  expect(assumed).toHaveLength(2 * TENANTS.length);
  for (const call of assumed) {
    expect(call).toMatchObject({ roleArn: ROLE_ARN, durationSeconds: 900, sessionName: `tenant-${call.tags.tenantId}` });
    expect(Object.keys(call.tags)).toEqual(['tenantId']);
  }
});

test('planted: a store that signs with another tenant’s session is caught', async () => {
  const tableName = uniqueTableName('tenant-sessions-bug');
  await ensureTokenTable(dynamoDbLocalEndpoint(), tableName);
  const calls: RecordedCall[] = [];
  const swapped = await container(tableName, calls, {
    sessions: (real) => ({ credentialsFor: (t) => real.credentialsFor(t === TENANTS[0] ? TENANTS[1]! : t) }),
  });
  await swapped.vendor.vend(TENANTS[0]!).catch(() => undefined);
  expect(crossings(calls).length).toBeGreaterThan(0);
});

describe('the tenant sessions themselves', () => {
  const sessions = (maxTenants?: number) =>
    new AssumedRoleSessions({
      roleArn: ROLE_ARN,
      client: new STSClient({ ...FAKE_AWS, endpoint: sts.endpoint, maxAttempts: 1 }),
      ...(maxTenants !== undefined && { maxTenants }),
    });

  test('concurrent requests for a tenant without a session share one AssumeRole, and later ones reuse it', async () => {
    const s = sessions();
    const before = sts.calls.length;
    const all = await Promise.all(Array.from({ length: 50 }, () => s.credentialsFor('stampede')));
    await s.credentialsFor('stampede');
    expect(sts.calls.length - before).toBe(1);
    expect(new Set(all.map((c) => c.accessKeyId)).size).toBe(1);
    expect(tenantOfAccessKeyId(all[0]!.accessKeyId)).toBe('stampede');
  });

  test('the cache is bounded: the least recently used tenant is assumed again', async () => {
    const s = sessions(2);
    const before = sts.calls.length;
    await s.credentialsFor('one');
    await s.credentialsFor('two');
    await s.credentialsFor('three'); // evicts "one"
    await s.credentialsFor('two');
    await s.credentialsFor('one');
    expect(sts.calls.slice(before).map((c) => c.tags.tenantId)).toEqual(['one', 'two', 'three', 'one']);
  });

  test.each([
    ['AccessDenied', 'TENANT_SESSION_DENIED', 500],
    ['Throttling', 'DEPENDENCY_THROTTLED', 503],
    ['InternalFailure', 'DEPENDENCY_UNAVAILABLE', 503],
  ] as const)('STS answering %s becomes %s (%d), names no credential, and is not cached', async (stsCode, code, status) => {
    const s = sessions();
    sts.failWith(stsCode);
    let failure: unknown;
    try {
      await s.credentialsFor(`failing-${stsCode}`);
    } catch (error) {
      failure = error;
    } finally {
      sts.failWith(undefined);
    }
    expect(failure).toBeInstanceOf(VendingError);
    expect((failure as VendingError).code).toBe(code);
    const response = errorResponse(failure, 'request-id');
    expect(response.statusCode).toBe(status);
    expect(response.body).not.toMatch(/ASIA|stub-secret|stub-session|refused by the stand-in/);
    // The next request asks STS again, and gets its session.
    const ok = await s.credentialsFor(`failing-${stsCode}`);
    expect(tenantOfAccessKeyId(ok.accessKeyId)).toBe(`failing-${stsCode}`);
  });

  test('a request whose session STS refuses gets TENANT_SESSION_DENIED from the vendor, and no AWS call is made for the tenant', async () => {
    const tableName = uniqueTableName('tenant-sessions-denied');
    await ensureTokenTable(dynamoDbLocalEndpoint(), tableName);
    const calls: RecordedCall[] = [];
    const c = await container(tableName, calls);
    sts.failWith('AccessDenied');
    try {
      await expect(c.vendor.vend('denied-tenant')).rejects.toMatchObject({ code: 'TENANT_SESSION_DENIED' });
    } finally {
      sts.failWith(undefined);
    }
    expect(calls.filter((call) => call.touched === 'denied-tenant')).toEqual([]);
  });
});
