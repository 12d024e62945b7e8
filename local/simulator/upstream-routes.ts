import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { parseJson } from './http-io';
import type { IssuedToken, TokenStore } from './token-store';
import type { SimulatorCredential, SimulatorSettings } from './types';

/** What an upstream endpoint answers; the server writes it and counts the 403s. */
export interface Reply {
  status: number;
  body: unknown;
}

export interface UpstreamContext {
  /** Read at the moment of use, so a settings change applies to calls already waiting. */
  settings(): SimulatorSettings;
  credential(appKey: string): SimulatorCredential | undefined;
  store: TokenStore;
  /** Sleeps; rejects when the simulator closes, so no token is issued after close(). */
  wait(ms: number): Promise<void>;
}

export interface UpstreamCall {
  req: IncomingMessage;
  url: URL;
  body: string | undefined;
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
export async function getAccessToken(ctx: UpstreamContext, { req, url, body }: UpstreamCall): Promise<Reply> {
  // Documented: credentials in the query string are refused even if the body is right.
  if (url.searchParams.has('appKey') || url.searchParams.has('appSecurity')) return KEY_INVALID;
  if (!isJsonRequest(req)) return KEY_INVALID;
  const parsed = credentialsBody.safeParse(parseJson(body));
  if (!parsed.success) return KEY_INVALID;
  const credential = ctx.credential(parsed.data.appKey);
  if (!credential || credential.appSecurity !== parsed.data.appSecurity) return KEY_INVALID;

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
  { url }: UpstreamCall,
  variant: 'default' | 'expireDate',
): Promise<Reply> {
  const q = url.searchParams;
  const accessToken = q.get('accessToken') ?? '';
  const refresh = q.get('refreshToken') ?? '';
  if (q.get('powerCode') !== REFRESH_POWER_CODE) return REFRESH_UNAUTHORIZED;
  const requestedLifetime = variant === 'expireDate' ? lifetimeFromExpireDate(q.get('expireDate')) : null;
  if (requestedLifetime === undefined) return REFRESH_UNAUTHORIZED;
  if (!ctx.store.refreshable(accessToken, refresh)) return REFRESH_UNAUTHORIZED;

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
export async function protectedCall(ctx: UpstreamContext, { url }: UpstreamCall): Promise<Reply> {
  const accessToken = url.searchParams.get('accessToken');
  if (accessToken === null || !ctx.store.isValid(accessToken)) return API_UNAUTHORIZED;
  return { status: 200, body: { count: 0, items: [] } };
}
