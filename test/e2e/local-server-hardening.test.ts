/**
 * `npm start` against requests no well-behaved client sends, written byte for byte on `node:net`
 * sockets so that nothing normalizes them first: request targets a URL parser would resolve into
 * another tenant's route, malformed requests that Node's parser refuses, and Host headers that
 * are not loopback (DNS rebinding). Every refusal is the service's JSON error shape with a
 * stable code, and the server keeps serving.
 */
import { connect } from 'node:net';
import { loadLocalConfig } from '../../local/config';
import { startNpmStart, stopNpmStart, type StartedServer } from '../support/npm-start';

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Writes `request` as is, reads until the server closes the connection, parses the response. */
function rawRequest(server: StartedServer, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 80))}`)));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`no HTTP response: ${JSON.stringify(text)}`));
      const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = text.slice(split + 4);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]),
        headers,
        body: headers['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest,
      });
    });
    socket.write(request);
  });
}

function dechunk(text: string): string {
  let body = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return body;
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** A GET with `Connection: close`, so that the server closes the socket after its answer. */
function get(server: StartedServer, target: string, host = new URL(server.url).host, extra = ''): Promise<RawResponse> {
  return rawRequest(server, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
}

let server: StartedServer;
let token: string;

beforeAll(async () => {
  server = await startNpmStart({ SANDBOX_ISSUE_DELAY_MS: '0' });
  const ok = await get(server, '/tenants/demo/token');
  expect(ok.status).toBe(200);
  token = (JSON.parse(ok.body) as { accessToken: string }).accessToken;
  expect(token.length).toBeGreaterThan(0);
});

afterAll(async () => {
  // Still up after everything below, and stops cleanly.
  if (server) expect(await stopNpmStart(server)).toBe(0);
});

/** The service's error shape, with `code`, and no token in it. */
function expectError(response: RawResponse, status: number, code: string): void {
  expect({ status: response.status, contentType: response.headers['content-type'] }).toEqual({ status, contentType: 'application/json' });
  expect(JSON.parse(response.body)).toEqual({ error: { code, message: expect.any(String), requestId: expect.any(String) } });
  expect(response.body).not.toContain(token);
}

describe('request targets are taken literally, never resolved into another route', () => {
  test.each([
    ['/tenants/other/../demo/token', 'a .. segment'],
    ['/tenants/demo/./token', 'a . segment'],
    ['/tenants/other/%2e%2e/demo/token', 'a percent-encoded .. segment'],
    ['/tenants/other/.%2E/demo/token', 'a half-encoded .. segment'],
    ['/tenants/%2e/token', 'a percent-encoded . segment as tenant'],
    ['//evil/tenants/demo/token', 'a //host path'],
    ['http://127.0.0.1/tenants/demo/token', 'absolute form'],
    ['http://evil.example/tenants/demo/token', 'absolute form naming another host'],
    ['/tenants/demo\\token', 'a backslash'],
    ['/tenants/de%zzmo/token', 'a malformed percent-encoding'],
    ['*', 'asterisk form'],
  ])('%s (%s): 400 INVALID_REQUEST_TARGET', async (target) => {
    expectError(await get(server, target), 400, 'INVALID_REQUEST_TARGET');
  });

  test('a percent-encoded tenant id is refused as in AWS: 400 INVALID_TENANT_ID', async () => {
    expectError(await get(server, '/tenants/de%6Do/token'), 400, 'INVALID_TENANT_ID');
    expectError(await get(server, '/tenants/%64%65%6D%6F/token'), 400, 'INVALID_TENANT_ID');
    const body = '{"accessToken":"x"}';
    const post = await rawRequest(
      server,
      `POST /tenants/de%6Do/token/invalidate HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectError(post, 400, 'INVALID_TENANT_ID');
  });

  test('a literal path that is no route stays 404 NOT_FOUND', async () => {
    expectError(await get(server, '/tenants/demo/token/extra'), 404, 'NOT_FOUND');
    expectError(await get(server, '/tenants//token'), 404, 'NOT_FOUND');
  });

  test('CONNECT is refused in the same shape', async () => {
    const response = await rawRequest(server, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
    expectError(response, 400, 'INVALID_REQUEST_TARGET');
  });
});

