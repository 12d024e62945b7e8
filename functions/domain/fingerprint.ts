import { createHash } from 'node:crypto';
import type { TenantCredentials } from './types';

const cache = new WeakMap<TenantCredentials, string>();

/**
 * Identifies the upstream identity a token belongs to: the appKey and the environment's base
 * URL. appSecurity is left out on purpose: rotating only the secret keeps the same app, and a
 * hash of a secret is still material we would rather not store.
 */
export function credentialFingerprint(credentials: TenantCredentials): string {
  let fingerprint = cache.get(credentials);
  if (fingerprint === undefined) {
    fingerprint = createHash('sha256')
      .update(credentials.appKey)
      .update('\u0000')
      .update(credentials.baseUrl)
      .digest('base64url')
      .slice(0, 22);
    cache.set(credentials, fingerprint);
  }
  return fingerprint;
}
