import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Environments } from './environments';
import { parseJson } from './http-io';
import type { IssuedToken, TokenStore } from './token-store';
import type { SimulatorCredential, SimulatorSettings } from './types';

/** What an upstream endpoint answers; the server writes it and counts the refusals. */
export interface Reply {
  status: number;
  body: unknown;
  /** A refusal that is not an HTTP 403 (v3's HTTP 200 envelope with code "403"). */
  refused?: boolean;
}

export interface UpstreamContext {
  /** Read at the moment of use, so a settings change applies to calls already waiting. */
  settings(): SimulatorSettings;
  credential(appKey: string): SimulatorCredential | undefined;
  store: TokenStore;
  /** Which corporation is served at which address prefix. */
  environments: Environments;
  /** Sleeps; rejects when the simulator closes, so no token is issued after close(). */
  wait(ms: number): Promise<void>;
}

export interface UpstreamCall {
  req: IncomingMessage;
  url: URL;
  body: string | undefined;
  /** The path prefix of the environment the call arrived under; '' for the root. */
  pathPrefix: string;
}

/** The documented power code for token refresh; anything else is refused. */
export const REFRESH_POWER_CODE = '219904';
const DAY_MS = 24 * 60 * 60 * 1000;

// Bodies copied from the docs. The auth endpoints wrap errors in `value`; ordinary Open API
// endpoints do not, and clients that parse both must cope with the difference.
export const KEY_INVALID: Reply = {
  status: 403,
  body: { value: { errorCode: 403, errorMessage: '密钥无效', errorDetail: null } },
};
export const REFRESH_UNAUTHORIZED: Reply = {
  status: 403,
  body: { value: { errorCode: 403, errorMessage: '未授权', errorDetail: null } },
};
export const API_UNAUTHORIZED: Reply = {
  status: 403,
  body: { errorCode: 403, errorMessage: '未授权', errorDetail: null },
};

/**
 * What an injected fault answers on an endpoint, in that endpoint's own error dialect, so an
 * injected refusal is indistinguishable from a real one.
 */
export interface ErrorDialect {
  /** The body of the endpoint's own refusal, answered for an injected HTTP 403. */
  rejection: unknown;
  /** The body for any other injected HTTP error status. */
  error(status: number): unknown;
  /** v3 only: an HTTP 200 envelope carrying `code`. */
  envelope?(code: string): Reply;
}

const faultError = (status: number) => ({ errorCode: status, errorMessage: 'simulated upstream fault', errorDetail: null });

/** The v1 auth endpoints wrap errors in `value`. */
export const wrappedDialect = (rejection: Reply): ErrorDialect => ({
  rejection: rejection.body,
  error: (status) => ({ value: faultError(status) }),
});

/** Ordinary Open API endpoints answer the error object bare. */
export const bareDialect = (rejection: Reply): ErrorDialect => ({ rejection: rejection.body, error: faultError });

// Extra fields are tolerated: the docs only say these two are required.
const credentialsBody = z.object({ appKey: z.string().min(1), appSecurity: z.string().min(1) });

function issued(token: IssuedToken): Reply {
  return {
    status: 200,
    body: {
      value: {
        accessToken: token.accessToken,
        refreshToken: token.refreshToken,
        expireTime: token.expireTime,
        corporationId: token.corporationId,
      },
    },
  };
}

