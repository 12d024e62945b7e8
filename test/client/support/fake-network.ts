import type { FetchLike } from '../../../client/src/index.js';

export const API_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1';
export const FAKE_CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
} as const;

export interface RecordedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
  readonly init: RequestInit;
}

type Handler = (request: RecordedRequest) => Response | Promise<Response>;

/** An injected fetch that records every request and answers from a handler the test sets. */
export class FakeNetwork {
  readonly requests: RecordedRequest[] = [];
  handler: Handler = () => {
    throw new Error('no handler');
  };

  readonly fetch: FetchLike = async (input, init) => {
    const body = typeof init.body === 'string' ? init.body : init.body == null ? undefined : '[not a string]';
    const request = { url: new URL(input), method: init.method ?? 'GET', headers: new Headers(init.headers), body, init };
    this.requests.push(request);
    return this.handler(request);
  };

  serviceRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.url.hostname.endsWith('.amazonaws.com'));
  }

  ekuaibaoRequests(): RecordedRequest[] {
    return this.requests.filter((r) => !r.url.hostname.endsWith('.amazonaws.com'));
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function tokenAnswer(accessToken: string, expireTime: number, extra: Record<string, unknown> = {}, tenantId = 'acme'): Response {
  return json(200, { tenantId, accessToken, corporationId: 'CORP0000', expireTime, ...extra });
}

export function errorAnswer(status: number, code: string, requestId: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message: `${code} (test)`, requestId } }, headers);
}

/** Never settles and ignores its signal: the client must bound it on its own. */
export function hang(): Promise<Response> {
  return new Promise(() => undefined);
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
