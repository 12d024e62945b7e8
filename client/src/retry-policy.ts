import type { TokenVendingError } from './errors.js';

/** Backoff of retries without `Retry-After`: full jitter over 100 ms · 2^(attempt−1), at most 5 s. */
export const BACKOFF = { baseMs: 100, maxMs: 5_000 } as const;

export type RetryDecision = { readonly kind: 'retry'; readonly delayMs: number } | { readonly kind: 'give-up' };

export interface RetryState {
  readonly error: TokenVendingError;
  /** The attempt that just failed, 1 for the first. */
  readonly attempt: number;
  readonly now: number;
  readonly deadline: number;
  readonly random: () => number;
}

/**
 * Whether and when to try again. Pure: the caller acts on the decision.
 *
 *   attempt fails ──► wait = Retry-After + jitter ──► now + wait < deadline ? retry : give up
 *
 * Giving up throws the failure just seen (its code and requestId are what an operator needs),
 * at once: waiting for a `Retry-After` that ends past the deadline would only delay the error.
 */
export function decideRetry({ error, attempt, now, deadline, random }: RetryState): RetryDecision {
  if (!error.retryable) return { kind: 'give-up' };
  const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** (attempt - 1));
  const jitter = Math.floor(random() * ceiling);
  // Jitter on top of Retry-After: callers told the same second must not all come back in it.
  const floor = (error.retryAfterSeconds ?? 0) * 1000;
  const delayMs = floor + jitter;
  if (now + delayMs >= deadline) return { kind: 'give-up' };
  return { kind: 'retry', delayMs };
}

/** `Retry-After` in seconds: delta-seconds, or an HTTP date relative to `now`. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
