/**
 * Public types of the Ekuaibao auth simulator. Other packages (the local server, tests, the
 * benchmark) import these names, so they are kept stable and free of runtime code.
 */

/** One enterprise's Open API key pair, as the Ekuaibao console hands it out. */
export interface SimulatorCredential {
  appKey: string;
  appSecurity: string;
  corporationId: string;
  /**
   * The corporation's address prefix (its "environment", docs §3 and §6): what
   * `GET /api/openapi/v2/location?corpId=` answers (with a trailing slash added), and the only
   * prefix at which the simulator accepts this corporation's getAccessToken, refresh and
   * protected calls, as the docs say a wrong base URL gets 403. A URL on this simulator with a
   * path (`${sim.baseUrl}/dd2`) is served under that path; a URL elsewhere means every such
   * call here is refused. Default: the simulator's own `baseUrl`. Moves with `moveEnvironment`.
   * Several credentials of one corporation share one prefix: the last one set wins.
   */
  environmentBaseUrl?: string;
}

/** Behaviour knobs; every one can be changed while the simulator runs. */
export interface SimulatorSettings {
  /**
   * How long getAccessToken and refresh wait before answering a success. The real endpoint
   * delays new tokens on purpose (changelog 1.17.0). Default 300 ms; rejections are immediate.
   */
  issueDelayMs: number;
  /** Lifetime of a token from getAccessToken. Default 2 h, as documented. */
  tokenLifetimeMs: number;
  /** Lifetime of a token from refresh without `expireDate`. Default 32 days, as documented. */
  refreshedTokenLifetimeMs: number;
  /**
   * The docs do not say whether a new token kills the old ones. When true, issuing a token
   * (getAccessToken or refresh) invalidates every earlier access token of that corporation;
   * when false, old tokens live until their own expiry. Default false.
   */
  newTokenInvalidatesOld: boolean;
}

export interface SimulatorOptions extends Partial<SimulatorSettings> {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Port; 0 or undefined picks a free one. */
  port?: number;
  /** Accepted key pairs. Default none: add them with `addCredential` or the control API. */
  credentials?: SimulatorCredential[];
  /** Clock for issue and expiry times (not for delays). Default `Date.now`. */
  now?: () => number;
  /**
   * Receives one line per answered request: method, path without query, status. Never
   * tokens or secrets. Default: silent.
   */
  log?: (line: string) => void;
}

/**
 * `getAccessToken` is v1 (`/api/openapi/v1/auth/getAccessToken`); `getAccessTokenV3` is
 * `/auth/openApi/v3/getAccessToken`; `location` is the address prefix lookup.
 */
export type SimulatorEndpoint = 'getAccessToken' | 'refreshToken' | 'protected' | 'location' | 'getAccessTokenV3';

/**
 * `envelope` is for `getAccessTokenV3` only: its documented failures arrive as HTTP 200 with
 * an error `code` in the JSON envelope, and this mode answers one of those.
 */
export type FaultMode = 'status' | 'delay' | 'hang' | 'malformed' | 'drop' | 'envelope';

/** A misbehaviour to apply to the next matching calls, ahead of the normal logic. */
export interface Fault {
  endpoint: SimulatorEndpoint | '*';
  mode: FaultMode;
  /**
   * For `status`: the HTTP status to answer (default 500); 403 answers the endpoint's own
   * refusal body. For `malformed` and `envelope`: default 200.
   */
  status?: number;
  /** For `delay`: how long to wait before behaving normally. */
  delayMs?: number;
  /** How many calls this fault applies to; default: until cleared. */
  times?: number;
  /** For `malformed`: the raw body to send; default a non-JSON HTML snippet. */
  body?: string;
  /**
   * For `envelope`: the v3 envelope `code` (default "500"). "403" answers exactly the
   * documented `密钥无效` refusal and counts as rejected; "500" the documented `system error`
   * with a traceId; any other code `{"code","msg":"simulated upstream fault","data":null,"traceId"}`.
   */
  code?: string;
}

/** Calls are counted on arrival, before any fault, so swallowed calls count too. */
export interface SimulatorCounters {
  getAccessToken: number;
  refreshToken: number;
  protected: number;
  location: number;
  getAccessTokenV3: number;
  /**
   * Refusals on the upstream endpoints, injected ones included: every HTTP 403, plus v3's
   * HTTP 200 envelope with code "403" (its documented way to refuse).
   */
  rejected: number;
  /** Highest number of concurrent in-flight calls seen per endpoint. */
  inFlightMax: { getAccessToken: number; refreshToken: number; getAccessTokenV3: number; location: number };
}

export interface Simulator {
  /** e.g. http://127.0.0.1:43210 (no trailing slash). */
  readonly baseUrl: string;
  counters(): SimulatorCounters;
  /**
   * Zeroes counters, clears faults, forgets issued tokens. Keeps settings, credentials and
   * address prefixes (moved ones included).
   */
  reset(): void;
  configure(settings: Partial<SimulatorSettings>): void;
  addCredential(c: SimulatorCredential): void;
  injectFault(f: Fault): void;
  clearFaults(): void;
  isValid(accessToken: string): boolean;
  /**
   * Moves a known corporation's address prefix, as a platform upgrade may: the location
   * lookup answers the new one at once, and calls for that corporation are accepted only at
   * the new prefix. Issued tokens stay valid (at the new prefix). Throws for an unknown
   * corporation or a URL that is not http(s) or has a query or fragment.
   */
  moveEnvironment(corporationId: string, baseUrl: string): void;
  /** What the location lookup answers for this corporation (trailing slash), or undefined. */
  locationOf(corporationId: string): string | undefined;
  /** Stops listening and destroys every open socket, hanging requests included. */
  close(): Promise<void>;
}
