import { inspect } from 'node:util';
import { TokenVendingClient, TokenVendingError, type TokenVendingClientOptions } from '../../client/src/index.js';
import { FakeClock, settle } from './support/fake-clock';
import { API_URL, FAKE_CREDENTIALS, FakeNetwork, errorAnswer, json, rejectionOf, tokenAnswer, type RecordedRequest } from './support/fake-network';

const X = 'ID_old:CORP0000';
const Y = 'ID_new:CORP0000';
const HOUR = 3_600_000;

function setup(options: Partial<TokenVendingClientOptions> = {}) {
  const clock = new FakeClock();
  const network = new FakeNetwork();
  const client = new TokenVendingClient({ apiUrl: API_URL, credentials: FAKE_CREDENTIALS, fetch: network.fetch, clock, random: () => 0.5, ...options });
  return { clock, network, client };
}

function isInvalidate(request: RecordedRequest): boolean {
  return request.method === 'POST' && request.url.pathname === '/v1/tenants/acme/token/invalidate';
}

function tokenOf(request: RecordedRequest): string | null {
  return request.url.searchParams.get('accessToken');
}

/** A service whose current token is X until X is reported, then Y. */
function serviceRotatingOnReport(network: FakeNetwork, clock: FakeClock, baseUrl?: string) {
  let current = X;
  return (request: RecordedRequest): Response => {
    const extra = baseUrl === undefined ? {} : { baseUrl };
    if (isInvalidate(request)) {
      if (JSON.parse(request.body!).accessToken === current) current = current === X ? Y : `${current}+`;
      return tokenAnswer(current, clock.now() + HOUR, extra);
    }
    return tokenAnswer(current, clock.now() + HOUR, extra);
  };
}

/** Everything an error could show a log or an error tracker. */
function serialized(error: unknown): string {
  const parts = [inspect(error, { depth: Infinity, showHidden: true })];
  for (let current = error, depth = 0; current instanceof Error && depth < 10; current = current.cause, depth++) {
    parts.push(current.message, String(current.stack), JSON.stringify(current, Object.getOwnPropertyNames(current)));
  }
  return parts.join('\n');
}

describe('reportRejected', () => {
  it('sends one report for concurrent reports of a token, answers the replacement and caches it', async () => {
    const { clock, network, client } = setup();
    const service = serviceRotatingOnReport(network, clock);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    network.handler = async (request) => {
      if (isInvalidate(request)) await gate;
      return service(request);
    };
    expect((await client.getToken('acme')).accessToken).toBe(X);

    const reports = [client.reportRejected('acme', X), client.reportRejected('acme', X), client.reportRejected('acme', X)];
    const waiting = client.getToken('acme'); // the cached X is being reported: wait for its replacement
    await settle();
    release();
    expect((await Promise.all(reports)).map((t) => t.accessToken)).toEqual([Y, Y, Y]);
    expect((await waiting).accessToken).toBe(Y);

    const posts = network.requests.filter(isInvalidate);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).toBe(JSON.stringify({ accessToken: X }));
    expect(posts[0]!.headers.get('content-type')).toBe('application/json');
    expect((await client.getToken('acme')).accessToken).toBe(Y);
    expect(network.requests).toHaveLength(2);
  });

  it('reports a token that is not the cached one, but never twice from this client', async () => {
    const { clock, network, client } = setup();
    network.handler = (request) => tokenAnswer(Y, clock.now() + HOUR); // X is stale: the service answers the current Y
    expect((await client.getToken('acme')).accessToken).toBe(Y);

    expect((await client.reportRejected('acme', X)).accessToken).toBe(Y);
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    expect((await client.reportRejected('acme', X)).accessToken).toBe(Y);
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    expect(network.requests).toHaveLength(2);
  });

  it('does not remember a report that failed', async () => {
    const { clock, network, client } = setup();
    network.handler = (request) =>
      network.requests.length === 1 ? errorAnswer(500, 'INTERNAL_ERROR', 'req-1') : tokenAnswer(Y, clock.now() + HOUR);
    expect(await rejectionOf(client.reportRejected('acme', X))).toMatchObject({ code: 'INTERNAL_ERROR', requestId: 'req-1' });
    expect((await client.reportRejected('acme', X)).accessToken).toBe(Y);
    expect(network.requests.filter(isInvalidate)).toHaveLength(2);
  });

  it('does not cache a token it reported when a slower GET brings it back', async () => {
    const { clock, network, client } = setup();
    let releaseGet!: () => void;
    const getGate = new Promise<void>((resolve) => (releaseGet = resolve));
    network.handler = async (request) => {
      if (isInvalidate(request)) return tokenAnswer(Y, clock.now() + HOUR);
      await getGate; // the GET was answered before the invalidation, its answer arrives after
      return tokenAnswer(X, clock.now() + HOUR);
    };
    const slowGet = client.getToken('acme');
    await settle();
    expect((await client.reportRejected('acme', X)).accessToken).toBe(Y);
    releaseGet();
    expect((await slowGet).accessToken).toBe(Y);
    expect((await client.getToken('acme')).accessToken).toBe(Y);
    expect(network.requests).toHaveLength(2);
  });

  it('refuses an invalidation answered with the rejected token itself', async () => {
    const { clock, network, client } = setup();
    network.handler = () => tokenAnswer(X, clock.now() + HOUR);
    const error = await rejectionOf(client.reportRejected('acme', X));
    expect(error).toMatchObject({ code: 'INVALID_RESPONSE' });
    expect(serialized(error)).not.toContain(X);
  });
});

