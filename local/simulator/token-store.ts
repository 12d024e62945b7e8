import { randomInt } from 'node:crypto';

/** What the simulator remembers about one issued access token. */
export interface IssuedToken {
  accessToken: string;
  /** Undefined once a refresh has consumed it: a refresh token works exactly once. */
  refreshToken: string | undefined;
  corporationId: string;
  /** Millisecond epoch; the token is valid while `now() < expireTime`. */
  expireTime: number;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(length: number): string {
  let out = '';
  // randomInt draws uniformly (no modulo bias), so tokens are as unguessable as their length.
  for (let i = 0; i < length; i++) out += BASE62[randomInt(BASE62.length)];
  return out;
}

/**
 * The docs warn that tokens "may contain `:`" and must be URL-encoded. Every simulated access
 * token has one, so a client that forgets to encode fails here rather than in production.
 */
function newAccessToken(corporationId: string): string {
  return `ID_${base62(22)}:${corporationId}`;
}

/** The base64url of `{"typ":"JWT","alg":"none"}`: unsigned, as a fake should be. */
const FAKE_JWT_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'none' })).toString('base64url');

/**
 * v3 hands out JWTs (`eyJ0eXAiOiJKV1Qi...` in the docs). Ours has the shape, an `exp` a
 * client may read, and a signature that says what it is; nothing verifies it, the store does.
 */
function newJwtAccessToken(corporationId: string, issuedAt: number, expireTime: number): string {
  const payload = {
    iss: 'ekuaibao-simulator',
    fake: true,
    corpId: corporationId,
    scope: 'tenant',
    iat: Math.floor(issuedAt / 1000),
    exp: Math.floor(expireTime / 1000),
    jti: base62(22),
  };
  return `${FAKE_JWT_HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.fake-signature`;
}

/** `openapi`: v1 / refresh tokens (`ID_…:corp`); `jwt`: v3 tokens. */
export type TokenStyle = 'openapi' | 'jwt';

function newRefreshToken(): string {
  return base62(28);
}

/**
 * Issued tokens, with the expiry and invalidation rules of the upstream. The clock is passed
 * in so tests can move time without waiting two hours.
 *
 * Invalid tokens (invalidated, or found expired during a sweep) are simply forgotten: an
 * unknown token and a dead one get the same 403 upstream, so there is nothing to keep.
 */
export class TokenStore {
  private readonly byAccessToken = new Map<string, IssuedToken>();
  private readonly byCorporation = new Map<string, Set<string>>();
  // Expired tokens are swept when the store doubles in size, so a long benchmark stays bounded
  // in memory at an amortised O(1) cost per issue.
  private sweepAt = 1024;

  constructor(private readonly now: () => number) {}

  /**
   * @param invalidateEarlier the undocumented policy switch: when true, every access token
   *   this corporation holds dies the moment the new one exists, whatever its style: v1 and
   *   v3 tokens of one corporation share one lineage here.
   */
  issue(corporationId: string, lifetimeMs: number, invalidateEarlier: boolean, style: TokenStyle = 'openapi'): IssuedToken {
    if (invalidateEarlier) this.invalidateCorporation(corporationId);
    this.sweepIfLarge();
    const issuedAt = this.now();
    const expireTime = issuedAt + lifetimeMs;
    const token: IssuedToken = {
      accessToken: style === 'jwt' ? newJwtAccessToken(corporationId, issuedAt, expireTime) : newAccessToken(corporationId),
      refreshToken: newRefreshToken(),
      corporationId,
      expireTime,
    };
    this.byAccessToken.set(token.accessToken, token);
    let tokens = this.byCorporation.get(corporationId);
    if (!tokens) this.byCorporation.set(corporationId, (tokens = new Set()));
    tokens.add(token.accessToken);
    return token;
  }

  isValid(accessToken: string): boolean {
    return this.live(accessToken) !== undefined;
  }

  /** The corporation a still valid token belongs to; undefined for an unknown or dead token. */
  corporationOf(accessToken: string): string | undefined {
    return this.live(accessToken)?.corporationId;
  }

  /**
   * The token a refresh may replace: its access token still valid, and the refresh token the
   * one issued with it and not yet used.
   */
  refreshable(accessToken: string, refreshToken: string): IssuedToken | undefined {
    const token = this.live(accessToken);
    return token && token.refreshToken !== undefined && token.refreshToken === refreshToken
      ? token
      : undefined;
  }

  consumeRefreshToken(token: IssuedToken): void {
    token.refreshToken = undefined;
  }

  forgetAll(): void {
    this.byAccessToken.clear();
    this.byCorporation.clear();
  }

  private live(accessToken: string): IssuedToken | undefined {
    const token = this.byAccessToken.get(accessToken);
    return token && this.now() < token.expireTime ? token : undefined;
  }

  private invalidateCorporation(corporationId: string): void {
    for (const accessToken of this.byCorporation.get(corporationId) ?? []) {
      this.byAccessToken.delete(accessToken);
    }
    this.byCorporation.delete(corporationId);
  }

  private sweepIfLarge(): void {
    if (this.byAccessToken.size < this.sweepAt) return;
    const now = this.now();
    for (const token of this.byAccessToken.values()) {
      if (now < token.expireTime) continue;
      this.byAccessToken.delete(token.accessToken);
      this.byCorporation.get(token.corporationId)?.delete(token.accessToken);
    }
    this.sweepAt = Math.max(1024, this.byAccessToken.size * 2);
  }
}
