import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { Clock } from './clock.js';

/** The part of `fetch` the client uses; the global `fetch` fits. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * What the client reports about its own work, for metrics. Events carry no token and no URL.
 */
export type TokenVendingEvent =
  | {
      readonly type: 'retry';
      readonly operation: 'getToken' | 'reportRejected';
      readonly tenantId: string;
      /** The attempt that failed (1 for the first). */
      readonly attempt: number;
      readonly delayMs: number;
      readonly code: string;
      readonly status: number | undefined;
      readonly requestId: string | undefined;
    }
  | { readonly type: 'token-fetched'; readonly tenantId: string }
  | { readonly type: 'token-reported'; readonly tenantId: string };

/** Options of {@link TokenVendingClient}. Only `apiUrl` is required. */
export interface TokenVendingClientOptions {
  /**
   * The service's base URL, e.g. the stack output `ApiUrl`
   * (`https://abc123.execute-api.eu-west-1.amazonaws.com/v1/`), or `http://127.0.0.1:3000` for
   * `npm start`. https, or plain http on a loopback host (then requests are not signed).
   */
  readonly apiUrl: string;
  /**
   * Region to sign for. Default: taken from an `*.execute-api.{region}.amazonaws.com` host, else
   * `AWS_REGION`, else `AWS_DEFAULT_REGION`; the constructor throws if none is found.
   */
  readonly region?: string;
  /**
   * AWS credentials or a provider of them (called before each signature; memoize it).
   * Default: `defaultProvider()` of `@aws-sdk/credential-provider-node` (memoized).
   */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** A token is used until `expireTime - expirySkewMs`, then fetched again. Default 60 000. */
  readonly expirySkewMs?: number;
  /** Total time of one `getToken`/`reportRejected` call, retries included. Default 30 000. */
  readonly deadlineMs?: number;
  /**
   * Time one attempt may take, bounded by what is left of the deadline. Default 29 000
   * (API Gateway answers within 29 s).
   */
  readonly attemptTimeoutMs?: number;
  /** Used for the service and for `ekuaibaoFetch`. Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Default: the system clock and timers. */
  readonly clock?: Clock;
  /** Returns a number in [0, 1) for backoff jitter. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * Ekuaibao address prefix for `ekuaibaoFetch` paths when the token answer carries no `baseUrl`.
   * Default `https://app.ekuaibao.com`.
   */
  readonly ekuaibaoBaseUrl?: string;
  /** Called synchronously for each {@link TokenVendingEvent}; exceptions it throws are ignored. */
  readonly onEvent?: (event: TokenVendingEvent) => void;
}
