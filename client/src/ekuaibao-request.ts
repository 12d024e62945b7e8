import { TokenVendingError } from './errors.js';
import { isSafeTransport, parseUrl } from './urls.js';

/** Where an Ekuaibao call goes: a path under the tenant's address prefix, or a full URL. */
export type EkuaibaoTarget = { readonly kind: 'path'; readonly path: string } | { readonly kind: 'absolute'; readonly url: URL };

/**
 * Checks `pathOrUrl` before any request. Errors never quote it: a caller's URL may hold secrets.
 */
export function parseEkuaibaoTarget(pathOrUrl: string | URL): EkuaibaoTarget {
  if (typeof pathOrUrl === 'string' && pathOrUrl.startsWith('/')) {
    if (pathOrUrl.startsWith('//')) invalid('pathOrUrl must be a path starting with a single "/" or an absolute https URL');
    if (hasAccessToken(new URL(pathOrUrl, 'https://path.invalid').searchParams)) {
      invalid('pathOrUrl already carries an accessToken query parameter; the client adds it');
    }
    return { kind: 'path', path: pathOrUrl };
  }
  const url = parseUrl(pathOrUrl);
  if (url === undefined) invalid('pathOrUrl must be a path starting with "/" or an absolute https URL');
  if (!isSafeTransport(url)) invalid('pathOrUrl must be https (http only on a loopback host): the token is in the query');
  if (hasAccessToken(url.searchParams)) invalid('pathOrUrl already carries an accessToken query parameter; the client adds it');
  return { kind: 'absolute', url: new URL(url.href) };
}

/**
 * The URL with the token appended as `accessToken`, percent-encoded (tokens contain `:`).
 * The caller's own query is kept byte for byte.
 */
export function ekuaibaoUrl(target: EkuaibaoTarget, baseUrl: string, accessToken: string): string {
  const url = target.kind === 'absolute' ? new URL(target.url.href) : new URL(`${baseUrl.replace(/\/+$/, '')}${target.path}`);
  const pair = `accessToken=${encodeURIComponent(accessToken)}`;
  url.search = url.search === '' || url.search === '?' ? `?${pair}` : `${url.search}&${pair}`;
  return url.href;
}

/**
 * Whether fetch can send this body a second time. Streams and iterables are consumed by the
 * first send, so a request carrying one is not retried after a 403.
 */
export function isReplayableBody(body: RequestInit['body'] | undefined): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/**
 * The failure of an Ekuaibao request, without the original error: fetch's errors may quote the
 * URL, and the URL carries the token. Only a system error code (`ECONNREFUSED`, …) is kept.
 */
export function ekuaibaoRequestFailed(error: unknown): TokenVendingError {
  const code = systemErrorCode(error);
  return new TokenVendingError(
    'EKUAIBAO_REQUEST_FAILED',
    `the request to the Ekuaibao Open API failed${code === undefined ? '' : ` (${code})`}`,
  );
}

function systemErrorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function hasAccessToken(params: URLSearchParams): boolean {
  for (const name of params.keys()) if (name.toLowerCase() === 'accesstoken') return true;
  return false;
}

function invalid(message: string): never {
  throw new TokenVendingError('INVALID_ARGUMENT', message);
}
