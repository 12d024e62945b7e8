/**
 * Public types of the Ekuaibao auth simulator. Other packages (the local server, tests, the
 * benchmark) import these names, so they are kept stable and free of runtime code.
 */

/** One enterprise's Open API key pair, as the Ekuaibao console hands it out. */
export interface SimulatorCredential {
  appKey: string;
  appSecurity: string;
  corporationId: string;
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

export type SimulatorEndpoint = 'getAccessToken' | 'refreshToken' | 'protected';

export type FaultMode = 'status' | 'delay' | 'hang' | 'malformed' | 'drop';

/** A misbehaviour to apply to the next matching calls, ahead of the normal logic. */
export interface Fault {
  endpoint: SimulatorEndpoint | '*';
  mode: FaultMode;
  /** For `status`: the HTTP status to answer (default 500). For `malformed`: default 200. */
  status?: number;
  /** For `delay`: how long to wait before behaving normally. */
  delayMs?: number;
  /** How many calls this fault applies to; default: until cleared. */
  times?: number;
  /** For `malformed`: the raw body to send; default a non-JSON HTML snippet. */
  body?: string;
}

export interface SimulatorCounters {
  getAccessToken: number;
  refreshToken: number;
  protected: number;
  /** 403s answered on the three upstream endpoints, injected ones included. */
  rejected: number;
  /** Highest number of concurrent in-flight calls seen per endpoint. */
  inFlightMax: { getAccessToken: number; refreshToken: number };
}

export interface Simulator {
  /** e.g. http://127.0.0.1:43210 (no trailing slash). */
  readonly baseUrl: string;
  counters(): SimulatorCounters;
  /** Zeroes counters, clears faults, forgets issued tokens. Keeps settings and credentials. */
  reset(): void;
  configure(settings: Partial<SimulatorSettings>): void;
  addCredential(c: SimulatorCredential): void;
  injectFault(f: Fault): void;
  clearFaults(): void;
  isValid(accessToken: string): boolean;
  /** Stops listening and destroys every open socket, hanging requests included. */
  close(): Promise<void>;
}
