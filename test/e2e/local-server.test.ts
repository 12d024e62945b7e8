/**
 * `npm start` as a user runs it: a separate process in sandbox mode, called over HTTP.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../local/simulator/simulator';
import { startNpmStart as startServer, stopNpmStart as stop } from '../support/npm-start';

test('sandbox mode serves tenant demo with a token the upstream accepts', async () => {
  const server = await startServer();
  try {
    expect(server.output()).toContain(`curl ${server.url}/tenants/demo/token`);
    const first = await fetch(`${server.url}/tenants/demo/token`);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const body = (await first.json()) as { tenantId: string; accessToken: string; expireTime: number };
    expect(body.tenantId).toBe('demo');
    expect(body.expireTime).toBeGreaterThan(Date.now());

    const simulatorUrl = /simulator at (http:\/\/\S+)/.exec(server.output())![1]!;
    const used = await fetch(`${simulatorUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(body.accessToken)}`);
    expect(used.status).toBe(200);

    const second = (await (await fetch(`${server.url}/tenants/demo/token`)).json()) as { accessToken: string };
    expect(second.accessToken).toBe(body.accessToken);
    const counters = (await (await fetch(`${simulatorUrl}/__simulator/counters`)).json()) as { getAccessToken: number };
    expect(counters.getAccessToken).toBe(1);

    // Every answer names the prefix to call the Open API at: the caller needs only a tenant id.
    expect((body as unknown as { baseUrl: string }).baseUrl).toBe(simulatorUrl.replace(/\/$/, ''));
    // Tenant demo-v3: v3 auth, its prefix looked up by corpId through the (simulated) location API.
    expect(server.output()).toContain(`curl ${server.url}/tenants/demo-v3/token`);
    const v3 = (await (await fetch(`${server.url}/tenants/demo-v3/token`)).json()) as { baseUrl: string; scope: string; accessToken: string };
    expect(v3.scope).toBe('tenant');
    expect(v3.baseUrl).toBe(simulatorUrl.replace(/\/$/, ''));
    const usedV3 = await fetch(`${v3.baseUrl}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(v3.accessToken)}`);
    expect(usedV3.status).toBe(200);
    const afterV3 = (await (await fetch(`${simulatorUrl}/__simulator/counters`)).json()) as { getAccessTokenV3: number; location: number; refreshToken: number };
    expect(afterV3).toMatchObject({ getAccessTokenV3: 1, location: 1 });
    // The platform moves demo-v3's environment: the replacement of a rejected token is fetched, and
    // answered, at the new prefix, where it works.
    const moved = `${simulatorUrl.replace(/\/$/, '')}/moved`;
    const move = await fetch(`${simulatorUrl}/__simulator/environments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ corporationId: 'DEMOcorp0003', baseUrl: moved }),
    });
    expect(move.status).toBe(200);
    const replaced = await fetch(`${server.url}/tenants/demo-v3/token/invalidate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accessToken: v3.accessToken }),
    });
    const replacement = (await replaced.json()) as { baseUrl: string; accessToken: string };
    expect(replacement.baseUrl).toBe(moved);
    expect((await fetch(`${moved}/api/openapi/v1/staffs?accessToken=${encodeURIComponent(replacement.accessToken)}`)).status).toBe(200);

    const huge = await fetch(`${server.url}/tenants/demo/token/invalidate`, { method: 'POST', body: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST_BODY');

    const invalid = await fetch(`${server.url}/tenants/no%20such/token`);
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('INVALID_TENANT_ID');
    // No token in what the server printed.
    expect(server.output()).not.toContain(body.accessToken);
  } finally {
    expect(await stop(server)).toBe(0);
  }
});

test('TENANTS_FILE and UPSTREAM_BASE_URL point the server at another upstream', async () => {
  const upstream = await startSimulator({
    issueDelayMs: 0,
    credentials: [{ appKey: 'fake-file-key', appSecurity: 'fake-file-security', corporationId: 'FILEcorp' }],
  });
  const folder = await mkdtemp(join(tmpdir(), 'tenants-'));
  const tenantsFile = join(folder, 'tenants.json');
  await writeFile(
    tenantsFile,
    JSON.stringify({
      filed: { appKey: 'fake-file-key', appSecurity: 'fake-file-security' },
      broken: { appKey: 'fake-file-key' },
    }),
  );
  const server = await startServer({ TENANTS_FILE: tenantsFile, UPSTREAM_BASE_URL: upstream.baseUrl });
  try {
    const ok = await fetch(`${server.url}/tenants/filed/token`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { corporationId: string }).corporationId).toBe('FILEcorp');
    expect(upstream.counters().getAccessToken).toBe(1);
    const broken = await fetch(`${server.url}/tenants/broken/token`);
    expect(broken.status).toBe(500);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe('TENANT_MISCONFIGURED');
    expect(server.output()).not.toContain('Sandbox mode');
    expect(server.output()).not.toContain('fake-file-security');
  } finally {
    await stop(server);
    await upstream.close();
  }
});

test('several servers on one DYNAMODB_ENDPOINT behave as containers sharing one table', async () => {
  const upstream = await startSimulator({
    issueDelayMs: 500,
    newTokenInvalidatesOld: true,
    credentials: [{ appKey: 'fake-shared-key', appSecurity: 'fake-shared-security', corporationId: 'SHAREDcorp' }],
  });
  const folder = await mkdtemp(join(tmpdir(), 'tenants-'));
  const tenantsFile = join(folder, 'tenants.json');
  await writeFile(tenantsFile, JSON.stringify({ shared: { appKey: 'fake-shared-key', appSecurity: 'fake-shared-security' } }));
  const env = {
    TENANTS_FILE: tenantsFile,
    UPSTREAM_BASE_URL: upstream.baseUrl,
    DYNAMODB_ENDPOINT: process.env.DYNAMODB_LOCAL_ENDPOINT!,
    TABLE_NAME: `e2e-shared-${Date.now()}`,
  };
  const servers = await Promise.all([startServer(env), startServer(env), startServer(env)]);
  try {
    const responses = await Promise.all(
      servers.flatMap((server) => Array.from({ length: 10 }, () => fetch(`${server.url}/tenants/shared/token`))),
    );
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Array<{ accessToken: string }>;
    expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(new Set(bodies.map((b) => b.accessToken)).size).toBe(1);
    expect(upstream.counters().getAccessToken).toBe(1);
    expect(upstream.isValid(bodies[0]!.accessToken)).toBe(true);
  } finally {
    await Promise.all(servers.map(stop));
    await upstream.close();
  }
});
