import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenVendingClient } from '../../client/src/index.js';
import { FakeClock } from './support/fake-clock';
import { API_URL, FAKE_CREDENTIALS, FakeNetwork, tokenAnswer, type RecordedRequest } from './support/fake-network';
import { expectedSignature, sha256Hex, verify, type CapturedRequest } from './support/sigv4-verifier';

const SECRET = FAKE_CREDENTIALS.secretAccessKey;

describe('the independent SigV4 verifier', () => {
  // AWS's published SigV4 test suite (aws-sig-v4-test-suite): AKIDEXAMPLE, us-east-1, service "service".
  const suite = { date: '20150830', region: 'us-east-1', service: 'service' } as const;
  const amzDate = '20150830T123600Z';
  it.each([
    ['get-vanilla', 'GET', 'https://example.amazonaws.com/', {}, '', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    ['get-vanilla-query-order-key-case', 'GET', 'https://example.amazonaws.com/?Param2=value2&Param1=value1', {}, '', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
    ['post-x-www-form-urlencoded', 'POST', 'https://example.amazonaws.com/', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'Param1=value1', 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a'],
  ] as const)('reproduces the suite\'s %s signature', (_, method, url, extraHeaders, body, signature) => {
    const headers: Record<string, string> = { ...extraHeaders, 'X-Amz-Date': amzDate };
    const signedHeaders = [...Object.keys(headers).map((h) => h.toLowerCase()), 'host'].sort();
    const request: CapturedRequest = { method, url: new URL(url), headers, body };
    expect(expectedSignature(request, { ...suite, signedHeaders }, amzDate, SECRET)).toBe(signature);
  });
});

describe('requests to the service are signed with SigV4 for execute-api', () => {
  const signingTime = Date.UTC(2030, 0, 2, 3, 4, 5);

  async function capture(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) {
    const network = new FakeNetwork();
    const clock = new FakeClock(signingTime);
    network.handler = (request) => tokenAnswer(request.method === 'POST' ? 'ID_new:C' : 'ID_old:C', signingTime + 3_600_000);
    const client = new TokenVendingClient({ apiUrl: `${API_URL}/`, credentials, fetch: network.fetch, clock });
    await client.getToken('acme');
    await client.reportRejected('acme', 'ID_old:C');
    return network.requests.map(toCaptured);
  }

  it('signs GET and POST so that the spec\'s algorithm computes the same signature', async () => {
    const [get, post] = await capture(FAKE_CREDENTIALS);
    for (const request of [get!, post!]) {
      const { valid, auth } = verify(request, SECRET);
      expect(valid).toBe(true);
      expect(auth).toMatchObject({ accessKeyId: 'AKIDEXAMPLE', date: '20300102', region: 'eu-west-1', service: 'execute-api' });
      expect(request.headers['x-amz-date']).toBe('20300102T030405Z');
      // fetch derives Host from the URL; the client must not send one of its own
      expect(request.headers.host).toBeUndefined();
      expect(auth.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-content-sha256']));
    }
    expect(get!.url.href).toBe(`${API_URL}/tenants/acme/token`);
    expect(post!.url.href).toBe(`${API_URL}/tenants/acme/token/invalidate`);
  });

  it('signs the body hash and the host: changing either breaks the signature', async () => {
    const [, post] = await capture(FAKE_CREDENTIALS);
    expect(post!.body).toBe('{"accessToken":"ID_old:C"}');
    expect(post!.headers['x-amz-content-sha256']).toBe(sha256Hex(post!.body));
    expect(verify(post!, SECRET).auth.signedHeaders).toEqual(expect.arrayContaining(['content-type', 'host', 'x-amz-content-sha256']));
    expect(verify({ ...post!, body: '{"accessToken":"ID_other:C"}' }, SECRET).valid).toBe(false);
    expect(verify({ ...post!, url: new URL(post!.url.href.replace('abc123', 'abc124')) }, SECRET).valid).toBe(false);
    expect(verify(post!, 'another-secret').valid).toBe(false);
  });

  it('sends a session token as a signed X-Amz-Security-Token', async () => {
    const [get] = await capture({ ...FAKE_CREDENTIALS, sessionToken: 'FAKE-SESSION-TOKEN//EXAMPLE' });
    expect(get!.headers['x-amz-security-token']).toBe('FAKE-SESSION-TOKEN//EXAMPLE');
    const { valid, auth } = verify(get!, SECRET);
    expect(valid).toBe(true);
    expect(auth.signedHeaders).toContain('x-amz-security-token');
  });

  it('calls a credentials provider and signs with what it returns', async () => {
    let calls = 0;
    const network = new FakeNetwork();
    network.handler = () => tokenAnswer('T', Date.now() + 3_600_000);
    const provider = async () => (calls++, FAKE_CREDENTIALS);
    await new TokenVendingClient({ apiUrl: API_URL, credentials: provider, fetch: network.fetch }).getToken('acme');
    expect(calls).toBeGreaterThan(0);
    expect(verify(toCaptured(network.requests[0]!), SECRET).valid).toBe(true);
  });

  it('takes credentials from the default provider chain when none are given', async () => {
    const names = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;
    const saved = names.map((name) => process.env[name]);
    try {
      process.env.AWS_ACCESS_KEY_ID = 'AKIDFROMENVEXAMPLE';
      process.env.AWS_SECRET_ACCESS_KEY = 'env-secret-EXAMPLEKEY';
      delete process.env.AWS_SESSION_TOKEN;
      const network = new FakeNetwork();
      network.handler = () => tokenAnswer('T', Date.now() + 3_600_000);
      await new TokenVendingClient({ apiUrl: API_URL, fetch: network.fetch }).getToken('acme');
      const { valid, auth } = verify(toCaptured(network.requests[0]!), 'env-secret-EXAMPLEKEY');
      expect(valid).toBe(true);
      expect(auth.accessKeyId).toBe('AKIDFROMENVEXAMPLE');
    } finally {
      names.forEach((name, i) => (saved[i] === undefined ? delete process.env[name] : (process.env[name] = saved[i])));
    }
  });

  it('fails with CREDENTIALS_ERROR, unretried, when no credentials can be found', async () => {
    const network = new FakeNetwork();
    const client = new TokenVendingClient({
      apiUrl: API_URL,
      credentials: async () => {
        throw new Error('Could not load credentials from any providers');
      },
      fetch: network.fetch,
    });
    await expect(client.getToken('acme')).rejects.toMatchObject({ code: 'CREDENTIALS_ERROR', retryable: false });
    expect(network.requests).toHaveLength(0);
  });
});

describe('loopback http (npm start)', () => {
  it('sends unsigned requests over the real network stack and needs no credentials', async () => {
    const seen: IncomingMessage[] = [];
    const server = createServer((request, response) => {
      seen.push(request);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ tenantId: 'demo', accessToken: 'ID_x:DEMO', corporationId: 'DEMO', expireTime: Date.now() + 3_600_000 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new TokenVendingClient({ apiUrl: `http://127.0.0.1:${port}` });
      expect((await client.getToken('demo')).accessToken).toBe('ID_x:DEMO');
      expect(seen).toHaveLength(1);
      expect(seen[0]!.url).toBe('/tenants/demo/token');
      expect(seen[0]!.headers.authorization).toBeUndefined();
      expect(seen[0]!.headers['x-amz-date']).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

function toCaptured(request: RecordedRequest): CapturedRequest {
  return { method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body: request.body ?? '' };
}
