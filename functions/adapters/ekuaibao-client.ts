/**
 * The Ekuaibao auth API over the built-in fetch. It only translates: HTTP in, typed token or typed
 * error out. It never logs, and no error it throws quotes a URL, a body or a credential (the
 * refresh call carries both tokens in its query string).
 */
// zod/mini: the same validation as zod, at a fraction of the bundle (and cold start) cost.
import * as z from 'zod/mini';
import { TenantMisconfigured, UpstreamRefreshRejected, UpstreamRejectedCredentials, UpstreamUnavailable } from '../domain/errors';
import type { IssuedToken, LocatedCredentials, PrefixLocator, RefreshOptions, UpstreamAuth } from '../domain/types';
import { normaliseBaseUrl } from './tenant-credentials';

const GET_ACCESS_TOKEN_PATH = '/api/openapi/v1/auth/getAccessToken';
/** v3 (docs §6): on its own host, JSON in and an envelope out, failures as HTTP 200 with a code. */
const GET_ACCESS_TOKEN_V3_PATH = '/auth/openApi/v3/getAccessToken';
const LOCATION_PATH = '/api/openapi/v2/location';
const REFRESH_TOKEN_PATH = '/api/openapi/v2/auth/refreshToken';
/** The docs give this fixed value for the refresh call's `powerCode`. */
const REFRESH_POWER_CODE = '219904';
/** A token answer is a few hundred bytes; anything far larger is not one. */
const MAX_BODY_BYTES = 64 * 1024;

const tokenResponseSchema = z.object({
  value: z.object({
    accessToken: z.string().check(z.minLength(1)),
    refreshToken: z.string().check(z.minLength(1)),
    expireTime: z.int().check(z.positive()),
    corporationId: z.string().check(z.minLength(1)),
  }),
});

/** The v3 answer's envelope; `data` is a token only when `code` is "200". */
const v3EnvelopeSchema = z.object({ code: z.string() });
const v3TokenSchema = z.object({
  data: z.object({
    corpId: z.string().check(z.minLength(1)),
    accessToken: z.string().check(z.minLength(1)),
    refreshToken: z.string().check(z.minLength(1)),
    expiresTime: z.int().check(z.positive()),
    scope: z.optional(z.string()),
  }),
});

export interface EkuaibaoClientOptions {
  /** Host of the v3 auth API (`V3_AUTH_BASE_URL`). */
  readonly v3BaseUrl?: string;
}

/** The documented v3 host. */
export const DEFAULT_V3_BASE_URL = 'https://open.hosecloud.com';

/**
 * The Ekuaibao auth API: getAccessToken (v1 at the tenant's prefix, or v3 on its own host) and
 * refresh (v1 only). Every token it returns names the prefix it was fetched for.
 *
 * @example
 * const client = new EkuaibaoClient({ v3BaseUrl: 'https://open.hosecloud.com' });
 * const token = await client.getAccessToken({ appKey, appSecurity, baseUrl, authVersion: 'v1', rank: 0 }, AbortSignal.timeout(5000));
 */
export class EkuaibaoClient implements UpstreamAuth {
  private readonly v3BaseUrl: string;

  constructor(options: EkuaibaoClientOptions = {}) {
    this.v3BaseUrl = (options.v3BaseUrl ?? DEFAULT_V3_BASE_URL).replace(/\/+$/, '');
  }

  async getAccessToken(credentials: LocatedCredentials, signal: AbortSignal): Promise<IssuedToken> {
    if (credentials.authVersion === 'v3') return this.getAccessTokenV3(credentials, signal);
    // Credentials go in the JSON body: the upstream answers 403 when they are in the query.
    const response = await send(`${credentials.baseUrl}${GET_ACCESS_TOKEN_PATH}`, signal, {
      'content-type': 'application/json',
    }, JSON.stringify({ appKey: credentials.appKey, appSecurity: credentials.appSecurity }));
    if (response.status === 403) {
      await discard(response);
      throw new UpstreamRejectedCredentials();
    }
    return { ...(await readToken(response, signal)), baseUrl: credentials.baseUrl };
  }

  private async getAccessTokenV3(credentials: LocatedCredentials, signal: AbortSignal): Promise<IssuedToken> {
    const response = await send(`${this.v3BaseUrl}${GET_ACCESS_TOKEN_V3_PATH}`, signal, {
      'content-type': 'application/json',
    }, JSON.stringify({ appKey: credentials.appKey, appSecurity: credentials.appSecurity }));
    const json = await readJson(response, signal);
    const envelope = v3EnvelopeSchema.safeParse(json);
    if (!envelope.success) throw new UpstreamUnavailable('it answered with an unexpected body shape (code)');
    // Failures arrive as HTTP 200 with a code: "403" wrong credentials, "500" anything else.
    if (envelope.data.code === '403') throw new UpstreamRejectedCredentials();
    if (envelope.data.code !== '200') throw new UpstreamUnavailable(`it answered code ${envelope.data.code.slice(0, 8)}`);
    const parsed = v3TokenSchema.safeParse(json);
    if (!parsed.success) throw new UpstreamUnavailable(`it answered with an unexpected body shape (${issuePaths(parsed.error.issues)})`);
    const { corpId, accessToken, refreshToken, expiresTime, scope } = parsed.data.data;
    return {
      accessToken,
      refreshToken,
      expireTime: expiresTime,
      corporationId: corpId,
      baseUrl: credentials.baseUrl,
      ...(scope !== undefined && { scope }),
    };
  }

