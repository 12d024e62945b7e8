/**
 * The stack and the function share one settings contract (contract/settings.ts): whatever the
 * stack accepts and writes into the Lambda environment, the function reads back unchanged, and
 * whatever one refuses, the other refuses too.
 */
import fc from 'fast-check';
import {
  envName,
  functionEnvironment,
  INTEGER_SETTINGS,
  LOG_LEVELS,
  readFunctionEnvironment,
  type ServiceSettings,
  SETTING_DEFAULTS,
  settingsProblems,
} from '../../contract/settings';

const integer = (name: keyof typeof INTEGER_SETTINGS, slack = 0) =>
  fc.integer({ min: INTEGER_SETTINGS[name].min - slack, max: INTEGER_SETTINGS[name].max + slack });

const text = (slack: number, valid: string[], invalid: string[]) => fc.constantFrom(...valid, ...(slack === 0 ? [] : invalid));

/** Settings drawn from every range, and a little beyond, so that some are refused. */
const anySettings = (slack: number): fc.Arbitrary<ServiceSettings> =>
  fc.record({
    safetyMarginSeconds: integer('safetyMarginSeconds', slack),
    refreshWindowSeconds: integer('refreshWindowSeconds', slack),
    upstreamTimeoutMs: integer('upstreamTimeoutMs', slack),
    upstreamMaxAttempts: integer('upstreamMaxAttempts', slack),
    leaseWaitMs: integer('leaseWaitMs', slack),
    secretMaxAgeSeconds: integer('secretMaxAgeSeconds', slack),
    refreshLifetimeDays: integer('refreshLifetimeDays', slack),
    invalidationMinIntervalSeconds: integer('invalidationMinIntervalSeconds', slack),
    warmerIntervalMinutes: integer('warmerIntervalMinutes', slack),
    // Valid values only without slack; with it, some that one rule or another refuses.
    secretPrefix: text(slack, ['ekuaibao/tenants/', 'staging/ekuaibao/', 'x/'], ['ekuaibao/tenants', 'a*/']),
    defaultBaseUrl: text(slack, ['https://app.ekuaibao.com', 'https://dd2.hosecloud.com', 'http://127.0.0.1:9000'], ['http://app.ekuaibao.com', 'nope']),
    locationBaseUrl: text(slack, ['https://app.ekuaibao.com', 'http://127.0.0.1:9001'], ['ftp://x']),
    v3AuthBaseUrl: text(slack, ['https://open.hosecloud.com'], ['not a url']),
    serviceName: text(slack, ['ekuaibao-token-vending', 'svc.staging'], ['bad name']),
    metricsNamespace: text(slack, ['EkuaibaoTokenVending', 'x'], ['']),
    logLevel: slack === 0 ? fc.constantFrom(...LOG_LEVELS) : fc.constantFrom(...LOG_LEVELS, 'CHATTY' as never),
  });

test('the defaults pass the checks both sides run', () => {
  expect(settingsProblems(SETTING_DEFAULTS)).toEqual([]);
  expect(readFunctionEnvironment({ TABLE_NAME: 't' }).settings).toEqual(SETTING_DEFAULTS);
});

test('what the stack accepts, the function reads back unchanged from the environment the stack wrote', () => {
  fc.assert(
    fc.property(anySettings(0), fc.option(fc.constantFrom('warmer-fn')), (settings, refresher) => {
      fc.pre(settingsProblems(settings).length === 0);
      const env = functionEnvironment(settings, { tableName: 'tokens', ...(refresher !== null && { refresherFunctionName: refresher }) });
      const read = readFunctionEnvironment(env);
      expect(read.settings).toEqual(settings);
      expect(read.resources).toEqual({ tableName: 'tokens', ...(refresher !== null && { refresherFunctionName: refresher }) });
    }),
    { numRuns: 500 },
  );
});

test('what the stack refuses, the function refuses too, naming the same setting', () => {
  fc.assert(
    fc.property(anySettings(3), (settings) => {
      const problems = settingsProblems(settings);
      fc.pre(problems.length > 0);
      const env = functionEnvironment(settings, { tableName: 'tokens' });
      expect(() => readFunctionEnvironment(env)).toThrow(`${envName(problems[0]!.setting)}: ${problems[0]!.message}`);
    }),
    { numRuns: 500 },
  );
});

test('a secret prefix without a trailing delimiter is refused with the fix in the message', () => {
  const problems = settingsProblems({ ...SETTING_DEFAULTS, secretPrefix: 'ekuaibao/tenants' });
  expect(problems).toEqual([
    {
      setting: 'secretPrefix',
      message: expect.stringContaining('use "ekuaibao/tenants/", or the secrets grant also covers names like "ekuaibao/tenants-other/db"'),
    },
  ]);
});
