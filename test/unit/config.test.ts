import { loadConfig } from '../../functions/token/config';

describe('loadConfig', () => {
  test('embedded defaults', () => {
    const config = loadConfig({ TABLE_NAME: 'tokens' });
    expect(config).toMatchObject({
      tableName: 'tokens',
      secretPrefix: 'ekuaibao/tenants/',
      defaultBaseUrl: 'https://app.ekuaibao.com',
      secretMaxAgeSeconds: 300,
      warmHorizonMs: 360_000,
    });
    expect(config.vendor).toEqual({
      safetyMarginMs: 300_000,
      refreshWindowMs: 900_000,
      leaseDurationMs: 15_500,
      leaseWaitMs: 8_000,
      // lease wait + lease + 2 s overhead: a request that waits, then takes the lease over, still fits.
      requestBudgetMs: 25_500,
      upstreamTimeoutMs: 5_000,
      upstreamMaxAttempts: 2,
      refreshLifetimeDays: 1,
      invalidationMinIntervalMs: 30_000,
      refreshTriggerTimeoutMs: 1_000,
    });
    expect(config).not.toHaveProperty('refresherFunctionName');
  });

  test('REFRESHER_FUNCTION_NAME names the function refreshes are sent to', () => {
    expect(loadConfig({ TABLE_NAME: 't', REFRESHER_FUNCTION_NAME: 'ekuaibao-token-warmer' }).refresherFunctionName).toBe(
      'ekuaibao-token-warmer',
    );
  });

  test('the lease outlasts every upstream attempt a holder may start', () => {
    const { vendor } = loadConfig({ TABLE_NAME: 't', UPSTREAM_TIMEOUT_MS: '2000', UPSTREAM_MAX_ATTEMPTS: '3' });
    // 3 attempts × 2 s + 2 backoffs × 1 s + 3 s store phase + 1 s guard + 0.5 s slack.
    expect(vendor.leaseDurationMs).toBe(12_500);
  });

  test('the request budget follows the lease unless REQUEST_BUDGET_MS sets it', () => {
    expect(loadConfig({ TABLE_NAME: 't', UPSTREAM_TIMEOUT_MS: '2000', UPSTREAM_MAX_ATTEMPTS: '3', LEASE_WAIT_MS: '1000' }).vendor.requestBudgetMs).toBe(
      1_000 + 12_500 + 2_000,
    );
    expect(loadConfig({ TABLE_NAME: 't', REQUEST_BUDGET_MS: '9000' }).vendor.requestBudgetMs).toBe(9_000);
  });

  test('REFRESH_LIFETIME_DAYS=0 asks for the upstream default', () => {
    expect(loadConfig({ TABLE_NAME: 't', REFRESH_LIFETIME_DAYS: '0' }).vendor.refreshLifetimeDays).toBeUndefined();
  });

  test.each([
    [{}, 'TABLE_NAME: is required'],
    [{ TABLE_NAME: 't', UPSTREAM_TIMEOUT_MS: '0' }, 'UPSTREAM_TIMEOUT_MS: must be an integer from 100 to 25000, got 0'],
    [{ TABLE_NAME: 't', UPSTREAM_MAX_ATTEMPTS: '9' }, 'UPSTREAM_MAX_ATTEMPTS: must be an integer from 1 to 5'],
    [{ TABLE_NAME: 't', TENANT_SECRET_PREFIX: 'ekuaibao/tenants' }, 'TENANT_SECRET_PREFIX: must use only letters'],
    [{ TABLE_NAME: 't', DEFAULT_BASE_URL: 'http://app.ekuaibao.com' }, 'DEFAULT_BASE_URL: must be https'],
    [{ TABLE_NAME: 't', POWERTOOLS_LOG_LEVEL: 'chatty' }, 'POWERTOOLS_LOG_LEVEL: must be one of DEBUG, INFO, WARN, ERROR'],
    [{ TABLE_NAME: 't', REQUEST_BUDGET_MS: '60000' }, 'REQUEST_BUDGET_MS: must not exceed the derived budget of 25500 ms'],
    [{ TABLE_NAME: 't', SAFETY_MARGIN_SECONDS: 'soon' }, 'SAFETY_MARGIN_SECONDS'],
    [{ TABLE_NAME: 't', DEFAULT_BASE_URL: 'not a url' }, 'DEFAULT_BASE_URL'],
    [{ TABLE_NAME: 't', SAFETY_MARGIN_SECONDS: '1000' }, 'REFRESH_WINDOW_SECONDS: must be at least safetyMarginSeconds'],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
