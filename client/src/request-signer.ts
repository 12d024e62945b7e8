import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import type { Signing } from './config.js';

/** A request to the service, exactly as it will be sent. */
export interface ServiceRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** The exact bytes of the body (UTF-8), signed and sent as is. */
  readonly body?: string;
}

/** Returns the headers to send, authentication included. */
export type RequestSigner = (request: ServiceRequest, signingDate: Date) => Promise<Record<string, string>>;

export function createRequestSigner(signing: Signing): RequestSigner {
  if (signing.kind === 'unsigned') return async (request) => ({ ...request.headers });
  const signer = new SignatureV4({
    service: 'execute-api',
    region: signing.region,
    credentials: signing.credentials,
    sha256: Sha256,
  });
  return async (request, signingDate) => {
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of request.url.searchParams) {
      const seen = query[name];
      query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
    const toSign: HttpRequest = {
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      ...(request.url.port === '' ? {} : { port: Number(request.url.port) }),
      path: request.url.pathname,
      query,
      // fetch sends `Host: hostname[:port]` from the URL; the signature must cover that value.
      headers: { ...request.headers, host: request.url.host },
      ...(request.body === undefined ? {} : { body: request.body }),
    };
    const signed = await signer.sign(toSign, { signingDate });
    // fetch derives Host from the URL (the same value as signed) and does not let us set it.
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
}