describe("Node's own refusals are JSON too, and the server stays up", () => {
  test('a malformed absolute-form target (http://[::1/…) is 400, then a normal request is served', async () => {
    const response = await get(server, 'http://[::1/tenants/demo/token', '127.0.0.1');
    expect(response.status).toBe(400);
    expect(['INVALID_REQUEST_TARGET', 'MALFORMED_REQUEST']).toContain(JSON.parse(response.body).error.code);
    expectError(response, 400, JSON.parse(response.body).error.code);
    const after = await get(server, '/tenants/demo/token');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body).accessToken).toBe(token);
  });

  test('an oversized header is 431 REQUEST_HEADERS_TOO_LARGE', async () => {
    expectError(await get(server, '/tenants/demo/token', undefined, `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'REQUEST_HEADERS_TOO_LARGE');
  });

  test('a garbage request line is 400 MALFORMED_REQUEST', async () => {
    expectError(await rawRequest(server, 'GARBAGE\r\n\r\n'), 400, 'MALFORMED_REQUEST');
    expectError(await rawRequest(server, 'GET /tenants/demo/token HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n'), 400, 'MALFORMED_REQUEST');
  });

  test('no Host header, or two, is 400 MALFORMED_REQUEST', async () => {
    expectError(await rawRequest(server, 'GET /tenants/demo/token HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'MALFORMED_REQUEST');
    expectError(await rawRequest(server, 'GET /tenants/demo/token HTTP/1.0\r\n\r\n'), 400, 'MALFORMED_REQUEST');
    expectError(await get(server, '/tenants/demo/token', undefined, 'Host: evil.example\r\n'), 400, 'MALFORMED_REQUEST');
  });

  test('an Expect other than 100-continue is 417 EXPECTATION_FAILED', async () => {
    expectError(await get(server, '/tenants/demo/token', undefined, 'Expect: something\r\n'), 417, 'EXPECTATION_FAILED');
  });

  test('after all of that, the server still serves', async () => {
    const after = await get(server, '/tenants/demo/token');
    expect(after.status).toBe(200);
  });
});

describe('Host must be loopback unless ALLOWED_HOSTS says otherwise', () => {
  test.each([['127.0.0.1'], ['127.1.2.3'], ['localhost'], ['LOCALHOST'], ['[::1]']])('Host %s (with the port, or without) is served', async (name) => {
    const port = new URL(server.url).port;
    expect((await get(server, '/tenants/demo/token', `${name}:${port}`)).status).toBe(200);
    expect((await get(server, '/tenants/demo/token', name)).status).toBe(200);
  });

  test.each([['evil.example'], ['evil.example:3000'], ['127.0.0.1.evil.example'], ['192.168.1.10'], ['localhost@evil.example'], ['']])(
    'Host %j is 403 HOST_NOT_ALLOWED',
    async (host) => {
      expectError(await get(server, '/tenants/demo/token', host), 403, 'HOST_NOT_ALLOWED');
    },
  );

  test('ALLOWED_HOSTS names the hosts a server bound beyond loopback answers to', async () => {
    const allowing = await startNpmStart({ SANDBOX_ISSUE_DELAY_MS: '0', ALLOWED_HOSTS: 'tokens.lan, 192.168.1.10' });
    try {
      const port = new URL(allowing.url).port;
      for (const host of [`tokens.lan:${port}`, 'TOKENS.LAN', '192.168.1.10', `127.0.0.1:${port}`]) {
        const served = await get(allowing, '/tenants/demo/token', host);
        expect([host, served.status]).toEqual([host, 200]);
      }
      expectError(await get(allowing, '/tenants/demo/token', 'evil.example'), 403, 'HOST_NOT_ALLOWED');
      // Still no resolution of targets, whatever the host.
      expectError(await get(allowing, '/tenants/other/../demo/token', 'tokens.lan'), 400, 'INVALID_REQUEST_TARGET');
    } finally {
      expect(await stopNpmStart(allowing)).toBe(0);
    }
  });

  test('ALLOWED_HOSTS=* allows any host', async () => {
    const any = await startNpmStart({ SANDBOX_ISSUE_DELAY_MS: '0', ALLOWED_HOSTS: '*' });
    try {
      expect((await get(any, '/tenants/demo/token', 'evil.example')).status).toBe(200);
    } finally {
      expect(await stopNpmStart(any)).toBe(0);
    }
  });

  test('ALLOWED_HOSTS is validated: host names or IP addresses, no ports or schemes', () => {
    expect(loadLocalConfig({}).ALLOWED_HOSTS).toEqual([]);
    expect(loadLocalConfig({ ALLOWED_HOSTS: ' Tokens.LAN ,[::1], 10.0.0.1,*' }).ALLOWED_HOSTS).toEqual(['tokens.lan', '::1', '10.0.0.1', '*']);
    expect(() => loadLocalConfig({ ALLOWED_HOSTS: 'tokens.lan:3000' })).toThrow(/ALLOWED_HOSTS/);
    expect(() => loadLocalConfig({ ALLOWED_HOSTS: 'http://tokens.lan' })).toThrow(/ALLOWED_HOSTS/);
  });
});
