/**
 * Configuration, read once from the environment, validated and typed. Nothing else reads
 * `process.env`. Every variable is documented in README's Configuration section.
 */
import * as z from 'zod/mini';
import type { TokenVendorSettings } from '../domain/token-vendor';

const seconds = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.nonnegative()), fallback);
const positive = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

const environmentSchema = z
  .object({
    TABLE_NAME: z.string({ error: 'is required' }).check(z.minLength(1, 'is required')),
    TENANT_SECRET_PREFIX: z._default(z.string(), 'ekuaibao/tenants/'),
    DEFAULT_BASE_URL: z._default(z.url(), 'https://app.ekuaibao.com'),
    SAFETY_MARGIN_SECONDS: seconds(300),
    REFRESH_WINDOW_SECONDS: seconds(900),
    UPSTREAM_TIMEOUT_MS: positive(5000),
    UPSTREAM_MAX_ATTEMPTS: positive(2),
    LEASE_WAIT_MS: seconds(8000),
    REQUEST_BUDGET_MS: positive(25_000),
    SECRET_MAX_AGE_SECONDS: seconds(300),
    MEMORY_CACHE_SECONDS: seconds(5),
    /** 0 asks the refresh endpoint for its own default lifetime (32 days). */
    REFRESH_LIFETIME_DAYS: seconds(1),
    INVALIDATION_MIN_INTERVAL_SECONDS: seconds(30),
    WARM_HORIZON_SECONDS: seconds(360),
  })
  .check(
    z.refine((env) => env.REFRESH_WINDOW_SECONDS >= env.SAFETY_MARGIN_SECONDS, {
      message: 'REFRESH_WINDOW_SECONDS must be at least SAFETY_MARGIN_SECONDS',
      path: ['REFRESH_WINDOW_SECONDS'],
    }),
  );

export type Environment = z.input<typeof environmentSchema>;

export interface ServiceConfig {
  readonly tableName: string;
  readonly secretPrefix: string;
  readonly defaultBaseUrl: string;
  readonly secretMaxAgeSeconds: number;
  readonly warmHorizonMs: number;
  readonly vendor: TokenVendorSettings;
}

/** Longest pause between two upstream attempts (see the vendor's retry backoff). */
const RETRY_BACKOFF_CAP_MS = 1000;
const LEASE_SLACK_MS = 1000;

export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    tableName: e.TABLE_NAME,
    secretPrefix: e.TENANT_SECRET_PREFIX,
    defaultBaseUrl: e.DEFAULT_BASE_URL,
    secretMaxAgeSeconds: e.SECRET_MAX_AGE_SECONDS,
    warmHorizonMs: e.WARM_HORIZON_SECONDS * 1000,
    vendor: {
      safetyMarginMs: e.SAFETY_MARGIN_SECONDS * 1000,
      refreshWindowMs: e.REFRESH_WINDOW_SECONDS * 1000,
      memoryMaxAgeMs: e.MEMORY_CACHE_SECONDS * 1000,
      // A holder never starts an attempt that could outlive its lease, so this bounds how long a
      // crashed holder blocks the others.
      leaseDurationMs:
        e.UPSTREAM_TIMEOUT_MS * e.UPSTREAM_MAX_ATTEMPTS +
        RETRY_BACKOFF_CAP_MS * (e.UPSTREAM_MAX_ATTEMPTS - 1) +
        LEASE_SLACK_MS,
      leaseWaitMs: e.LEASE_WAIT_MS,
      requestBudgetMs: e.REQUEST_BUDGET_MS,
      upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
      upstreamMaxAttempts: e.UPSTREAM_MAX_ATTEMPTS,
      refreshLifetimeDays: e.REFRESH_LIFETIME_DAYS === 0 ? undefined : e.REFRESH_LIFETIME_DAYS,
      invalidationMinIntervalMs: e.INVALIDATION_MIN_INTERVAL_SECONDS * 1000,
    },
  };
}
