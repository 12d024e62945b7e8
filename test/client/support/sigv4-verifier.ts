/**
 * An independent SigV4 verifier, written from the spec's steps with node:crypto only
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 * canonical request → string to sign → derived key → HMAC. It shares no code with the client.
 */
import { createHash, createHmac } from 'node:crypto';

export interface CapturedRequest {
  readonly method: string;
  readonly url: URL;
  /** Header names in any case; `host` may be absent (fetch derives it from the URL). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Authorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper case). */
function uriEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

export function parseAuthorization(header: string): Authorization {
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(header);
  if (match === null) throw new Error('not a SigV4 Authorization header');
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  return { accessKeyId: accessKeyId!, date: date!, region: region!, service: service!, signedHeaders: signedHeaders!.split(';'), signature: signature! };
}

export function canonicalRequest(request: CapturedRequest, signedHeaders: readonly string[]): string {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) headers.set(name.toLowerCase(), value);
  if (!headers.has('host')) headers.set('host', request.url.host);
  // Non-S3 services: each path segment is URI-encoded twice (the URL already holds it once).
  const path = request.url.pathname.split('/').map((segment) => uriEncode(decodeURIComponent(segment))).map(uriEncode).join('/') || '/';
  const query = [...request.url.searchParams]
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalHeaders = [...signedHeaders]
    .sort()
    .map((name) => {
      const value = headers.get(name);
      if (value === undefined) throw new Error(`signed header ${name} was not sent`);
      return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  return [request.method, path, query, canonicalHeaders, [...signedHeaders].sort().join(';'), sha256Hex(request.body)].join('\n');
}

export function expectedSignature(
  request: CapturedRequest,
  auth: Pick<Authorization, 'date' | 'region' | 'service' | 'signedHeaders'>,
  amzDate: string,
  secretAccessKey: string,
): string {
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest(request, auth.signedHeaders))].join('\n');
  const kDate = hmac(`AWS4${secretAccessKey}`, auth.date);
  const kRegion = hmac(kDate, auth.region);
  const kService = hmac(kRegion, auth.service);
  const kSigning = hmac(kService, 'aws4_request');
  return hmac(kSigning, stringToSign).toString('hex');
}

/** Recomputes the signature of a captured request from its Authorization header's claims. */
export function verify(request: CapturedRequest, secretAccessKey: string): { readonly valid: boolean; readonly auth: Authorization } {
  const lower = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const auth = parseAuthorization(lower.authorization ?? '');
  const amzDate = lower['x-amz-date'] ?? '';
  return { valid: expectedSignature(request, auth, amzDate, secretAccessKey) === auth.signature, auth };
}

export { sha256Hex };