function isJsonRequest(req: IncomingMessage): boolean {
  const type = req.headers['content-type'] ?? '';
  return type.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

/**
 * POST /api/openapi/v1/auth/getAccessToken. Every failure is the same 403 "密钥无效", as the
 * docs describe; the real API's answer to a wrong Content-Type is undocumented, and 403 is
 * the least surprising guess for a client that handles the documented cases.
 */
export async function getAccessToken(ctx: UpstreamContext, { req, url, body, pathPrefix }: UpstreamCall): Promise<Reply> {
  // Documented: credentials in the query string are refused even if the body is right.
  if (url.searchParams.has('appKey') || url.searchParams.has('appSecurity')) return KEY_INVALID;
  if (!isJsonRequest(req)) return KEY_INVALID;
  const parsed = credentialsBody.safeParse(parseJson(body));
  if (!parsed.success) return KEY_INVALID;
  const credential = ctx.credential(parsed.data.appKey);
  if (!credential || credential.appSecurity !== parsed.data.appSecurity) return KEY_INVALID;
  // Documented cause of 密钥无效: a base URL that is not the enterprise's environment.
  if (!ctx.environments.serves(credential.corporationId, pathPrefix)) return KEY_INVALID;

  // The upstream holds new tokens back on purpose (changelog 1.17.0); the token is minted
  // after the wait, so with invalidation on, the old token dies only when the new one ships.
  await ctx.wait(ctx.settings().issueDelayMs);
  const { tokenLifetimeMs, newTokenInvalidatesOld } = ctx.settings();
  return issued(ctx.store.issue(credential.corporationId, tokenLifetimeMs, newTokenInvalidatesOld));
}

/**
 * Days for the `/expireDate` variant. The docs only say "whole days"; what the real API does
 * with 0, a fraction or garbage is unknown. We answer 403 (the endpoint's only documented
 * failure) rather than 400, so a client sees the same failure shape as any other refusal.
 */
function lifetimeFromExpireDate(raw: string | null): number | undefined {
  if (raw === null || !/^[1-9][0-9]{0,5}$/.test(raw)) return undefined;
  return Number(raw) * DAY_MS;
}

/**
 * POST /api/openapi/v2/auth/refreshToken[/expireDate]?accessToken&refreshToken&powerCode[&expireDate].
 * Both tokens change; the old refresh token is spent; the old access token lives on unless
 * `newTokenInvalidatesOld`.
 */
export async function refreshToken(
  ctx: UpstreamContext,
  { url, pathPrefix }: UpstreamCall,
  variant: 'default' | 'expireDate',
): Promise<Reply> {
  const q = url.searchParams;
  const accessToken = q.get('accessToken') ?? '';
  const refresh = q.get('refreshToken') ?? '';
  if (q.get('powerCode') !== REFRESH_POWER_CODE) return REFRESH_UNAUTHORIZED;
  const requestedLifetime = variant === 'expireDate' ? lifetimeFromExpireDate(q.get('expireDate')) : null;
  if (requestedLifetime === undefined) return REFRESH_UNAUTHORIZED;
  const current = ctx.store.refreshable(accessToken, refresh);
  // Documented: a wrong base URL gets 未授权.
  if (!current || !ctx.environments.serves(current.corporationId, pathPrefix)) return REFRESH_UNAUTHORIZED;

  await ctx.wait(ctx.settings().issueDelayMs);
  // Checked again after the wait: the token may have expired meanwhile, or a concurrent
  // refresh with the same pair may have spent the refresh token. Only one of them wins.
  const old = ctx.store.refreshable(accessToken, refresh);
  if (!old) return REFRESH_UNAUTHORIZED;
  ctx.store.consumeRefreshToken(old);
  const { refreshedTokenLifetimeMs, newTokenInvalidatesOld } = ctx.settings();
  const lifetime = requestedLifetime ?? refreshedTokenLifetimeMs;
  return issued(ctx.store.issue(old.corporationId, lifetime, newTokenInvalidatesOld));
}

/** GET /api/openapi/v1/staffs?accessToken=…: stands in for any Open API call that needs a token. */
export async function protectedCall(ctx: UpstreamContext, { url, pathPrefix }: UpstreamCall): Promise<Reply> {
  const accessToken = url.searchParams.get('accessToken');
  const corporationId = accessToken === null ? undefined : ctx.store.corporationOf(accessToken);
  // A token is good only at its corporation's current prefix, wherever it was issued (v3's host included).
  if (corporationId === undefined || !ctx.environments.serves(corporationId, pathPrefix)) return API_UNAUTHORIZED;
  return { status: 200, body: { count: 0, items: [] } };
}

/*
 * Address prefix lookup (docs §6, origin.md). The docs show only the success; the two errors
 * are our choice, in the ordinary Open API error shape: 400 for a request without corpId, 404
 * for a corporation no credential names (a `{"value":""}` answer can be injected with a
 * `malformed` fault when a test needs that variant).
 */
export const LOCATION_MISSING_CORP_ID: Reply = {
  status: 400,
  body: { errorCode: 400, errorMessage: 'corpId is required', errorDetail: null },
};
export const LOCATION_UNKNOWN_CORPORATION: Reply = {
  status: 404,
  body: { errorCode: 404, errorMessage: 'corporation not found', errorDetail: null },
};

/** GET /api/openapi/v2/location?corpId=…: `{"value":"<prefix>/"}`, no token needed. */
export async function location(ctx: UpstreamContext, { url }: UpstreamCall): Promise<Reply> {
  const corpId = url.searchParams.get('corpId');
  if (!corpId) return LOCATION_MISSING_CORP_ID;
  const prefix = ctx.environments.locationOf(corpId);
  return prefix === undefined ? LOCATION_UNKNOWN_CORPORATION : { status: 200, body: { value: prefix } };
}

// v3 (docs §6, authV3.md): every answer, failures included, is HTTP 200 with an envelope.
export const V3_KEY_INVALID: Reply = { status: 200, body: { code: '403', msg: '密钥无效', data: '' }, refused: true };

/** A fresh traceId per answer, like a real trace; 32 hex digits. */
function v3SystemError(): Reply {
  return { status: 200, body: { code: '500', msg: 'system error', data: null, traceId: randomBytes(16).toString('hex') } };
}

function v3Envelope(code: string): Reply {
  if (code === '403') return V3_KEY_INVALID;
  if (code === '500') return v3SystemError();
  return {
    status: 200,
    body: { code, msg: 'simulated upstream fault', data: null, traceId: randomBytes(16).toString('hex') },
  };
}

export const v3Dialect: ErrorDialect = {
  rejection: V3_KEY_INVALID.body,
  error: (status) => v3Envelope(String(status)).body,
  envelope: v3Envelope,
};

/**
 * POST /auth/openApi/v3/getAccessToken (on open.hosecloud.com upstream; here on the same
 * server). Missing parameters are documented as the `system error` envelope; a body that is
 * not JSON or not sent as JSON gets the same (our choice: to a JSON API it carries no
 * parameters). Query parameters are ignored. Tokens come from the same store, delay and
 * lifetime as v1, so `newTokenInvalidatesOld` spans both versions.
 */
export async function getAccessTokenV3(ctx: UpstreamContext, { req, body }: UpstreamCall): Promise<Reply> {
  if (!isJsonRequest(req)) return v3SystemError();
  const parsed = credentialsBody.safeParse(parseJson(body));
  if (!parsed.success) return v3SystemError();
  const credential = ctx.credential(parsed.data.appKey);
  if (!credential || credential.appSecurity !== parsed.data.appSecurity) return V3_KEY_INVALID;

  await ctx.wait(ctx.settings().issueDelayMs);
  const { tokenLifetimeMs, newTokenInvalidatesOld } = ctx.settings();
  const token = ctx.store.issue(credential.corporationId, tokenLifetimeMs, newTokenInvalidatesOld, 'jwt');
  return {
    status: 200,
    body: {
      code: '200',
      msg: '操作成功',
      data: {
        corpId: token.corporationId,
        accessToken: token.accessToken,
        refreshToken: token.refreshToken,
        expiresTime: token.expireTime,
        scope: 'tenant',
      },
    },
  };
}
