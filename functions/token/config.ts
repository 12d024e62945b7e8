/**
 * Configuration, read once from the environment, validated and typed. Nothing else reads
 * `process.env`. Every variable is documented in README's Configuration section.
 */
import * as z from 'zod/mini';
import { leaseDurationMs, requestBudgetMs } from '../domain/lease-timing';
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
    /** Unset: derived as in the stack (lease wait + lease + 2 s of overhead). */
    REQUEST_BUDGET_MS: z.optional(z.coerce.number().check(z.int(), z.positive())),
    SECRET_MAX_AGE_SECONDS: seconds(300),
    /** 0 asks the refresh endpoint for its own default lifetime (32 days). */
    REFRESH_LIFETIME_DAYS: seconds(1),
    INVALIDATION_MIN_INTERVAL_SECONDS: seconds(30),
    WARM_HORIZON_SECONDS: seconds(360),
    /** The function that refreshes tokens asynchronously (the warmer); unset: callers never trigger refreshes (local mode wires its own). */
    REFRESHER_FUNCTION_NAME: z.optional(z.string().check(z.minLength(1))),
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
  readonly refresherFunctionName?: string;
  readonly vendor: TokenVendorSettings;
}

/** How long a caller waits for the asynchronous refresh request to be accepted (one Lambda Invoke). */
const REFRESH_TRIGGER_TIMEOUT_MS = 1000;

export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const lease = leaseDurationMs({ upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS, upstreamMaxAttempts: e.UPSTREAM_MAX_ATTEMPTS });
  return {
    tableName: e.TABLE_NAME,
    secretPrefix: e.TENANT_SECRET_PREFIX,
    defaultBaseUrl: e.DEFAULT_BASE_URL,
    secretMaxAgeSeconds: e.SECRET_MAX_AGE_SECONDS,
    warmHorizonMs: e.WARM_HORIZON_SECONDS * 1000,
    ...(e.REFRESHER_FUNCTION_NAME !== undefined && { refresherFunctionName: e.REFRESHER_FUNCTION_NAME }),
    vendor: {
      safetyMarginMs: e.SAFETY_MARGIN_SECONDS * 1000,
      refreshWindowMs: e.REFRESH_WINDOW_SECONDS * 1000,
      // A holder never acts past its lease, so this bounds how long a crashed holder blocks the others.
      leaseDurationMs: lease,
      leaseWaitMs: e.LEASE_WAIT_MS,
      requestBudgetMs:
        e.REQUEST_BUDGET_MS ??
        requestBudgetMs({ leaseWaitMs: e.LEASE_WAIT_MS, upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS, upstreamMaxAttempts: e.UPSTREAM_MAX_ATTEMPTS }),
      upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
      upstreamMaxAttempts: e.UPSTREAM_MAX_ATTEMPTS,
      refreshLifetimeDays: e.REFRESH_LIFETIME_DAYS === 0 ? undefined : e.REFRESH_LIFETIME_DAYS,
      invalidationMinIntervalMs: e.INVALIDATION_MIN_INTERVAL_SECONDS * 1000,
      refreshTriggerTimeoutMs: REFRESH_TRIGGER_TIMEOUT_MS,
    },
  };
}
