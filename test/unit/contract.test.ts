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
    secretPrefix: fc.constantFrom('ekuaibao/tenants/', 'staging/ekuaibao/', 'ekuaibao/tenants', 'a*/', 'x/'),
    defaultBaseUrl: fc.constantFrom('https://app.ekuaibao.com', 'https://dd2.hosecloud.com', 'http://app.ekuaibao.com', 'nope', 'http://127.0.0.1:9000'),
    serviceName: fc.constantFrom('ekuaibao-token-vending', 'svc.staging', 'bad name'),
    metricsNamespace: fc.constantFrom('EkuaibaoTokenVending', 'x', ''),
    logLevel: fc.constantFrom(...LOG_LEVELS, 'CHATTY' as never),
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