describe('ekuaibaoFetch', () => {
  it('on 403 reports the token once and retries once with the replacement', async () => {
    const { clock, network, client } = setup();
    const service = serviceRotatingOnReport(network, clock, 'https://wx2.ekuaibao.com');
    network.handler = (request) => {
      if (request.url.hostname.endsWith('.amazonaws.com')) return service(request);
      return tokenOf(request) === Y ? json(200, { items: [] }) : json(403, { errorCode: 403, errorMessage: '未授权' });
    };
    const response = await client.ekuaibaoFetch('acme', '/api/openapi/v1/staffs?start=0&count=10');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ items: [] });
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    expect(network.ekuaibaoRequests().map((r) => r.url.href)).toEqual([
      `https://wx2.ekuaibao.com/api/openapi/v1/staffs?start=0&count=10&accessToken=ID_old%3ACORP0000`,
      `https://wx2.ekuaibao.com/api/openapi/v1/staffs?start=0&count=10&accessToken=ID_new%3ACORP0000`,
    ]);
  });

  it('sends one report when several calls get 403 for the same token, whether they overlap or not', async () => {
    const { clock, network, client } = setup();
    const service = serviceRotatingOnReport(network, clock);
    let releaseLate!: () => void;
    const lateGate = new Promise<void>((resolve) => (releaseLate = resolve));
    network.handler = async (request) => {
      if (request.url.hostname.endsWith('.amazonaws.com')) return service(request);
      if (request.url.pathname === '/late' && tokenOf(request) === X) await lateGate; // its 403 arrives after the report ended
      return tokenOf(request) === X ? json(403, { errorCode: 403 }) : json(200, { ok: true });
    };
    await client.getToken('acme');
    const overlapping = [1, 2, 3, 4].map(() => client.ekuaibaoFetch('acme', '/api/x'));
    const late = client.ekuaibaoFetch('acme', '/late');
    expect((await Promise.all(overlapping)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    releaseLate();
    expect((await late).status).toBe(200);
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    expect(network.ekuaibaoRequests().filter((r) => tokenOf(r) === Y)).toHaveLength(5);
  });

  it('returns the second 403 as is, after a single report', async () => {
    const { clock, network, client } = setup();
    const service = serviceRotatingOnReport(network, clock);
    network.handler = (request) =>
      request.url.hostname.endsWith('.amazonaws.com') ? service(request) : json(403, { errorCode: 403, errorMessage: 'no access' });
    const response = await client.ekuaibaoFetch('acme', '/api/x', { method: 'POST', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ errorCode: 403, errorMessage: 'no access' });
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    const calls = network.ekuaibaoRequests();
    expect(calls.map(tokenOf)).toEqual([X, Y]);
    expect(calls.map((c) => [c.method, c.body])).toEqual([['POST', '{"a":1}'], ['POST', '{"a":1}']]);
  });

  it('reports but does not resend a request whose body is a stream', async () => {
    const { clock, network, client } = setup();
    const service = serviceRotatingOnReport(network, clock);
    network.handler = (request) => (request.url.hostname.endsWith('.amazonaws.com') ? service(request) : json(403, { errorCode: 403 }));
    const body = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('{}')), c.close()) });
    const response = await client.ekuaibaoFetch('acme', '/api/x', { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(403);
    expect(network.ekuaibaoRequests()).toHaveLength(1);
    expect(network.requests.filter(isInvalidate)).toHaveLength(1);
    expect((await client.getToken('acme')).accessToken).toBe(Y);
  });

  it('URL-encodes the token, keeps the caller\'s query, and resolves paths against baseUrl, the option, or the default', async () => {
    const token = 'ID_a:b/c+d=e&f';
    for (const [baseUrl, option, expected] of [
      ['https://dd2.hosecloud.com', undefined, 'https://dd2.hosecloud.com'],
      [undefined, 'https://feishu.ekuaibao.com/', 'https://feishu.ekuaibao.com'],
      [undefined, undefined, 'https://app.ekuaibao.com'],
    ] as const) {
      const { clock, network, client } = setup(option === undefined ? {} : { ekuaibaoBaseUrl: option });
      network.handler = (request) =>
        request.url.hostname.endsWith('.amazonaws.com')
          ? tokenAnswer(token, clock.now() + HOUR, baseUrl === undefined ? {} : { baseUrl })
          : json(200, {});
      await client.ekuaibaoFetch('acme', '/api/openapi/v1/staffs?name=a%20b&x=1');
      const [call] = network.ekuaibaoRequests();
      expect(call!.url.href).toBe(`${expected}/api/openapi/v1/staffs?name=a%20b&x=1&accessToken=ID_a%3Ab%2Fc%2Bd%3De%26f`);
      expect(call!.url.searchParams.get('accessToken')).toBe(token);
    }
  });

  it('uses an absolute https URL as is', async () => {
    const { clock, network, client } = setup();
    network.handler = (request) => (request.url.hostname.endsWith('.amazonaws.com') ? tokenAnswer(X, clock.now() + HOUR) : json(200, {}));
    await client.ekuaibaoFetch('acme', new URL('https://app.ekuaibao.com/api/openapi/v2/location?corpId=CORP0000'));
    expect(network.ekuaibaoRequests()[0]!.url.href).toBe('https://app.ekuaibao.com/api/openapi/v2/location?corpId=CORP0000&accessToken=ID_old%3ACORP0000');
  });

  it.each([
    ['an absolute URL that already carries accessToken', 'https://app.ekuaibao.com/api/x?accessToken=SECRET-in-url'],
    ['a path that already carries accessToken', '/api/x?AccessToken=SECRET-in-url'],
    ['a plain http URL', 'http://app.ekuaibao.com/api/x?key=SECRET-in-url'],
    ['a protocol-relative path', '//evil.example/api/x?key=SECRET-in-url'],
    ['a relative path', 'api/x?key=SECRET-in-url'],
  ])('refuses %s before any request, without quoting it', async (_, pathOrUrl) => {
    const { network, client } = setup();
    const error = await rejectionOf(client.ekuaibaoFetch('acme', pathOrUrl));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(serialized(error)).not.toContain('SECRET');
    expect(network.requests).toHaveLength(0);
  });

  it('puts no token in the error when fetch fails with a message that quotes the URL', async () => {
    const { clock, network, client } = setup();
    network.handler = (request) => {
      if (request.url.hostname.endsWith('.amazonaws.com')) return tokenAnswer(X, clock.now() + HOUR);
      // what undici says for a URL it cannot parse, with a system error below it
      throw new TypeError(`Failed to parse URL from ${request.url.href}`, {
        cause: Object.assign(new Error(`connect ECONNREFUSED ${request.url.href}`), { code: 'ECONNREFUSED' }),
      });
    };
    const error = await rejectionOf(client.ekuaibaoFetch('acme', '/api/x'));
    expect(error).toBeInstanceOf(TokenVendingError);
    expect(error).toMatchObject({ code: 'EKUAIBAO_REQUEST_FAILED', message: expect.stringContaining('ECONNREFUSED') });
    const text = serialized(error);
    for (const secret of [X, encodeURIComponent(X), 'accessToken=']) expect(text).not.toContain(secret);
  });

  it('puts no token in any error of the report path', async () => {
    const { clock, network, client } = setup({ deadlineMs: 1_000 });
    network.handler = (request) => {
      if (!isInvalidate(request)) return request.url.hostname.endsWith('.amazonaws.com') ? tokenAnswer(X, clock.now() + HOUR) : json(403, {});
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    };
    const call = rejectionOf(client.ekuaibaoFetch('acme', '/api/x'));
    await clock.advance(2_000);
    const error = await call;
    expect(error).toMatchObject({ code: 'NETWORK_ERROR' });
    expect(serialized(error)).not.toContain(X);
    expect(serialized(error)).not.toContain(encodeURIComponent(X));
  });

  it('throws the caller\'s abort reason when the caller aborts', async () => {
    const { clock, network, client } = setup();
    const controller = new AbortController();
    network.handler = (request) => {
      if (request.url.hostname.endsWith('.amazonaws.com')) return tokenAnswer(X, clock.now() + HOUR);
      controller.abort(new Error('caller gave up'));
      throw new DOMException('This operation was aborted', 'AbortError');
    };
    expect(await rejectionOf(client.ekuaibaoFetch('acme', '/api/x', { signal: controller.signal }))).toEqual(new Error('caller gave up'));
  });
});
