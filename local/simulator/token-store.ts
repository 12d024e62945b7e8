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
   *   this corporation holds dies the moment the new one exists.
   */
  issue(corporationId: string, lifetimeMs: number, invalidateEarlier: boolean): IssuedToken {
    if (invalidateEarlier) this.invalidateCorporation(corporationId);
    this.sweepIfLarge();
    const token: IssuedToken = {
      accessToken: newAccessToken(corporationId),
      refreshToken: newRefreshToken(),
      corporationId,
      expireTime: this.now() + lifetimeMs,
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
