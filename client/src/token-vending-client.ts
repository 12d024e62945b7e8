import { resolveConfig, type ClientConfig } from './config.js';
import { ekuaibaoRequestFailed, ekuaibaoUrl, isReplayableBody, parseEkuaibaoTarget, type EkuaibaoTarget } from './ekuaibao-request.js';
import { TokenVendingError } from './errors.js';
import type { TokenVendingClientOptions } from './options.js';
import { SingleFlight } from './single-flight.js';
import { TokenCache } from './token-cache.js';
import { assertTenantId } from './tenant-id.js';
import type { VendedToken } from './vended-token.js';
import { VendingApi } from './vending-api.js';

/**
 * Client of the ekuaibao-token-vending service: SigV4-signed requests, an in-process token cache
 * with one request in flight per tenant, retries within a deadline, and an Ekuaibao `fetch` that
 * reports a rejected token and retries once with its replacement.
 *
 * Create one per process and share it: the cache and the single flight are per instance.
 * The client never logs.
 *
 * @example
 * ```ts
 * import { TokenVendingClient } from '@ekuaibao-token-vending/client';
 *
 * const vending = new TokenVendingClient({ apiUrl: process.env.TOKEN_VENDING_API_URL! });
 * const response = await vending.ekuaibaoFetch('acme', '/api/openapi/v1/staffs?start=0&count=100');
 * const staffs = await response.json();
 * ```
 */
export class TokenVendingClient {
  readonly #config: ClientConfig;
  readonly #api: VendingApi;
  readonly #cache: TokenCache;
  readonly #fetches = new SingleFlight<string, VendedToken>();
  /** Keyed by tenant and token; holds a token only while its report runs. */
  readonly #reports = new SingleFlight<string, VendedToken>();

  /** @throws {TokenVendingError} `INVALID_OPTIONS` when the options are unusable (e.g. no region to sign for). */
  constructor(options: TokenVendingClientOptions) {
    this.#config = resolveConfig(options, process.env);
    this.#api = new VendingApi(this.#config);
    this.#cache = new TokenCache(this.#config.expirySkewMs);
  }

  /**
   * The tenant's token: from the cache until `expireTime − expirySkewMs`, else from the service
   * (concurrent callers share one request; 429/503, network errors and attempt timeouts are
   * retried within `deadlineMs`).
   *
   * @throws {TokenVendingError} with the service's code (`TENANT_NOT_FOUND`, …) or the client's
   *   (`INVALID_TENANT_ID`, `DEADLINE_EXCEEDED`, `INVALID_RESPONSE`, …).
   */
  async getToken(tenantId: string): Promise<VendedToken> {
    assertTenantId(tenantId);
    const cached = this.#cache.usable(tenantId, this.#config.clock.now());
    if (cached !== undefined) {
      // The cached token is being reported as rejected: its replacement is on the way.
      const report = this.#reports.get(reportKey(tenantId, cached.accessToken));
      if (report === undefined) return cached;
      return report.catch(() => this.getToken(tenantId));
    }
    return this.#fetches.run(tenantId, async () => {
      const { token, requestedAt } = await this.#api.fetchToken(tenantId);
      this.#config.emit({ type: 'token-fetched', tenantId });
      return this.#cache.store(tenantId, token, requestedAt, this.#config.clock.now());
    });
  }

  /**
   * Reports that the Ekuaibao API rejected `accessToken` and returns the tenant's token to use
   * instead (cached). Concurrent reports of one token send one request; a token this client
   * already reported is not reported again (the current token is returned).
   *
   * @throws {TokenVendingError} as {@link TokenVendingClient.getToken}; a failed report is not
   *   remembered, so it may be sent again.
   */
  async reportRejected(tenantId: string, accessToken: string): Promise<VendedToken> {
    assertTenantId(tenantId);
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new TokenVendingError('INVALID_ARGUMENT', 'accessToken must be a non-empty string');
    }
    if (this.#cache.wasReported(tenantId, accessToken)) return this.getToken(tenantId);
    return this.#reports.run(reportKey(tenantId, accessToken), async () => {
      this.#config.emit({ type: 'token-reported', tenantId });
      const { token, requestedAt } = await this.#api.invalidate(tenantId, accessToken);
      if (token.accessToken === accessToken) {
        throw new TokenVendingError('INVALID_RESPONSE', 'the token vending service answered an invalidation with the rejected token');
      }
      this.#cache.markReported(tenantId, accessToken);
      return this.#cache.store(tenantId, token, requestedAt, this.#config.clock.now());
    });
  }

  /**
   * `fetch` for the Ekuaibao Open API with the tenant's token as the `accessToken` query
   * parameter. A path (`/api/openapi/...`) goes to the token's `baseUrl`, else to
   * `ekuaibaoBaseUrl`; an absolute https URL is used as is.
   *
   * On HTTP 403 the token is reported (once per client, however many calls saw it rejected)
   * and the request is sent once more with the replacement; that second answer is returned
   * whatever it is. A request whose body is a stream cannot be sent twice: its 403 is reported
   * and returned without a retry.
   *
   * Returns the `Response` as fetch gives it (its `url` carries the token: do not log it).
   *
   * @throws {TokenVendingError} `INVALID_ARGUMENT` for an unusable `pathOrUrl` (before any
   *   request), the errors of {@link TokenVendingClient.getToken} and
   *   {@link TokenVendingClient.reportRejected}, or `EKUAIBAO_REQUEST_FAILED` when fetch itself
   *   fails. If `init.signal` aborts, its reason is thrown.
   */
  async ekuaibaoFetch(tenantId: string, pathOrUrl: string | URL, init: RequestInit = {}): Promise<Response> {
    assertTenantId(tenantId);
    const target = parseEkuaibaoTarget(pathOrUrl);
    const token = await this.getToken(tenantId);
    const first = await this.#sendToEkuaibao(target, token, init);
    if (first.status !== 403) return first;
    if (!isReplayableBody(init.body)) {
      await this.reportRejected(tenantId, token.accessToken);
      return first;
    }
    await first.body?.cancel().catch(() => undefined);
    const replacement = await this.reportRejected(tenantId, token.accessToken);
    return this.#sendToEkuaibao(target, replacement, init);
  }

  async #sendToEkuaibao(target: EkuaibaoTarget, token: VendedToken, init: RequestInit): Promise<Response> {
    const url = ekuaibaoUrl(target, token.baseUrl ?? this.#config.ekuaibaoBaseUrl, token.accessToken);
    try {
      return await this.#config.fetch(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw ekuaibaoRequestFailed(error);
    }
  }
}

function reportKey(tenantId: string, accessToken: string): string {
  return `${tenantId}\n${accessToken}`;
}
