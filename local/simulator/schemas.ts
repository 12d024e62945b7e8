import { z } from 'zod';
import type { Fault, SimulatorCredential, SimulatorSettings } from './types';

/*
 * One set of schemas serves the programmatic API, the HTTP control API and the CLI, so a
 * setting that one of them rejects is rejected by all three. Strict objects make a typo in
 * a control call (`delay_ms`) an error instead of a silently ignored field.
 */

const durationMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * An address prefix: http(s), no query, fragment or user info. Normalised to origin + path
 * without trailing slashes, so `https://app.ekuaibao.com/` (the location answer's form) and
 * `https://app.ekuaibao.com` are the same prefix.
 */
export const environmentBaseUrlSchema = z
  .string()
  .transform((text, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'an http(s) URL without query, fragment or user info' });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  });

export const credentialSchema = z.strictObject({
  appKey: z.string().min(1),
  appSecurity: z.string().min(1),
  corporationId: z.string().min(1),
  environmentBaseUrl: environmentBaseUrlSchema.optional(),
}) satisfies z.ZodType<SimulatorCredential>;

export const environmentMoveSchema = z.strictObject({
  corporationId: z.string().min(1),
  baseUrl: environmentBaseUrlSchema,
});

export const settingsPatchSchema = z.strictObject({
  issueDelayMs: durationMs.optional(),
  tokenLifetimeMs: durationMs.optional(),
  refreshedTokenLifetimeMs: durationMs.optional(),
  newTokenInvalidatesOld: z.boolean().optional(),
}) satisfies z.ZodType<Partial<SimulatorSettings>>;

export const faultSchema = z
  .strictObject({
    endpoint: z.enum(['getAccessToken', 'refreshToken', 'protected', 'location', 'getAccessTokenV3', '*']),
    mode: z.enum(['status', 'delay', 'hang', 'malformed', 'drop', 'envelope']),
    status: z.number().int().min(200).max(599).optional(),
    delayMs: durationMs.optional(),
    times: z.number().int().min(1).optional(),
    body: z.string().optional(),
    code: z.string().min(1).max(32).optional(),
  })
  // Only v3 answers in an envelope; on '*' the mode would mean nothing for the other endpoints.
  .refine((f) => f.mode !== 'envelope' || f.endpoint === 'getAccessTokenV3', {
    message: "mode 'envelope' needs endpoint 'getAccessTokenV3'",
    path: ['mode'],
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
  // A control call's body may be any JSON (`null`, an array): leave it for the schema to refuse.
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
