import { z } from 'zod';
import { credentialSchema } from './schemas';
import type { SimulatorCredential, SimulatorSettings } from './types';
import { DEFAULT_SETTINGS } from './simulator';

/** Deliberately fake: printed on start so a developer can call the simulator by hand. */
export const DEMO_CREDENTIAL: Readonly<SimulatorCredential> = Object.freeze({
  appKey: 'demo-app-key',
  appSecurity: 'demo-app-security-not-a-secret',
  corporationId: 'DEMOcorp0000',
});

export interface SimulatorCliConfig extends SimulatorSettings {
  host: string;
  port: number;
  credentials: SimulatorCredential[];
  /** True when SIMULATOR_CREDENTIALS was not set, i.e. only the demo pair is accepted. */
  usingDemoCredential: boolean;
}

const integerFromEnv = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().max(max))
    .optional()
    .transform((v) => v ?? fallback);

const booleanFromEnv = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? fallback : v === 'true'));

const credentialsFromEnv = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.array(credentialSchema).min(1).optional());

const envSchema = z.object({
  SIMULATOR_HOST: z.string().min(1).optional().transform((v) => v ?? '127.0.0.1'),
  SIMULATOR_PORT: integerFromEnv(8787, 65535),
  SIMULATOR_ISSUE_DELAY_MS: integerFromEnv(DEFAULT_SETTINGS.issueDelayMs),
  SIMULATOR_TOKEN_LIFETIME_MS: integerFromEnv(DEFAULT_SETTINGS.tokenLifetimeMs),
  SIMULATOR_REFRESHED_TOKEN_LIFETIME_MS: integerFromEnv(DEFAULT_SETTINGS.refreshedTokenLifetimeMs),
  SIMULATOR_NEW_TOKEN_INVALIDATES_OLD: booleanFromEnv(DEFAULT_SETTINGS.newTokenInvalidatesOld),
  SIMULATOR_CREDENTIALS: credentialsFromEnv,
});

/** Reads and validates the CLI's environment once; throws with every problem listed. */
export function readCliConfig(env: NodeJS.ProcessEnv): SimulatorCliConfig {
  const parsed = envSchema.safeParse(env);
  // The message names variables only: SIMULATOR_CREDENTIALS may hold real secrets.
  if (!parsed.success) {
    const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))].join(', ');
    throw new Error(`invalid simulator environment: ${names}`);
  }
  const e = parsed.data;
  return {
    host: e.SIMULATOR_HOST,
    port: e.SIMULATOR_PORT,
    issueDelayMs: e.SIMULATOR_ISSUE_DELAY_MS,
    tokenLifetimeMs: e.SIMULATOR_TOKEN_LIFETIME_MS,
    refreshedTokenLifetimeMs: e.SIMULATOR_REFRESHED_TOKEN_LIFETIME_MS,
    newTokenInvalidatesOld: e.SIMULATOR_NEW_TOKEN_INVALIDATES_OLD,
    credentials: e.SIMULATOR_CREDENTIALS ?? [{ ...DEMO_CREDENTIAL }],
    usingDemoCredential: e.SIMULATOR_CREDENTIALS === undefined,
  };
}
