import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { systemClock, type Clock } from './clock.js';
import { TokenVendingError } from './errors.js';
import type { FetchLike, TokenVendingClientOptions, TokenVendingEvent } from './options.js';
import { isLoopback, isSafeTransport, parseUrl, withoutTrailingSlashes } from './urls.js';

export const DEFAULT_EKUAIBAO_BASE_URL = 'https://app.ekuaibao.com';

const DEFAULTS = {
  expirySkewMs: 60_000,
  deadlineMs: 30_000,
  attemptTimeoutMs: 29_000,
} as const;

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/;
const REGION = /^[a-z0-9]+(?:-[a-z0-9]+)+$/;

export type Signing =
  | { readonly kind: 'unsigned' }
  | {
      readonly kind: 'sigv4';
      readonly region: string;
      readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    };

/** The options, read once, validated and defaulted. */
export interface ClientConfig {
  /** Origin and path prefix of the service, no trailing slash. */
  readonly apiBase: string;
  readonly signing: Signing;
  readonly expirySkewMs: number;
  readonly deadlineMs: number;
  readonly attemptTimeoutMs: number;
  readonly fetch: FetchLike;
  readonly clock: Clock;
  readonly random: () => number;
  /** No trailing slash. */
  readonly ekuaibaoBaseUrl: string;
  readonly emit: (event: TokenVendingEvent) => void;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export function resolveConfig(options: TokenVendingClientOptions, env: Environment): ClientConfig {
  if (typeof options !== 'object' || options === null) invalid('options must be an object with apiUrl');
  const api = parseUrl(options.apiUrl);
  if (api === undefined) invalid('apiUrl must be an absolute URL');
  if (!isSafeTransport(api)) invalid('apiUrl must be https, or http on a loopback host');
  if (api.search !== '' || api.hash !== '' || api.username !== '' || api.password !== '') {
    invalid('apiUrl must not carry a query, a fragment or user info');
  }
  const onEvent = options.onEvent;
  return {
    apiBase: withoutTrailingSlashes(api),
    signing: resolveSigning(api, options, env),
    expirySkewMs: duration('expirySkewMs', options.expirySkewMs, DEFAULTS.expirySkewMs, 0),
    deadlineMs: duration('deadlineMs', options.deadlineMs, DEFAULTS.deadlineMs, 1),
    attemptTimeoutMs: duration('attemptTimeoutMs', options.attemptTimeoutMs, DEFAULTS.attemptTimeoutMs, 1),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    ekuaibaoBaseUrl: resolveEkuaibaoBaseUrl(options.ekuaibaoBaseUrl),
    emit: (event) => {
      try {
        onEvent?.(event);
      } catch {
        // A metrics hook must not change the outcome of a call.
      }
    },
  };
}

function resolveSigning(api: URL, options: TokenVendingClientOptions, env: Environment): Signing {
  // `npm start` serves plain http on loopback and checks no signature.
  if (api.protocol === 'http:' && isLoopback(api)) return { kind: 'unsigned' };
  const region =
    options.region ?? EXECUTE_API_HOST.exec(api.hostname)?.[1] ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (region === undefined) {
    invalid('no region to sign for: pass the region option, or set AWS_REGION (apiUrl is not an execute-api host)');
  }
  if (!REGION.test(region)) invalid('region must look like eu-west-1');
  return { kind: 'sigv4', region, credentials: options.credentials ?? defaultProvider() };
}

function resolveEkuaibaoBaseUrl(value: string | undefined): string {
  if (value === undefined) return DEFAULT_EKUAIBAO_BASE_URL;
  const url = parseUrl(value);
  if (url === undefined || !isSafeTransport(url) || url.search !== '' || url.hash !== '') {
    invalid('ekuaibaoBaseUrl must be an https URL (http only on a loopback host) without query');
  }
  return withoutTrailingSlashes(url);
}

function duration(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    invalid(`${name} must be a finite number of milliseconds ≥ ${min}`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function invalid(message: string): never {
  throw new TokenVendingError('INVALID_OPTIONS', message);
}
