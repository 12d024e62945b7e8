/**
 * Where tenant credentials come from: one Secrets Manager secret per tenant in AWS (read through
 * Powertools Parameters, which caches each secret for a bounded time), or a fixed map locally.
 * Both go through one parser, so a secret that would fail in AWS fails the same way locally.
 */
import { GetParameterError, ParameterNotFoundError } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { DependencyThrottled, TenantMisconfigured, TenantNotFound } from '../domain/errors';
import type { CredentialSource, TenantCredentials } from '../domain/types';

export interface CredentialParsing {
  /** Used when the secret has no `baseUrl`. */
  readonly defaultBaseUrl: string;
  /** Local mode only: lets a tenant point at the simulator on loopback over plain http. */
  readonly allowLoopbackHttp: boolean;
}

const secretSchema = z.object({
  appKey: z.string().check(z.trim(), z.minLength(1)),
  appSecurity: z.string().check(z.minLength(1)),
  baseUrl: z.optional(z.string().check(z.minLength(1))),
});

/** Turns a secret's content into credentials, naming what is wrong without quoting it. */
export function parseTenantSecret(tenantId: string, raw: unknown, parsing: CredentialParsing): TenantCredentials {
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
  const baseUrl = normaliseBaseUrl(parsed.data.baseUrl ?? parsing.defaultBaseUrl, parsing.allowLoopbackHttp);
  if (baseUrl === undefined) {
    throw new TenantMisconfigured(tenantId, 'baseUrl must be an https URL without query or fragment');
  }
  return { appKey: parsed.data.appKey, appSecurity: parsed.data.appSecurity, baseUrl };
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
}

export class SecretsManagerCredentials implements CredentialSource {
  private readonly provider: SecretsProvider;

  constructor(private readonly options: SecretsManagerCredentialsOptions) {
    this.provider = new SecretsProvider(options.client ? { awsSdkV3Client: options.client } : {});
  }

  async get(tenantId: string): Promise<TenantCredentials> {
    let secret: unknown;
    try {
      secret = await this.provider.get(`${this.options.secretPrefix}${tenantId}`, {
        maxAge: this.options.maxAgeSeconds,
        throwOnMissing: true,
      });
    } catch (error) {
      throw translateSecretsError(tenantId, error);
    }
    if (typeof secret !== 'string') throw new TenantMisconfigured(tenantId, 'the secret has no SecretString');
    return parseTenantSecret(tenantId, secret, this.options);
  }
}

function translateSecretsError(tenantId: string, error: unknown): unknown {
  if (error instanceof ParameterNotFoundError) return new TenantNotFound(tenantId);
  const cause = error instanceof GetParameterError ? error.cause : error;
  const name = cause instanceof Error ? cause.name : '';
  switch (name) {
    case 'ResourceNotFoundException':
      return new TenantNotFound(tenantId);
    case 'AccessDeniedException':
    case 'DecryptionFailure':
      // The usual cause is a secret encrypted with a KMS key this service may not use.
      return new TenantMisconfigured(tenantId, `the service may not read the secret (${name})`);
    case 'ThrottlingException':
    case 'TooManyRequestsException':
      return new DependencyThrottled('Secrets Manager', { cause });
    default:
      return error;
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

  async get(tenantId: string): Promise<TenantCredentials> {
    const entry = this.tenants.get(tenantId);
    if (entry === undefined) throw new TenantNotFound(tenantId);
    if (entry instanceof Error) throw entry;
    return entry;
  }
}
