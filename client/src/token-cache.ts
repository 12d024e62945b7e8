import type { VendedToken } from './vended-token.js';

/** How many rejected tokens per tenant are remembered (a token is reported once per client). */
const REPORTED_MEMORY = 16;

interface TenantEntry {
  current?: { readonly token: VendedToken; readonly requestedAt: number };
  /** Tokens this client reported as rejected and the service answered for, oldest first. */
  readonly reported: Set<string>;
}

/**
 * The tokens this process holds, per tenant, and which of them it reported as rejected.
 *
 * Two answers can cross on the wire: a GET sent before an invalidation may arrive after the
 * invalidation's answer. So a token this client reported is never cached again, and otherwise
 * the answer to the later request wins.
 */
export class TokenCache {
  readonly #expirySkewMs: number;
  readonly #tenants = new Map<string, TenantEntry>();

  constructor(expirySkewMs: number) {
    this.#expirySkewMs = expirySkewMs;
  }

  /** The cached token if it may still be used at `now` (before `expireTime − skew`). */
  usable(tenantId: string, now: number): VendedToken | undefined {
    const current = this.#tenants.get(tenantId)?.current;
    if (current === undefined || !this.#isUsable(current.token, now)) return undefined;
    return current.token;
  }

  /** Records an answer; returns the token its caller should use. */
  store(tenantId: string, token: VendedToken, requestedAt: number, now: number): VendedToken {
    const entry = this.#entry(tenantId);
    const current = entry.current;
    const answerIsRejected = entry.reported.has(token.accessToken);
    const currentIsRejected = current !== undefined && entry.reported.has(current.token.accessToken);
    if (!answerIsRejected && (current === undefined || currentIsRejected || requestedAt >= current.requestedAt)) {
      entry.current = { token, requestedAt };
      return token;
    }
    if (current !== undefined && !currentIsRejected && this.#isUsable(current.token, now)) return current.token;
    return token;
  }

  wasReported(tenantId: string, accessToken: string): boolean {
    return this.#tenants.get(tenantId)?.reported.has(accessToken) ?? false;
  }

  markReported(tenantId: string, accessToken: string): void {
    const { reported } = this.#entry(tenantId);
    reported.delete(accessToken);
    reported.add(accessToken);
    for (const oldest of reported) {
      if (reported.size <= REPORTED_MEMORY) break;
      reported.delete(oldest);
    }
  }

  #isUsable(token: VendedToken, now: number): boolean {
    return now < token.expireTime - this.#expirySkewMs;
  }

  #entry(tenantId: string): TenantEntry {
    let entry = this.#tenants.get(tenantId);
    if (entry === undefined) {
      entry = { reported: new Set() };
      this.#tenants.set(tenantId, entry);
    }
    return entry;
  }
}
