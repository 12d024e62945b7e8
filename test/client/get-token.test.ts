import { readFileSync } from 'node:fs';
import { TENANT_ID_PATTERN as SERVICE_TENANT_ID_PATTERN } from '../../contract/tenant-id';
import { TENANT_ID_PATTERN, TokenVendingClient, TokenVendingError, type TokenVendingClientOptions, type TokenVendingEvent } from '../../client/src/index.js';
import { FakeClock, settle } from './support/fake-clock';
import { API_URL, FAKE_CREDENTIALS, FakeNetwork, errorAnswer, hang, json, rejectionOf, tokenAnswer } from './support/fake-network';

function setup(options: Partial<TokenVendingClientOptions> = {}) {
  const clock = new FakeClock();
  const network = new FakeNetwork();
  const events: TokenVendingEvent[] = [];
  const client = new TokenVendingClient({
    apiUrl: API_URL,
    credentials: FAKE_CREDENTIALS,
    fetch: network.fetch,
    clock,
    random: () => 0.5,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { clock, network, client, events };
}

describe('getToken: cache', () => {
  it('serves the cached token until expireTime − skew and fetches again at that moment, not before', async () => {
    const { clock, network, client } = setup({ expirySkewMs: 60_000 });
    const expireTime = clock.now() + 120_000;
    network.handler = () => tokenAnswer(`T${network.requests.length}`, expireTime);

    expect((await client.getToken('acme')).accessToken).toBe('T1');
    await clock.advance(59_999);
    expect((await client.getToken('acme')).accessToken).toBe('T1');
    expect(network.requests).toHaveLength(1);

    await clock.advance(1);
    expect((await client.getToken('acme')).accessToken).toBe('T2');
    expect(network.requests).toHaveLength(2);
  });

  it('sends one request for N concurrent callers of a tenant, and one per tenant', async () => {
    const { clock, network, client } = setup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    network.handler = async (request) => {
      await gate;
      const tenantId = request.url.pathname.split('/')[3]!;
      return tokenAnswer(`token-of-${tenantId}`, clock.now() + 3_600_000, {}, tenantId);
    };

    const callers = [...Array(25)].map((_, i) => client.getToken(i % 5 === 0 ? 'other' : 'acme'));
    await settle();
    expect(network.requests.map((r) => r.url.pathname).sort()).toEqual(['/v1/tenants/acme/token', '/v1/tenants/other/token']);
    release();
    const tokens = await Promise.all(callers);
    expect(new Set(tokens.filter((t) => t.tenantId === 'acme'))).toEqual(new Set([tokens[1]]));
    expect(network.requests).toHaveLength(2);
  });

  it('keeps unknown fields of the answer and freezes the shared token', async () => {
    const { clock, network, client } = setup();
    network.handler = () => tokenAnswer('T', clock.now() + 3_600_000, { baseUrl: 'https://wx2.ekuaibao.com', scope: 'tenant', future: 1 });
    const token = await client.getToken('acme');
    expect(token).toEqual({
      tenantId: 'acme', accessToken: 'T', corporationId: 'CORP0000', expireTime: clock.now() + 3_600_000,
      baseUrl: 'https://wx2.ekuaibao.com', scope: 'tenant', future: 1,
    });
    expect(Object.isFrozen(token)).toBe(true);
  });
});

describe('getToken: retries', () => {
  it('waits Retry-After (2 s) plus jitter after a 503, then succeeds', async () => {
    // random 0.5: half of the first backoff ceiling (100 ms) on top of Retry-After.
    const { clock, network, client, events } = setup({ random: () => 0.5 });
    network.handler = () =>
      network.requests.length === 1
        ? errorAnswer(503, 'TOKEN_REFRESH_IN_PROGRESS', 'req-1', { 'retry-after': '2' })
        : tokenAnswer('T', clock.now() + 3_600_000);

    let settled = false;
    const call = client.getToken('acme').finally(() => (settled = true));
    await clock.advance(2_049);
    expect(network.requests).toHaveLength(1);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(network.requests).toHaveLength(2);
    expect((await call).accessToken).toBe('T');
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'retry', attempt: 1, delayMs: 2_050, code: 'TOKEN_REFRESH_IN_PROGRESS', status: 503, requestId: 'req-1' }),
    );
  });

  it.each([
    [429, 'THROTTLED'],
    [429, 'INVALIDATION_RATE_LIMITED'],
    [503, 'UPSTREAM_UNAVAILABLE'],
    [503, 'DEPENDENCY_THROTTLED'],
    [503, 'DEPENDENCY_UNAVAILABLE'],
  ])('retries %i %s with jittered backoff when there is no Retry-After', async (status, code) => {
    const { clock, network, client } = setup({ random: () => 0.5 });
    network.handler = () => (network.requests.length === 1 ? errorAnswer(status, code, 'r') : tokenAnswer('T', clock.now() + 3_600_000));
    const call = client.getToken('acme');
    await clock.advance(49); // half of the first backoff ceiling (100 ms)
    expect(network.requests).toHaveLength(1);
    await clock.advance(1);
    expect((await call).accessToken).toBe('T');
  });

  it('retries network errors', async () => {
    const { clock, network, client } = setup();
    network.handler = () => {
      if (network.requests.length === 1) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNRESET' }) });
      return tokenAnswer('T', clock.now() + 3_600_000);
    };
    const call = client.getToken('acme');
    await clock.advance(1_000);
    expect((await call).accessToken).toBe('T');
    expect(network.requests).toHaveLength(2);
  });

  it('stops at the deadline and throws the last answer, with its code, requestId and Retry-After', async () => {
    // No jitter (random 0): the waits are Retry-After exactly.
    const { clock, network, client } = setup({ deadlineMs: 5_000, random: () => 0 });
    network.handler = () => errorAnswer(503, 'TOKEN_REFRESH_IN_PROGRESS', `req-${network.requests.length}`, { 'retry-after': '2' });
    const start = clock.now();
    let failedAt: number | undefined;
    const call = rejectionOf(client.getToken('acme').finally(() => (failedAt = clock.now())));
    await clock.advance(10_000);
    const error = await call;
    expect(error).toBeInstanceOf(TokenVendingError);
    expect(error).toMatchObject({ code: 'TOKEN_REFRESH_IN_PROGRESS', status: 503, requestId: 'req-3', retryAfterSeconds: 2, retryable: true });
    // attempts at 0, 2 s and 4 s; a wait until 6 s would pass the deadline, so it gives up at 4 s
    expect(network.requests).toHaveLength(3);
    expect(failedAt! - start).toBe(4_000);
  });

  it('gives up at once when Retry-After ends past the deadline', async () => {
    const { clock, network, client } = setup({ deadlineMs: 30_000 });
    network.handler = () => errorAnswer(429, 'INVALIDATION_RATE_LIMITED', 'req-9', { 'retry-after': '31' });
    const error = await rejectionOf(client.getToken('acme'));
    expect(error).toMatchObject({ code: 'INVALIDATION_RATE_LIMITED', status: 429, requestId: 'req-9', retryAfterSeconds: 31 });
    expect(network.requests).toHaveLength(1);
    expect(clock.now()).toBe(Date.UTC(2030, 0, 1));
  });

  it('throws DEADLINE_EXCEEDED when the service does not answer before the deadline, even if fetch ignores its signal', async () => {
    const { clock, network, client } = setup({ deadlineMs: 5_000 });
    network.handler = () => hang();
    const call = rejectionOf(client.getToken('acme'));
    await clock.advance(4_999);
    expect(network.requests).toHaveLength(1);
    expect(network.requests[0]!.init.signal?.aborted).toBe(false);
    await clock.advance(1);
    const error = await call;
    expect(error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false });
    expect(network.requests[0]!.init.signal?.aborted).toBe(true);
  });

  it('times out a slow attempt after attemptTimeoutMs and retries it', async () => {
    const { clock, network, client } = setup({ attemptTimeoutMs: 1_000, deadlineMs: 10_000 });
    network.handler = () => (network.requests.length === 1 ? hang() : tokenAnswer('T', clock.now() + 3_600_000));
    const call = client.getToken('acme');
    await clock.advance(1_000);
    expect(network.requests[0]!.init.signal?.aborted).toBe(true);
    await clock.advance(100);
    expect((await call).accessToken).toBe('T');
    expect(network.requests).toHaveLength(2);
  });

  it.each([
    [400, 'INVALID_TENANT_ID'],
    [403, 'ACCESS_DENIED'],
    [404, 'TENANT_NOT_FOUND'],
    [500, 'TENANT_MISCONFIGURED'],
    [500, 'INTERNAL_ERROR'],
    [502, 'UPSTREAM_REJECTED_CREDENTIALS'],
  ])('does not retry %i %s', async (status, code) => {
    const { network, client } = setup();
    network.handler = () => errorAnswer(status, code, 'req-x', { 'retry-after': '1' });
    const error = await rejectionOf(client.getToken('acme'));
    expect(error).toMatchObject({ name: 'TokenVendingError', code, status, requestId: 'req-x', retryable: false });
    expect(network.requests).toHaveLength(1);
  });

  it('maps an error without the documented body to HTTP_ERROR with API Gateway\'s request id header', async () => {
    const { network, client } = setup();
    network.handler = () => new Response('<html>bad gateway</html>', { status: 502, headers: { 'x-amzn-RequestId': 'gw-1' } });
    expect(await rejectionOf(client.getToken('acme'))).toMatchObject({ code: 'HTTP_ERROR', status: 502, requestId: 'gw-1' });
  });

  it.each([
    ['not JSON', 'nope'],
    ['another tenant', JSON.stringify({ tenantId: 'other', accessToken: 'T', corporationId: 'C', expireTime: 1 })],
    ['no accessToken', JSON.stringify({ tenantId: 'acme', corporationId: 'C', expireTime: 1 })],
    ['a string expireTime', JSON.stringify({ tenantId: 'acme', accessToken: 'T', corporationId: 'C', expireTime: '1' })],
    ['an http baseUrl', JSON.stringify({ tenantId: 'acme', accessToken: 'T', corporationId: 'C', expireTime: 1, baseUrl: 'http://evil.example' })],
  ])('refuses a 200 with %s as INVALID_RESPONSE, without retrying or caching', async (_, body) => {
    const { network, client } = setup();
    network.handler = () => new Response(body, { status: 200 });
    const error = await rejectionOf(client.getToken('acme'));
    expect(error).toMatchObject({ code: 'INVALID_RESPONSE', status: 200 });
    expect(String((error as Error).message)).not.toContain('"T"');
    expect(network.requests).toHaveLength(1);
    await rejectionOf(client.getToken('acme'));
    expect(network.requests).toHaveLength(2);
  });
});

