import { z } from 'zod';
import type { Fault, SimulatorCredential, SimulatorSettings } from './types';

/*
 * One set of schemas serves the programmatic API, the HTTP control API and the CLI, so a
 * setting that one of them rejects is rejected by all three. Strict objects make a typo in
 * a control call (`delay_ms`) an error instead of a silently ignored field.
 */

const durationMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const credentialSchema = z.strictObject({
  appKey: z.string().min(1),
  appSecurity: z.string().min(1),
  corporationId: z.string().min(1),
}) satisfies z.ZodType<SimulatorCredential>;

export const settingsPatchSchema = z.strictObject({
  issueDelayMs: durationMs.optional(),
  tokenLifetimeMs: durationMs.optional(),
  refreshedTokenLifetimeMs: durationMs.optional(),
  newTokenInvalidatesOld: z.boolean().optional(),
}) satisfies z.ZodType<Partial<SimulatorSettings>>;

export const faultSchema = z.strictObject({
  endpoint: z.enum(['getAccessToken', 'refreshToken', 'protected', '*']),
  mode: z.enum(['status', 'delay', 'hang', 'malformed', 'drop']),
  status: z.number().int().min(200).max(599).optional(),
  delayMs: durationMs.optional(),
  times: z.number().int().min(1).optional(),
  body: z.string().optional(),
}) satisfies z.ZodType<Fault>;

/** Thrown by the programmatic API for input the HTTP API would answer with 400. */
export class InvalidSimulatorInput extends Error {
  readonly code = 'INVALID_SIMULATOR_INPUT';
  constructor(what: string, error: z.ZodError) {
    super(`invalid ${what}: ${z.prettifyError(error)}`);
    this.name = 'InvalidSimulatorInput';
  }
}

export function parseOrThrow<T>(schema: z.ZodType<T>, what: string, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidSimulatorInput(what, result.error);
  return result.data;
}

/** Drops keys whose value is undefined, so a patch never overwrites a setting with nothing. */
export function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
