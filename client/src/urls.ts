/** Hosts whose plain-http traffic stays on the machine. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** https anywhere, http only on the machine itself: a token never crosses a network in clear. */
export function isSafeTransport(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url));
}

/** `https://host/prefix/` → `https://host/prefix`: joined with paths that start with `/`. */
export function withoutTrailingSlashes(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function parseUrl(value: unknown): URL | undefined {
  if (typeof value !== 'string' && !(value instanceof URL)) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
