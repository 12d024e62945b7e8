import { sleep } from './clock.js';
import type { ClientConfig } from './config.js';
import { isRetryableStatus, TokenVendingError } from './errors.js';
import { createRequestSigner, type RequestSigner, type ServiceRequest } from './request-signer.js';
import { decideRetry, parseRetryAfter } from './retry-policy.js';
import { checkVendedToken, type VendedToken } from './vended-token.js';

/** A token answer and when the attempt that got it was sent (newer answers win in the cache). */
export interface TokenAnswer {
  readonly token: VendedToken;
  readonly requestedAt: number;
}

type Operation = 'getToken' | 'reportRejected';

/**
 * The service's two routes, each call retried within its deadline. Knows HTTP, signing and the
 * error shape; knows nothing of caching.
 */
export class VendingApi {
  readonly #config: ClientConfig;
  readonly #sign: RequestSigner;

  constructor(config: ClientConfig) {
    this.#config = config;
    this.#sign = createRequestSigner(config.signing);
  }

  /** `GET /tenants/{tenantId}/token`. */
  fetchToken(tenantId: string): Promise<TokenAnswer> {
    return this.#call('getToken', tenantId, { method: 'GET', path: `/tenants/${tenantId}/token` });
  }

  /** `POST /tenants/{tenantId}/token/invalidate`: the replacement, or the current token if the report was stale. */
  invalidate(tenantId: string, accessToken: string): Promise<TokenAnswer> {
    return this.#call('reportRejected', tenantId, {
      method: 'POST',
      path: `/tenants/${tenantId}/token/invalidate`,
      body: JSON.stringify({ accessToken }),
    });
  }

  async #call(
    operation: Operation,
    tenantId: string,
    route: { method: 'GET' | 'POST'; path: string; body?: string },
  ): Promise<TokenAnswer> {
    const { clock } = this.#config;
    const deadline = clock.now() + this.#config.deadlineMs;
    const request: ServiceRequest = {
      method: route.method,
      url: new URL(`${this.#config.apiBase}${route.path}`),
      headers: route.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(route.body === undefined ? {} : { body: route.body }),
    };
    let previous: TokenVendingError | undefined;
    for (let attempt = 1; ; attempt++) {
      const requestedAt = clock.now();
      const outcome = await this.#attempt(request, tenantId, deadline, previous);
      if (!(outcome instanceof TokenVendingError)) return { token: outcome, requestedAt };
      const decision = decideRetry({ error: outcome, attempt, now: clock.now(), deadline, random: this.#config.random });
      if (decision.kind === 'give-up') throw outcome;
      this.#config.emit({
        type: 'retry',
        operation,
        tenantId,
        attempt,
        delayMs: decision.delayMs,
        code: outcome.code,
        status: outcome.status,
        requestId: outcome.requestId,
      });
      await sleep(clock, decision.delayMs);
      previous = outcome;
    }
  }

  /** One exchange, bounded by the attempt timeout and the deadline. Never throws. */
  async #attempt(
    request: ServiceRequest,
    tenantId: string,
    deadline: number,
    previous: TokenVendingError | undefined,
  ): Promise<VendedToken | TokenVendingError> {
    const { clock } = this.#config;
    const remaining = deadline - clock.now();
    const cutByDeadline = remaining <= this.#config.attemptTimeoutMs;
    const controller = new AbortController();
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    const timer = clock.setTimeout(() => controller.abort(), Math.max(0, Math.min(remaining, this.#config.attemptTimeoutMs)));
    const timedOut = (): TokenVendingError =>
      cutByDeadline
        ? new TokenVendingError('DEADLINE_EXCEEDED', `no answer from the token vending service within the ${this.#config.deadlineMs} ms deadline`, {
            ...(previous === undefined ? {} : { cause: previous }),
          })
        : new TokenVendingError('ATTEMPT_TIMEOUT', `the token vending service did not answer within ${this.#config.attemptTimeoutMs} ms`, {
            retryable: true,
          });
    try {
      let headers: Record<string, string>;
      try {
        headers = await Promise.race([this.#sign(request, new Date(clock.now())), aborted]);
      } catch (error) {
        if (controller.signal.aborted) return timedOut();
        return new TokenVendingError('CREDENTIALS_ERROR', 'could not sign the request: no usable AWS credentials', { cause: error });
      }
      let response: Response;
      let text: string;
      try {
        // A fetch that ignores the signal must still not outlive the deadline: hence the races.
        response = await Promise.race([
          this.#config.fetch(request.url.href, {
            method: request.method,
            headers,
            ...(request.body === undefined ? {} : { body: request.body }),
            // A redirect would carry the signed request (and an invalidate body) elsewhere.
            redirect: 'manual',
            signal: controller.signal,
          }),
          aborted,
        ]);
        text = await Promise.race([response.text(), aborted]);
      } catch (error) {
        if (controller.signal.aborted) return timedOut();
        return new TokenVendingError('NETWORK_ERROR', 'could not reach the token vending service', {
          retryable: true,
          cause: error,
        });
      }
      return this.#interpret(response, text, tenantId);
    } finally {
      clock.clearTimeout(timer);
    }
  }

  #interpret(response: Response, text: string, tenantId: string): VendedToken | TokenVendingError {
    const body = parseJson(text);
    if (response.status === 200) {
      const check = checkVendedToken(body, tenantId);
      if (check.ok) return check.token;
      return new TokenVendingError('INVALID_RESPONSE', `the token vending service answered 200 with an unexpected body: ${check.problem}`, {
        status: 200,
        ...requestIdOf(response, undefined),
      });
    }
    const error = errorFields(body);
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), this.#config.clock.now());
    const code = error?.code ?? 'HTTP_ERROR';
    const message = error?.message ?? 'no error body';
    return new TokenVendingError(code, `the token vending service answered ${response.status} ${code}: ${message}`, {
      status: response.status,
      retryable: isRetryableStatus(response.status),
      ...requestIdOf(response, error?.requestId),
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{"error":{"code","message","requestId"}}`, each field taken only if it has the documented form. */
function errorFields(body: unknown): { code?: string; message?: string; requestId?: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, requestId } = error as Record<string, unknown>;
  return {
    ...(typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? { code } : {}),
    ...(typeof message === 'string' ? { message: message.slice(0, 500) } : {}),
    ...(typeof requestId === 'string' ? { requestId: requestId.slice(0, 200) } : {}),
  };
}

function requestIdOf(response: Response, fromBody: string | undefined): { requestId?: string } {
  const requestId = fromBody ?? response.headers.get('x-amzn-requestid') ?? undefined;
  return requestId === undefined ? {} : { requestId };
}
