/**
 * README's Python example (`examples/python/get_token.py`, botocore's SigV4Auth) as a user runs
 * it: its requests verify as SigV4 against an independent verifier, and against the real
 * `npm start` server and simulator it recovers from a killed token in one report. CI installs
 * Debian's python3-botocore when no Python here has botocore (`.ci/run`); this test fails rather
 * than skips without it.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SANDBOX_TENANT } from '../../local/server';
import { verify, type CapturedRequest } from '../client/support/sigv4-verifier';
import { startNpmStart, stopNpmStart, type StartedServer } from '../support/npm-start';
import { runToExit, type Finished } from '../support/run-to-exit';

const EXAMPLE = new URL('../../examples/python/get_token.py', import.meta.url).pathname;
const TOKEN_SHAPE = /ID_[A-Za-z0-9]{22}:/;
/** Obviously fake credentials (the AWS docs' example key id); botocore signs with them. */
const FAKE_AWS = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key-for-tests',
  AWS_SESSION_TOKEN: 'fake-session-token-for-tests',
  AWS_REGION: 'eu-west-1',
  // No instance metadata lookups: there is no EC2 here.
  AWS_EC2_METADATA_DISABLED: 'true',
};

function findPython(): string {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const found = candidates.find((python) => spawnSync(python, ['-c', 'import botocore'], { stdio: 'ignore' }).status === 0);
  if (found === undefined) throw new Error(`no Python with botocore among ${candidates.join(', ')}: apt-get install python3-botocore (.ci/run does)`);
  return found;
}

function runExample(env: Record<string, string>, tenantId: string): Promise<Finished> {
  return runToExit(findPython(), [EXAMPLE, tenantId, '/api/openapi/v1/staffs'], {
    PATH: process.env.PATH!,
    HOME: '/nonexistent',
    ...FAKE_AWS,
    ...env,
  });
}

describe('the Python example', () => {
  let capture: Server | undefined;
  let npmStart: StartedServer | undefined;
  afterEach(async () => {
    capture?.close();
    capture = undefined;
    if (npmStart) await stopNpmStart(npmStart);
    npmStart = undefined;
  });

  test('signs GET and the invalidate POST with valid SigV4 (checked by an independent verifier)', async () => {
    const captured: CapturedRequest[] = [];
    const read = async (req: IncomingMessage) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    };
    // Plays both the service (token routes) and Ekuaibao (rejects the first token).
    capture = createServer(async (req, res) => {
      const url = new URL(req.url!, `http://${req.headers.host}`);
      const body = await read(req);
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (url.pathname.startsWith('/v1/tenants/')) {
        captured.push({ method: req.method!, url, headers: req.headers as Record<string, string>, body });
        const accessToken = req.method === 'GET' ? 'fake-first' : 'fake-second';
        return json(200, { tenantId: 'acme', accessToken, corporationId: 'FAKEcorp', expireTime: 4102444800000 });
      }
      return url.searchParams.get('accessToken') === 'fake-second' ? json(200, { count: 0, items: [] }) : json(403, { errorCode: 403 });
    });
    capture.listen(0, '127.0.0.1');
    await once(capture, 'listening');
    const base = `http://127.0.0.1:${(capture.address() as AddressInfo).port}`;

    const run = await runExample({ TOKEN_VENDING_API_URL: `${base}/v1/`, EKUAIBAO_BASE_URL: base }, 'acme');
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ status: 200, reported: true, expireTime: 4102444800000 });
    expect(captured.map((r) => `${r.method} ${r.url.pathname}`)).toEqual(['GET /v1/tenants/acme/token', 'POST /v1/tenants/acme/token/invalidate']);
    for (const request of captured) {
      const { valid, auth } = verify(request, FAKE_AWS.AWS_SECRET_ACCESS_KEY);
      expect(valid).toBe(true);
      expect(auth).toMatchObject({ accessKeyId: 'AKIDEXAMPLE', region: 'eu-west-1', service: 'execute-api' });
      expect(auth.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
      expect(request.headers['x-amz-security-token']).toBe(FAKE_AWS.AWS_SESSION_TOKEN);
    }
    expect(JSON.parse(captured[1]!.body)).toEqual({ accessToken: 'fake-first' });
    // A changed body no longer verifies: the body's hash is part of what was signed.
    expect(verify({ ...captured[1]!, body: '{"accessToken":"fake-other"}' }, FAKE_AWS.AWS_SECRET_ACCESS_KEY).valid).toBe(false);
  });

  test('against npm start: a token killed upstream is reported once and the call succeeds with the replacement', async () => {
    npmStart = await startNpmStart({ SANDBOX_ISSUE_DELAY_MS: '100' });
    const simulatorUrl = /upstream simulator at (http:\/\/\S+)/.exec(npmStart.output())![1]!;
    await fetch(`${simulatorUrl}/__simulator/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ newTokenInvalidatesOld: true }),
    });
    // The service holds a token; somebody else then takes a new one, which kills it.
    expect((await fetch(`${npmStart.url}/tenants/demo/token`)).status).toBe(200);
    const forced = await fetch(`${simulatorUrl}/api/openapi/v1/auth/getAccessToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appKey: SANDBOX_TENANT.appKey, appSecurity: SANDBOX_TENANT.appSecurity }),
    });
    expect(forced.status).toBe(200);

    const run = await runExample({ TOKEN_VENDING_API_URL: npmStart.url, EKUAIBAO_BASE_URL: simulatorUrl }, 'demo');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 200, reported: true });
    const counters = (await (await fetch(`${simulatorUrl}/__simulator/counters`)).json()) as { getAccessToken: number };
    // The service's first token, the forced one, and one replacement.
    expect(counters.getAccessToken).toBe(3);
    for (const output of [run.stdout, npmStart.output()]) expect(output).not.toMatch(TOKEN_SHAPE);
  }, 60_000);
});
