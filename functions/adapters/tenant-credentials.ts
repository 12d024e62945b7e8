/**
 * Where tenant credentials come from: one Secrets Manager secret per tenant in AWS (cached for a
 * bounded time), or a fixed map locally. Both go through one parser, so a secret that would fail
 * in AWS fails the same way locally.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { DependencyThrottled, DependencyUnavailable, TenantMisconfigured, TenantNotFound } from '../domain/errors';
import type { Clock, CredentialReadOptions, CredentialSource, TenantCredentials } from '../domain/types';
import { systemClock } from '../domain/types';
import { type AwsCallLimits, isUnansweredCall, sendWithin, withCallLimits } from './aws-call-limits';

export interface CredentialParsing {
  /** Used when the secret has no `baseUrl`. */
  readonly defaultBaseUrl: string;
  /** Local mode only: lets a tenant point at the simulator on loopback over plain http. */
  readonly allowLoopbackHttp: boolean;
}

/** Enterprise ids are short letters and digits (`1NUaicKTEw0000`); anything else is not one. */
const CORP_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const secretSchema = z.object({
  appKey: z.string().check(z.trim(), z.minLength(1)),
  appSecurity: z.string().check(z.minLength(1)),
  baseUrl: z.optional(z.string().check(z.minLength(1))),
  corpId: z.optional(z.string().check(z.trim(), z.regex(CORP_ID_PATTERN))),
  authVersion: z.optional(z.enum(['v1', 'v3'])),
});

/**
 * Turns a secret's content into credentials, naming what is wrong without quoting it.
 * @param rank the secret version's rank (`TenantCredentials.rank`); 0 for a fixed map.
 */
export function parseTenantSecret(tenantId: string, raw: unknown, parsing: CredentialParsing, rank = 0): TenantCredentials {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new TenantMisconfigured(tenantId, 'the secret is not JSON');
    }
  }
  const parsed = secretSchema.safeParse(value);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(root)'))];
    throw new TenantMisconfigured(tenantId, `invalid or missing ${fields.join(', ')}`);
  }
  const { appKey, appSecurity, corpId } = parsed.data;
  const authVersion = parsed.data.authVersion ?? 'v1';
  // `baseUrl` wins over `corpId`; with `corpId` alone the prefix is looked up; with neither, the default.
  const given = parsed.data.baseUrl ?? (corpId === undefined ? parsing.defaultBaseUrl : undefined);
  const baseUrl = given === undefined ? undefined : normaliseBaseUrl(given, parsing.allowLoopbackHttp);
  if (given !== undefined && baseUrl === undefined) {
    throw new TenantMisconfigured(tenantId, 'baseUrl must be an https URL without query or fragment');
  }
  return {
    appKey,
    appSecurity,
    ...(baseUrl !== undefined && { baseUrl }),
    ...(corpId !== undefined && { corpId }),
    authVersion,
    rank,
  };
}

