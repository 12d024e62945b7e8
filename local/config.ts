/** Local-mode settings (`npm start`), read once from the environment. See README, "Run it locally". */
import { z } from 'zod';
import { normalizeHostName } from './lambda-http-adapter';

/**
 * `ALLOWED_HOSTS`: comma-separated host names (no port) that the Host header may name besides the
 * loopback ones, which are always allowed; `*` allows any. Normalized the way
 * `local/lambda-http-adapter.ts` normalizes the Host header's name, so that the two compare.
 */
const allowedHosts = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const hosts: string[] = [];
    for (const entry of value.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
      if (entry === '*') {
        hosts.push('*');
        continue;
      }
      const name = normalizeHostName(entry);
      if (name === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not a host name or IP address (no port, no scheme), nor *` });
        continue;
      }
      hosts.push(name);
    }
    return hosts;
  });

const localSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  ALLOWED_HOSTS: allowedHosts,
  TABLE_NAME: z.string().min(1).default('tokens'),
  DYNAMODB_ENDPOINT: z.string().url().optional(),
  TENANTS_FILE: z.string().min(1).optional(),
  UPSTREAM_BASE_URL: z.string().url().default('https://app.ekuaibao.com'),
  SANDBOX_ISSUE_DELAY_MS: z.coerce.number().int().nonnegative().default(300),
});

export type LocalConfig = z.infer<typeof localSchema>;

export function loadLocalConfig(env: Record<string, string | undefined> = process.env): LocalConfig {
  const parsed = localSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid local configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
