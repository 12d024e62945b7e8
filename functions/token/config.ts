/**
 * Configuration, read once from the environment, validated and typed. Nothing else reads
 * `process.env`. The variables, their defaults and ranges are the stack's own
 * (contract/settings.ts); README's Configuration section lists them.
 */
import { leaseDurationMs, requestBudgetMs } from '../../contract/lease-timing';
import { type ServiceSettings, readFunctionEnvironment, warmHorizonSeconds } from '../../contract/settings';
import type { TokenVendorSettings } from '../domain/token-vendor';

export interface ServiceConfig {
  readonly tableName: string;
  readonly secretPrefix: string;
  readonly defaultBaseUrl: string;
  readonly locationBaseUrl: string;
  readonly v3AuthBaseUrl: string;
  readonly secretMaxAgeSeconds: number;
  readonly warmHorizonMs: number;
  readonly refresherFunctionName?: string;
  /** The tenant access role; unset: tenants' secrets and items are read with the function's own credentials (local mode). */
  readonly tenantRoleArn?: string;
  readonly vendor: TokenVendorSettings;
  /** The shared settings as read, for whoever needs one the fields above do not carry. */
  readonly settings: ServiceSettings;
}

/** How long a caller waits for the asynchronous refresh request to be accepted (one Lambda Invoke). */
const REFRESH_TRIGGER_TIMEOUT_MS = 1000;

export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const { settings: s, resources, requestBudgetMs: budgetOverride } = readFunctionEnvironment(env);
  return {
    tableName: resources.tableName,
    secretPrefix: s.secretPrefix,
    defaultBaseUrl: s.defaultBaseUrl,
    locationBaseUrl: s.locationBaseUrl,
    v3AuthBaseUrl: s.v3AuthBaseUrl,
    secretMaxAgeSeconds: s.secretMaxAgeSeconds,
    warmHorizonMs: warmHorizonSeconds(s) * 1000,
    ...(resources.refresherFunctionName !== undefined && { refresherFunctionName: resources.refresherFunctionName }),
    ...(resources.tenantRoleArn !== undefined && { tenantRoleArn: resources.tenantRoleArn }),
    vendor: {
      safetyMarginMs: s.safetyMarginSeconds * 1000,
      refreshWindowMs: s.refreshWindowSeconds * 1000,
      // A holder never acts past its lease, so this bounds how long a crashed holder blocks the others.
      leaseDurationMs: leaseDurationMs(s),
      leaseWaitMs: s.leaseWaitMs,
      // The stack derives the Lambda timeout from the same formula (contract/lease-timing.ts).
      requestBudgetMs: budgetOverride ?? requestBudgetMs(s),
      upstreamTimeoutMs: s.upstreamTimeoutMs,
      upstreamMaxAttempts: s.upstreamMaxAttempts,
      refreshLifetimeDays: s.refreshLifetimeDays === 0 ? undefined : s.refreshLifetimeDays,
      invalidationMinIntervalMs: s.invalidationMinIntervalSeconds * 1000,
      refreshTriggerTimeoutMs: REFRESH_TRIGGER_TIMEOUT_MS,
    },
    settings: s,
  };
}
