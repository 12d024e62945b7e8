/** Local-mode settings (`npm start`), read once from the environment. See README, "Run it locally". */
import { z } from 'zod';

const localSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
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
