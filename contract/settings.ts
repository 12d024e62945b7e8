/**
 * The settings the token function and the CDK stack share: one table of names, defaults and
 * ranges, the rules between settings, and the Lambda environment that carries them.
 *
 * - The stack applies `SETTING_DEFAULTS`, checks props with `settingsProblems` and writes the
 *   functions' environment with `functionEnvironment`.
 * - The function reads that environment back with `readFunctionEnvironment`, which runs the very
 *   same checks, so a value the stack accepts is a value the function accepts, and the other way
 *   round (test/unit/contract.test.ts round-trips every setting).
 *
 * No AWS or CDK import: the Lambda bundle and the CDK app load this module alike.
 */
import { requestBudgetMs as derivedRequestBudgetMs, requestBudgetOverrun } from './lease-timing';

interface IntegerSpec {
  /** The Lambda environment variable. */
  readonly env: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Whole-number settings: the construct prop / context key, its environment variable, default and
 * inclusive range. README's configuration tables list the same.
 */
export const INTEGER_SETTINGS = {
  safetyMarginSeconds: { env: 'SAFETY_MARGIN_SECONDS', default: 300, min: 0, max: 86_400 },
  refreshWindowSeconds: { env: 'REFRESH_WINDOW_SECONDS', default: 900, min: 1, max: 86_400 },
  upstreamTimeoutMs: { env: 'UPSTREAM_TIMEOUT_MS', default: 5_000, min: 100, max: 25_000 },
  upstreamMaxAttempts: { env: 'UPSTREAM_MAX_ATTEMPTS', default: 2, min: 1, max: 5 },
  leaseWaitMs: { env: 'LEASE_WAIT_MS', default: 8_000, min: 0, max: 25_000 },
  secretMaxAgeSeconds: { env: 'SECRET_MAX_AGE_SECONDS', default: 300, min: 0, max: 86_400 },
  /** 0 asks the refresh endpoint for its own default lifetime (32 days). */
  refreshLifetimeDays: { env: 'REFRESH_LIFETIME_DAYS', default: 1, min: 0, max: 32 },
  invalidationMinIntervalSeconds: { env: 'INVALIDATION_MIN_INTERVAL_SECONDS', default: 30, min: 0, max: 86_400 },
  /** The warmer's schedule; the function derives from it how far ahead a warm run looks. */
  warmerIntervalMinutes: { env: 'WARMER_INTERVAL_MINUTES', default: 5, min: 1, max: 1_440 },
} as const satisfies Record<string, IntegerSpec>;

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Letters, digits and `/_+=.@-` (Secrets Manager's name characters), ending with `/`. */
const SECRET_PREFIX_PATTERN = /^[A-Za-z0-9/_+=.@-]+\/$/;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

interface TextSpec {
  readonly env: string;
  readonly default: string;
  /** What is wrong with `value`, or `undefined`. Never quotes secrets: these are not secret. */
  readonly problem: (value: string) => string | undefined;
}

export const TEXT_SETTINGS = {
  /**
   * Tenant `acme` reads the secret `${secretPrefix}acme`, and the functions may read
   * `secret:${secretPrefix}*`. The prefix must end with `/`: tenant ids never contain one, so
   * `ekuaibao/tenants/*` covers tenant secrets only, where `ekuaibao/tenants*` would also grant
   * `ekuaibao/tenants-prod/db`.
   */
  secretPrefix: {
    env: 'TENANT_SECRET_PREFIX',
    default: 'ekuaibao/tenants/',
    problem: (v) =>
      SECRET_PREFIX_PATTERN.test(v)
        ? undefined
        : `must use only letters, digits and /_+=.@- (no wildcards) and end with "/", got "${v}"` +
          (/^[A-Za-z0-9/_+=.@-]+$/.test(v) ? `: use "${v}/", or the secrets grant also covers names like "${v}-other/db"` : ''),
  },
  /** Ekuaibao base URL for tenants whose secret names none (and no `corpId`). */
  defaultBaseUrl: { env: 'DEFAULT_BASE_URL', default: 'https://app.ekuaibao.com', problem: upstreamUrlProblem },
  /** Host of the location API that names a `corpId`'s current prefix (docs §6). */
  locationBaseUrl: { env: 'LOCATION_BASE_URL', default: 'https://app.ekuaibao.com', problem: upstreamUrlProblem },
  /** Host of the v3 auth API, for secrets with `"authVersion": "v3"` (docs §6). */
  v3AuthBaseUrl: { env: 'V3_AUTH_BASE_URL', default: 'https://open.hosecloud.com', problem: upstreamUrlProblem },
  /** `POWERTOOLS_SERVICE_NAME`: the `service` dimension of every metric and log line. */
  serviceName: { env: 'POWERTOOLS_SERVICE_NAME', default: 'ekuaibao-token-vending', problem: nameProblem },
  /** `POWERTOOLS_METRICS_NAMESPACE`: CloudWatch namespace of the service metrics. */
  metricsNamespace: { env: 'POWERTOOLS_METRICS_NAMESPACE', default: 'EkuaibaoTokenVending', problem: nameProblem },
  logLevel: {
    env: 'POWERTOOLS_LOG_LEVEL',
    default: 'INFO',
    problem: (v) => ((LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}, got "${v}"`),
  },
} as const satisfies Record<string, TextSpec>;

export type IntegerSettingName = keyof typeof INTEGER_SETTINGS;
export type TextSettingName = keyof typeof TEXT_SETTINGS;
export type SettingName = IntegerSettingName | TextSettingName;

/** Every shared setting, checked. */
export type ServiceSettings = { readonly [K in IntegerSettingName]: number } & {
  readonly [K in Exclude<TextSettingName, 'logLevel'>]: string;
} & { readonly logLevel: LogLevel };

export const SETTING_DEFAULTS: ServiceSettings = {
  ...(Object.fromEntries(Object.entries(INTEGER_SETTINGS).map(([k, spec]) => [k, spec.default])) as {
    [K in IntegerSettingName]: number;
  }),
  ...(Object.fromEntries(Object.entries(TEXT_SETTINGS).map(([k, spec]) => [k, spec.default])) as {
    [K in TextSettingName]: string;
  }),
  logLevel: 'INFO',
};

export interface SettingProblem {
  readonly setting: SettingName;
  readonly message: string;
}

/**
 * Everything wrong with a set of settings: each value against its range or pattern, then the rules
 * between values. The stack reports these under the prop name, the function under the variable.
 */
export function settingsProblems(settings: ServiceSettings): SettingProblem[] {
  const problems: SettingProblem[] = [];
  for (const [name, spec] of Object.entries(INTEGER_SETTINGS) as Array<[IntegerSettingName, IntegerSpec]>) {
    const v = settings[name];
    if (!Number.isInteger(v) || v < spec.min || v > spec.max) {
      problems.push({ setting: name, message: `must be an integer from ${spec.min} to ${spec.max}, got ${v}` });
    }
  }
  for (const [name, spec] of Object.entries(TEXT_SETTINGS) as Array<[TextSettingName, TextSpec]>) {
    const message = spec.problem(settings[name]);
    if (message !== undefined) problems.push({ setting: name, message });
  }
  if (problems.length > 0) return problems;
  // Equal turns the refresh window off: a token goes from served to withheld, and its refresh
  // waits for the warmer's schedule or a caller (tests use that). Smaller would make no sense.
  if (settings.refreshWindowSeconds < settings.safetyMarginSeconds) {
    problems.push({
      setting: 'refreshWindowSeconds',
      message: 'must be at least safetyMarginSeconds: tokens inside the safety margin are withheld, so a refresh window inside it is never used',
    });
  }
  const overrun = requestBudgetOverrun(settings);
  if (overrun !== undefined) problems.push({ setting: 'leaseWaitMs', message: overrun });
  return problems;
}

/** A warm run covers tokens that expire before the next run, plus this much. */
export const WARM_HORIZON_SLACK_SECONDS = 60;

/** How far ahead a warm run looks: one interval, and a minute to spare. */
export function warmHorizonSeconds(settings: Pick<ServiceSettings, 'warmerIntervalMinutes'>): number {
  return settings.warmerIntervalMinutes * 60 + WARM_HORIZON_SLACK_SECONDS;
}

type SettingEnvName = (typeof INTEGER_SETTINGS)[IntegerSettingName]['env'] | (typeof TEXT_SETTINGS)[TextSettingName]['env'];

/**
 * The functions' Lambda environment, typed: every shared setting, plus what only the stack knows
 * (the table's name, the refresher's name).
 */
export type FunctionEnvironment = { readonly [K in SettingEnvName]: string } & {
  readonly TABLE_NAME: string;
  /** The function that refreshes tokens asynchronously (the warmer); unset: callers never ask for refreshes. */
  readonly REFRESHER_FUNCTION_NAME?: string;
  /**
   * The tenant access role (contract/tenant-session.ts): every read of a tenant's secret and item
   * is made with a session of this role tagged with the tenant. Unset (local mode, tests): the
   * function's own credentials.
   */
  readonly TENANT_ROLE_ARN?: string;
};

/**
 * What the function reads besides the table above. `REQUEST_BUDGET_MS` is not written by the
 * stack: the function derives the budget with the stack's formula. Tests and benchmarks may lower it.
 */
export interface FunctionEnvironmentOverrides {
  readonly REQUEST_BUDGET_MS?: string;
}

export interface FunctionResources {
  readonly tableName: string;
  readonly refresherFunctionName?: string;
  readonly tenantRoleArn?: string;
}

/** The environment the stack gives a function for `settings`. */
export function functionEnvironment(settings: ServiceSettings, resources: FunctionResources): FunctionEnvironment {
  const env: Record<string, string> = { TABLE_NAME: resources.tableName };
  for (const [name, spec] of Object.entries(INTEGER_SETTINGS) as Array<[IntegerSettingName, IntegerSpec]>) {
    env[spec.env] = String(settings[name]);
  }
  for (const [name, spec] of Object.entries(TEXT_SETTINGS) as Array<[TextSettingName, TextSpec]>) {
    env[spec.env] = settings[name];
  }
  if (resources.refresherFunctionName !== undefined) env.REFRESHER_FUNCTION_NAME = resources.refresherFunctionName;
  if (resources.tenantRoleArn !== undefined) env.TENANT_ROLE_ARN = resources.tenantRoleArn;
  return env as FunctionEnvironment;
}

export interface ReadEnvironment {
  readonly settings: ServiceSettings;
  readonly resources: FunctionResources;
  /** `REQUEST_BUDGET_MS`, when set. */
  readonly requestBudgetMs?: number;
}

const WHOLE_NUMBER = /^\s*-?\d+\s*$/;

/**
 * Reads a function's environment (unset variables take their defaults; an empty one is a value, and refused) and checks it exactly as
 * the stack checks props. Throws one error naming every bad variable.
 */
export function readFunctionEnvironment(env: Record<string, string | undefined>): ReadEnvironment {
  const problems: string[] = [];
  const integers: Partial<Record<IntegerSettingName, number>> = {};
  for (const [name, spec] of Object.entries(INTEGER_SETTINGS) as Array<[IntegerSettingName, IntegerSpec]>) {
    const raw = env[spec.env];
    if (raw === undefined) continue;
    if (WHOLE_NUMBER.test(raw)) integers[name] = Number(raw);
    else problems.push(`${spec.env}: must be a whole number, got "${raw}"`);
  }
  const text: Partial<Record<TextSettingName, string>> = {};
  for (const [name, spec] of Object.entries(TEXT_SETTINGS) as Array<[TextSettingName, TextSpec]>) {
    const raw = env[spec.env];
    if (raw !== undefined) text[name] = raw.trim();
  }
  // Powertools takes any case; the stack writes upper case.
  if (text.logLevel !== undefined) text.logLevel = text.logLevel.toUpperCase();
  const tableName = env.TABLE_NAME?.trim();
  if (!tableName) problems.push('TABLE_NAME: is required');
  let requestBudgetMs: number | undefined;
  const budget = env.REQUEST_BUDGET_MS;
  if (budget !== undefined) {
    requestBudgetMs = Number(budget);
    if (!WHOLE_NUMBER.test(budget) || requestBudgetMs < 1) problems.push(`REQUEST_BUDGET_MS: must be a positive whole number, got "${budget}"`);
  }
  const settings = { ...SETTING_DEFAULTS, ...integers, ...text } as ServiceSettings;
  if (problems.length === 0) {
    for (const p of settingsProblems(settings)) problems.push(`${envName(p.setting)}: ${p.message}`);
  }
  // A lower budget is for tests; a higher one would outlive the Lambda timeout the stack derived.
  if (problems.length === 0 && requestBudgetMs !== undefined && requestBudgetMs > derivedRequestBudgetMs(settings)) {
    problems.push(`REQUEST_BUDGET_MS: must not exceed the derived budget of ${derivedRequestBudgetMs(settings)} ms`);
  }
  if (problems.length > 0) throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  const refresher = env.REFRESHER_FUNCTION_NAME?.trim();
  const tenantRole = env.TENANT_ROLE_ARN?.trim();
  return {
    settings,
    resources: {
      tableName: tableName!,
      ...(refresher ? { refresherFunctionName: refresher } : {}),
      ...(tenantRole ? { tenantRoleArn: tenantRole } : {}),
    },
    ...(requestBudgetMs !== undefined && { requestBudgetMs }),
  };
}

/** The environment variable that carries `setting`. */
export function envName(setting: SettingName): string {
  return setting in INTEGER_SETTINGS
    ? INTEGER_SETTINGS[setting as IntegerSettingName].env
    : TEXT_SETTINGS[setting as TextSettingName].env;
}

function nameProblem(v: string): string | undefined {
  return NAME_PATTERN.test(v) ? undefined : `must be 1-128 letters, digits or _.-, got "${v}"`;
}

/** https, or plain http to a loopback host (local mode's simulator; the Lambda has nothing there). */
function upstreamUrlProblem(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return `"${v}" is not a URL`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname)) return undefined;
  return 'must be https (the upstream takes credentials)';
}