  async refreshToken(
    credentials: LocatedCredentials,
    current: IssuedToken,
    options: RefreshOptions,
    signal: AbortSignal,
  ): Promise<IssuedToken> {
    // The refresh endpoint takes everything in the query string (docs §2).
    const query = new URLSearchParams({
      accessToken: current.accessToken,
      refreshToken: current.refreshToken,
      powerCode: REFRESH_POWER_CODE,
    });
    let path = REFRESH_TOKEN_PATH;
    if (options.lifetimeDays !== undefined) {
      path += '/expireDate';
      query.set('expireDate', String(options.lifetimeDays));
    }
    const response = await send(`${credentials.baseUrl}${path}?${query}`, signal);
    if (response.status === 403) {
      await discard(response);
      throw new UpstreamRefreshRejected();
    }
    return { ...(await readToken(response, signal)), baseUrl: credentials.baseUrl };
  }
}

const locationSchema = z.object({ value: z.string() });

export interface EkuaibaoLocatorOptions {
  /** Host of the location API (`LOCATION_BASE_URL`). */
  readonly baseUrl: string;
  /** Local mode only: a prefix on loopback over plain http (the simulator). */
  readonly allowLoopbackHttp: boolean;
}

/**
 * The location API (docs §6): `GET {host}/api/openapi/v2/location?corpId=` answers the
 * enterprise's current prefix, `{"value":"https://.../"}`. The trailing slash is dropped; an answer
 * that is not an https URL is refused like a bad secret.
 *
 * @example
 * const locator = new EkuaibaoLocator({ baseUrl: 'https://app.ekuaibao.com', allowLoopbackHttp: false });
 * const prefix = await locator.locate('acme', '1NUaicKTEw0000', AbortSignal.timeout(5000)); // https://dd2.hosecloud.com
 */
export class EkuaibaoLocator implements PrefixLocator {
  private readonly baseUrl: string;

  constructor(private readonly options: EkuaibaoLocatorOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  async locate(tenantId: string, corpId: string, signal: AbortSignal): Promise<string> {
    const response = await send(`${this.baseUrl}${LOCATION_PATH}?${new URLSearchParams({ corpId })}`, signal, {}, undefined, 'GET');
    if (response.status !== 200) {
      await discard(response);
      throw new UpstreamUnavailable(`the location API answered HTTP ${response.status}`);
    }
    const parsed = locationSchema.safeParse(await readJson(response, signal));
    if (!parsed.success) throw new UpstreamUnavailable('the location API answered with an unexpected body shape (value)');
    const prefix = normaliseBaseUrl(parsed.data.value, this.options.allowLoopbackHttp);
    if (prefix === undefined) throw new TenantMisconfigured(tenantId, 'the location API named a prefix that is not an https URL (check corpId)');
    return prefix;
  }
}

async function send(
  url: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
  body?: string,
  method: 'GET' | 'POST' = 'POST',
): Promise<Response> {
  try {
    return await fetch(url, {
      method,
      headers: { accept: 'application/json', ...headers },
      body,
      signal,
      redirect: 'error',
    });
  } catch (error) {
    // `error.cause` can quote the URL (with tokens in the refresh query); keep only its kind.
    throw new UpstreamUnavailable(describeFetchFailure(error, signal));
  }
}

async function readToken(response: Response, signal: AbortSignal): Promise<IssuedToken> {
  const parsed = tokenResponseSchema.safeParse(await readJson(response, signal));
  if (!parsed.success) {
    // Issue paths only: the values could be tokens.
    throw new UpstreamUnavailable(`it answered with an unexpected body shape (${issuePaths(parsed.error.issues)})`);
  }
  return parsed.data.value;
}

function issuePaths(issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey> }>): string {
  return issues.map((issue) => issue.path.map(String).join('.') || '(root)').join(', ');
}

/** An HTTP 200 answer's JSON body; anything else is an outage, described without quoting it. */
async function readJson(response: Response, signal: AbortSignal): Promise<unknown> {
  if (response.status !== 200) {
    await discard(response);
    throw new UpstreamUnavailable(`it answered HTTP ${response.status}`, response.status === 429 ? 10 : 5);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new UpstreamUnavailable(describeFetchFailure(error, signal));
  }
  if (text.length > MAX_BODY_BYTES) throw new UpstreamUnavailable('it answered with an oversized body');
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamUnavailable('it answered with a body that is not JSON');
  }
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // Nothing to keep from a body we do not read.
  }
}

function describeFetchFailure(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'it did not answer in time';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return `the connection failed${code}`;
}
