import { normaliseBaseUrl, parseTenantSecret } from '../../functions/adapters/tenant-credentials';
import { TenantMisconfigured } from '../../functions/domain/errors';

const parsing = { defaultBaseUrl: 'https://app.ekuaibao.com', allowLoopbackHttp: false };

describe('parseTenantSecret', () => {
  test('reads appKey and appSecurity and defaults the base URL; without a version rank, the rank is 0', () => {
    expect(parseTenantSecret('t', '{"appKey":"k","appSecurity":"s"}', parsing)).toEqual({
      appKey: 'k',
      appSecurity: 's',
      baseUrl: 'https://app.ekuaibao.com',
      authVersion: 'v1',
      rank: 0,
    });
  });

  test('carries the secret version’s rank it is given', () => {
    expect(parseTenantSecret('t', '{"appKey":"k","appSecurity":"s"}', parsing, 1_700_000_000_000).rank).toBe(1_700_000_000_000);
  });

  test('keeps a tenant’s own environment and drops its trailing slash', () => {
    const secret = { appKey: 'k', appSecurity: 's', baseUrl: 'https://dd2.hosecloud.com/' };
    expect(parseTenantSecret('t', secret, parsing).baseUrl).toBe('https://dd2.hosecloud.com');
  });

  test('corpId without baseUrl: no prefix, it is looked up; with both, baseUrl wins', () => {
    expect(parseTenantSecret('t', { appKey: 'k', appSecurity: 's', corpId: 'FAKEcorp0001' }, parsing)).toEqual({
      appKey: 'k',
      appSecurity: 's',
      corpId: 'FAKEcorp0001',
      authVersion: 'v1',
      rank: 0,
    });
    const both = parseTenantSecret('t', { appKey: 'k', appSecurity: 's', corpId: 'FAKEcorp0001', baseUrl: 'https://wx2.ekuaibao.com/' }, parsing);
    expect(both.baseUrl).toBe('https://wx2.ekuaibao.com');
  });

  test('authVersion v3 is kept; v1 is the default', () => {
    expect(parseTenantSecret('t', { appKey: 'k', appSecurity: 's', authVersion: 'v3' }, parsing).authVersion).toBe('v3');
  });

  test('the fingerprint of a v1 secret with a base URL is what it always was; corpId, prefix moves and v3 are told apart', async () => {
    const { credentialFingerprint } = await import('../../functions/domain/fingerprint');
    const v1 = parseTenantSecret('t', { appKey: 'k', appSecurity: 's', baseUrl: 'https://dd2.hosecloud.com' }, parsing);
    // Computed with the formula before corpId and v3 existed: sha256(appKey NUL baseUrl), base64url, 22 chars.
    const { createHash } = await import('node:crypto');
    expect(credentialFingerprint(v1)).toBe(createHash('sha256').update('k').update('\u0000').update('https://dd2.hosecloud.com').digest('base64url').slice(0, 22));
    const corp = parseTenantSecret('t', { appKey: 'k', appSecurity: 's', corpId: 'FAKEcorp0001' }, parsing);
    const v3 = parseTenantSecret('t', { appKey: 'k', appSecurity: 's', baseUrl: 'https://dd2.hosecloud.com', authVersion: 'v3' }, parsing);
    expect(new Set([credentialFingerprint(v1), credentialFingerprint(corp), credentialFingerprint(v3)]).size).toBe(3);
  });

  test.each([
    ['not JSON', 'appKey: k', 'the secret is not JSON'],
    ['an unknown authVersion', '{"appKey":"k","appSecurity":"s","authVersion":"v2"}', 'authVersion'],
    ['a corpId that is no enterprise id', '{"appKey":"k","appSecurity":"s","corpId":"../x"}', 'corpId'],
    ['no appSecurity', '{"appKey":"k"}', 'appSecurity'],
    ['empty appKey', '{"appKey":" ","appSecurity":"s"}', 'appKey'],
    ['a JSON array', '[1]', '(root)'],
    ['an http baseUrl', '{"appKey":"k","appSecurity":"s","baseUrl":"http://app.ekuaibao.com"}', 'baseUrl'],
  ])('rejects %s, naming the problem but never the value', (_name, raw, problem) => {
    const attempt = () => parseTenantSecret('t', raw, parsing);
    expect(attempt).toThrow(TenantMisconfigured);
    expect(attempt).toThrow(problem);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain('"s"');
    }
  });

  test('an appSecurity never appears in the error', () => {
    const secret = '{"appKey":"k","appSecurity":"fake-very-secret","baseUrl":"ftp://x"}';
    expect(() => parseTenantSecret('t', secret, parsing)).toThrow(/^(?!.*fake-very-secret)/s);
  });
});

describe('normaliseBaseUrl', () => {
  test.each([
    ['https://app.ekuaibao.com', 'https://app.ekuaibao.com'],
    ['https://app.ekuaibao.com/', 'https://app.ekuaibao.com'],
    ['https://example.com/prefix/', 'https://example.com/prefix'],
  ])('accepts %s', (input, expected) => {
    expect(normaliseBaseUrl(input, false)).toBe(expected);
  });

  test.each(['http://app.ekuaibao.com', 'https://x.com/?a=1', 'https://x.com/#f', 'https://u:p@x.com', 'nonsense'])(
    'rejects %s',
    (input) => {
      expect(normaliseBaseUrl(input, false)).toBeUndefined();
    },
  );

  test('loopback http only when local mode allows it', () => {
    expect(normaliseBaseUrl('http://127.0.0.1:8787', false)).toBeUndefined();
    expect(normaliseBaseUrl('http://127.0.0.1:8787', true)).toBe('http://127.0.0.1:8787');
    expect(normaliseBaseUrl('http://10.0.0.1:8787', true)).toBeUndefined();
  });
});
