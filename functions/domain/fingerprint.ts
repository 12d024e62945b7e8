import { createHash } from 'node:crypto';
import type { TenantCredentials } from './types';

const cache = new WeakMap<TenantCredentials, string>();

/**
 * Identifies the upstream identity a token belongs to: the appKey, the environment as the secret
 * names it (its base URL, else its enterprise id: a looked-up prefix that moves keeps the
 * identity), and the auth API version. appSecurity is left out on purpose: rotating only the
 * secret keeps the same app, and a hash of a secret is still material we would rather not store.
 * A v1 secret with a base URL hashes as it always did, so stored tokens stay theirs.
 */
export function credentialFingerprint(credentials: TenantCredentials): string {
  let fingerprint = cache.get(credentials);
  if (fingerprint === undefined) {
    const environment = credentials.baseUrl ?? `corpId:${credentials.corpId ?? ''}`;
    const hash = createHash('sha256').update(credentials.appKey).update('\u0000').update(environment);
    if (credentials.authVersion === 'v3') hash.update('\u0000v3');
    fingerprint = hash
      .digest('base64url')
      .slice(0, 22);
    cache.set(credentials, fingerprint);
  }
  return fingerprint;
}
