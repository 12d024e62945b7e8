import { isSafeTransport, parseUrl } from './urls.js';

/**
 * A token as the service hands it out. Fields the service adds later (`scope`, …) are kept.
 * The object is frozen: every caller of a tenant shares the cached one.
 */
export interface VendedToken {
  readonly tenantId: string;
  /** Passed to the Ekuaibao Open API as the `accessToken` query parameter. */
  readonly accessToken: string;
  readonly corporationId: string;
  /** Ms epoch until which the caller may use the token (the service already kept a margin). */
  readonly expireTime: number;
  /** The tenant's Ekuaibao address prefix, no trailing slash (newer service versions). */
  readonly baseUrl?: string;
  readonly scope?: string;
  readonly [field: string]: unknown;
}

export type TokenShapeCheck =
  | { readonly ok: true; readonly token: VendedToken }
  | { readonly ok: false; readonly problem: string };

/** Checks a 200 body; the problem it names never quotes a value (the body holds a token). */
export function checkVendedToken(body: unknown, tenantId: string): TokenShapeCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('the body is not a JSON object');
  const fields = body as Record<string, unknown>;
  if (fields.tenantId !== tenantId) return fail('tenantId is not the requested tenant');
  if (typeof fields.accessToken !== 'string' || fields.accessToken === '') return fail('accessToken is not a non-empty string');
  if (typeof fields.corporationId !== 'string') return fail('corporationId is not a string');
  if (typeof fields.expireTime !== 'number' || !Number.isSafeInteger(fields.expireTime) || fields.expireTime <= 0) {
    return fail('expireTime is not a positive integer (ms epoch)');
  }
  if (fields.baseUrl !== undefined) {
    const url = parseUrl(fields.baseUrl);
    if (url === undefined || !isSafeTransport(url) || url.search !== '' || url.hash !== '') {
      return fail('baseUrl is not an https URL without query');
    }
  }
  if (fields.scope !== undefined && typeof fields.scope !== 'string') return fail('scope is not a string');
  return { ok: true, token: Object.freeze({ ...fields }) as VendedToken };
}

function fail(problem: string): TokenShapeCheck {
  return { ok: false, problem };
}