/** Accepts `https://host[/prefix][/]` (the location API returns a trailing slash); undefined otherwise. */
export function normaliseBaseUrl(value: string, allowLoopbackHttp: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  const schemeOk = url.protocol === 'https:' || (allowLoopbackHttp && loopback && url.protocol === 'http:');
  if (!schemeOk || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return undefined;
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

export interface SecretsManagerCredentialsOptions extends CredentialParsing {
  /** The secret of tenant T is `${secretPrefix}${T}`. */
  readonly secretPrefix: string;
  /** Seconds a secret is reused before it is read again; bounds how long a rotation takes to apply. */
  readonly maxAgeSeconds: number;
  readonly client?: SecretsManagerClient;
  /**
   * How long each read may take (aws-call-limits.ts): each is sent with an abort signal at the
   * call ceiling, and a client built here gets the timeouts and attempts. A `client` given must
   * carry them already (`withCallLimits`). Without limits: the SDK's defaults, and no abort.
   */
  readonly limits?: AwsCallLimits;
  readonly clock?: Clock;
}

/**
 * Tenant credentials from Secrets Manager (`AWSCURRENT`), each cached for `maxAgeSeconds`.
 * Written on the SDK rather than Powertools Parameters because the vendor needs the version's
 * `CreatedDate` (its rank: which of two containers' cached secrets is newer), which Powertools'
 * provider does not return, and a way to skip the cache when another container has seen a newer
 * version.
 *
 * @example
 * const credentials = new SecretsManagerCredentials({
 *   secretPrefix: 'ekuaibao/tenants/', maxAgeSeconds: 300,
 *   defaultBaseUrl: 'https://app.ekuaibao.com', allowLoopbackHttp: false,
 * });
 * const { appKey, baseUrl, rank } = await credentials.get('acme');
 */
export class SecretsManagerCredentials implements CredentialSource {
  private readonly client: SecretsManagerClient;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { credentials: TenantCredentials; readAt: number }>();

  constructor(private readonly options: SecretsManagerCredentialsOptions) {
    this.client = options.client ?? new SecretsManagerClient(options.limits ? withCallLimits(options.limits) : {});
    this.clock = options.clock ?? systemClock;
  }

  async get(tenantId: string, options: CredentialReadOptions = {}): Promise<TenantCredentials> {
    const cached = this.cache.get(tenantId);
    const now = this.clock.now();
    if (cached !== undefined && !options.fresh && now - cached.readAt < this.options.maxAgeSeconds * 1000) {
      return cached.credentials;
    }
    let answer;
    try {
      const command = new GetSecretValueCommand({ SecretId: `${this.options.secretPrefix}${tenantId}` });
      answer = await sendWithin(this.options.limits, (sendOptions) => this.client.send(command, sendOptions));
    } catch (error) {
      throw translateSecretsError(tenantId, error);
    }
    if (typeof answer.SecretString !== 'string') throw new TenantMisconfigured(tenantId, 'the secret has no SecretString');
    const rank = answer.CreatedDate instanceof Date ? answer.CreatedDate.getTime() : 0;
    const credentials = parseTenantSecret(tenantId, answer.SecretString, this.options, rank);
    // A read that finds an older version than the one cached (an eventually consistent answer,
    // or AWSCURRENT moved back) keeps the newer one, for another maxAge: versions only move forward.
    const newest = cached === undefined || credentials.rank >= cached.credentials.rank ? credentials : cached.credentials;
    this.cache.set(tenantId, { credentials: newest, readAt: now });
    return newest;
  }
}

function translateSecretsError(tenantId: string, error: unknown): unknown {
  const name = error instanceof Error ? error.name : '';
  switch (name) {
    case 'ResourceNotFoundException':
      return new TenantNotFound(tenantId);
    case 'AccessDeniedException':
    case 'DecryptionFailure':
      // The usual cause is a secret encrypted with a KMS key this service may not use.
      return new TenantMisconfigured(tenantId, `the service may not read the secret (${name})`);
    case 'ThrottlingException':
    case 'TooManyRequestsException':
      return new DependencyThrottled('Secrets Manager', { cause: error });
    case 'InternalServiceError':
      return new DependencyUnavailable('Secrets Manager', { cause: error });
    default:
      // Timed out (the call's ceiling or an SDK timeout), connection failed or broke, any 5xx.
      return isUnansweredCall(error) ? new DependencyUnavailable('Secrets Manager', { cause: error }) : error;
  }
}

/** Credentials from a fixed map: `TENANTS_FILE` and the sandbox in local mode, and tests. */
export class StaticCredentials implements CredentialSource {
  private readonly tenants: Map<string, TenantCredentials | Error>;

  constructor(tenants: Record<string, unknown>, parsing: CredentialParsing) {
    this.tenants = new Map(
      Object.entries(tenants).map(([tenantId, raw]): [string, TenantCredentials | Error] => {
        try {
          return [tenantId, parseTenantSecret(tenantId, raw, parsing)];
        } catch (error) {
          // Kept, not thrown: a broken entry answers TENANT_MISCONFIGURED, as a broken secret would.
          return [tenantId, error as Error];
        }
      }),
    );
  }

  async get(tenantId: string, _options?: CredentialReadOptions): Promise<TenantCredentials> {
    const entry = this.tenants.get(tenantId);
    if (entry === undefined) throw new TenantNotFound(tenantId);
    if (entry instanceof Error) throw entry;
    return entry;
  }
}