describe('tenant ids and options', () => {
  it('uses the service\'s tenant id pattern', () => {
    expect(TENANT_ID_PATTERN.source).toBe(SERVICE_TENANT_ID_PATTERN.source);
  });

  it.each(['', 'a/b', '-acme', 'a'.repeat(65), 'acme ', '../x'])('refuses tenant id %j before any request', async (tenantId) => {
    const { network, client } = setup();
    expect(await rejectionOf(client.getToken(tenantId))).toMatchObject({ code: 'INVALID_TENANT_ID' });
    expect(await rejectionOf(client.reportRejected(tenantId, 'T'))).toMatchObject({ code: 'INVALID_TENANT_ID' });
    expect(await rejectionOf(client.ekuaibaoFetch(tenantId, '/api/x'))).toMatchObject({ code: 'INVALID_TENANT_ID' });
    expect(network.requests).toHaveLength(0);
  });

  it('takes the region from an execute-api host, else the region option, else AWS_REGION', () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    try {
      delete process.env.AWS_REGION;
      delete process.env.AWS_DEFAULT_REGION;
      const options = { credentials: FAKE_CREDENTIALS, fetch: new FakeNetwork().fetch };
      expect(() => new TokenVendingClient({ ...options, apiUrl: 'https://vending.example.com/v1' })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('region') }),
      );
      expect(() => new TokenVendingClient({ ...options, apiUrl: 'https://vending.example.com/v1', region: 'eu-west-1' })).not.toThrow();
      expect(() => new TokenVendingClient({ ...options, apiUrl: API_URL })).not.toThrow();
      process.env.AWS_REGION = 'eu-central-1';
      expect(() => new TokenVendingClient({ ...options, apiUrl: 'https://vending.example.com/v1' })).not.toThrow();
      // loopback over http: unsigned, no region needed
      delete process.env.AWS_REGION;
      expect(() => new TokenVendingClient({ apiUrl: 'http://127.0.0.1:3000' })).not.toThrow();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it.each([
    ['plain http off the machine', { apiUrl: 'http://vending.example.com' }],
    ['a relative apiUrl', { apiUrl: '/v1' }],
    ['a query in apiUrl', { apiUrl: `${API_URL}?x=1` }],
    ['a negative skew', { apiUrl: API_URL, expirySkewMs: -1 }],
    ['a zero deadline', { apiUrl: API_URL, deadlineMs: 0 }],
    ['an http ekuaibaoBaseUrl', { apiUrl: API_URL, ekuaibaoBaseUrl: 'http://app.ekuaibao.com' }],
  ])('refuses %s at construction', (_, options) => {
    expect(() => new TokenVendingClient({ credentials: FAKE_CREDENTIALS, ...options })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('joins apiUrl with or without a trailing slash to the same route', async () => {
    for (const apiUrl of [`${API_URL}/`, API_URL]) {
      const { clock, network, client } = setup({ apiUrl });
      network.handler = () => tokenAnswer('T', clock.now() + 3_600_000);
      await client.getToken('acme');
      expect(network.requests[0]!.url.href).toBe(`${API_URL}/tenants/acme/token`);
    }
  });

  it('keeps the library free of logging', () => {
    const sources = ['token-vending-client', 'vending-api', 'config', 'request-signer', 'ekuaibao-request', 'token-cache'].map((name) =>
      readFileSync(new URL(`../../client/src/${name}.ts`, import.meta.url), 'utf8'),
    );
    for (const source of sources) expect(source).not.toMatch(/console\.|process\.stdout|process\.stderr/);
  });
});
