/**
 * The token table and the tenant secrets, each tenant's through clients that hold only that
 * tenant's session (tenant-sessions.ts). The vendor sees the same ports as before; which
 * credentials a call uses is decided here, by the tenant id the call is for, and nowhere else.
 */
import { LRUCache } from 'lru-cache';
import type {
  CachedToken,
  CredentialReadOptions,
  CredentialSource,
  LeaseRequest,
  RecordedFailure,
  TenantCredentials,
  TenantTokenState,
  TokenStore,
  WriteResult,
} from '../domain/types';
import { DEFAULT_MAX_TENANT_SESSIONS, type SessionCredentials, type TenantSessions } from './tenant-sessions';

/** The credentials option of an AWS SDK client: one tenant's session, renewed as it runs out. */
export type TenantCredentialsProvider = () => Promise<SessionCredentials>;

/** Per-tenant adapters, built on first use and dropped least recently used first. */
class PerTenant<T extends object> {
  private readonly adapters: LRUCache<string, T>;

  constructor(
    private readonly sessions: TenantSessions,
    private readonly build: (credentials: TenantCredentialsProvider, tenantId: string) => T,
    maxTenants: number,
  ) {
    this.adapters = new LRUCache<string, T>({ max: maxTenants });
  }

  /**
   * The tenant's adapter, after making sure a session can be had: an STS failure surfaces here as
   * the service's error, before any call is attempted with it.
   */
  async for(tenantId: string): Promise<T> {
    await this.sessions.credentialsFor(tenantId);
    let adapter = this.adapters.get(tenantId);
    if (adapter === undefined) {
      adapter = this.build(() => this.sessions.credentialsFor(tenantId), tenantId);
      this.adapters.set(tenantId, adapter);
    }
    return adapter;
  }
}

export interface TenantScopedOptions<T extends object> {
  readonly sessions: TenantSessions;
  /** Builds one tenant's adapter with clients whose `credentials` is the provider given. */
  readonly build: (credentials: TenantCredentialsProvider, tenantId: string) => T;
  readonly maxTenants?: number;
}

/**
 * The `TokenStore` port, each tenant's item read and written with that tenant's session. Listing
 * the tenants due for a refresh is no tenant's business: it goes through `shared`, the function's
 * own credentials (the warmer's role may Scan; the token function never lists).
 *
 * @example
 * const store = new TenantScopedTokenStore({
 *   sessions, shared: new DynamoTokenTable({ tableName }),
 *   build: (credentials) => new DynamoTokenTable({ tableName, client: new DynamoDBClient({ credentials }) }),
 * });
 */
export class TenantScopedTokenStore implements TokenStore {
  private readonly tables: PerTenant<TokenStore>;
  private readonly shared: Pick<TokenStore, 'listExpiringBefore'>;

  constructor(options: TenantScopedOptions<TokenStore> & { readonly shared: Pick<TokenStore, 'listExpiringBefore'> }) {
    this.tables = new PerTenant(options.sessions, options.build, options.maxTenants ?? DEFAULT_MAX_TENANT_SESSIONS);
    this.shared = options.shared;
  }

  async read(tenantId: string): Promise<TenantTokenState> {
    return (await this.tables.for(tenantId)).read(tenantId);
  }

  async acquireLease(tenantId: string, request: LeaseRequest): Promise<WriteResult> {
    return (await this.tables.for(tenantId)).acquireLease(tenantId, request);
  }

  async storeToken(tenantId: string, owner: string, token: Omit<CachedToken, 'version' | 'retiredAt' | 'doubtedAt'>): Promise<WriteResult> {
    return (await this.tables.for(tenantId)).storeToken(tenantId, owner, token);
  }

  async releaseLease(tenantId: string, owner: string, failure: RecordedFailure): Promise<WriteResult> {
    return (await this.tables.for(tenantId)).releaseLease(tenantId, owner, failure);
  }

  async retire(tenantId: string, accessToken: string, now: number, minIntervalMs: number): Promise<WriteResult> {
    return (await this.tables.for(tenantId)).retire(tenantId, accessToken, now, minIntervalMs);
  }

  async recordCredentialRank(tenantId: string, rank: number): Promise<WriteResult> {
    return (await this.tables.for(tenantId)).recordCredentialRank(tenantId, rank);
  }

  listExpiringBefore(before: number): Promise<string[]> {
    return this.shared.listExpiringBefore(before);
  }
}

/**
 * The `CredentialSource` port (tenant secrets), each tenant's secret read with that tenant's
 * session. Each tenant's source keeps its own cache of the secret.
 *
 * @example
 * const secrets = new TenantScopedCredentialSource({
 *   sessions, build: (credentials) => new SecretsManagerCredentials({ ...parsing, client: new SecretsManagerClient({ credentials }) }),
 * });
 */
export class TenantScopedCredentialSource implements CredentialSource {
  private readonly sources: PerTenant<CredentialSource>;

  constructor(options: TenantScopedOptions<CredentialSource>) {
    this.sources = new PerTenant(options.sessions, options.build, options.maxTenants ?? DEFAULT_MAX_TENANT_SESSIONS);
  }

  async get(tenantId: string, options?: CredentialReadOptions): Promise<TenantCredentials> {
    return (await this.sources.for(tenantId)).get(tenantId, options);
  }
}
