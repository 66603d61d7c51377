import type { KeelError } from '../../errors.ts';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  max: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest upstream-requested wait honoured. */
  maxRetryAfterMs: number;
}

/**
 * The wait before retry number `retry` (0-based) after `err`, or undefined when the target should
 * not be retried: the error is not retryable, retries are used up, or the upstream asked for a
 * wait longer than `maxRetryAfterMs` (better spent on the next target).
 *
 * An upstream's `Retry-After` / `retry-after-ms` is honoured as given; otherwise exponential
 * backoff with full jitter (a uniform wait up to `base * 2^retry`, capped), which spreads the
 * retries of many clients that failed at the same moment.
 */
export function retryDelay(
  err: KeelError,
  retry: number,
  policy: RetryPolicy,
  random: () => number,
): number | undefined {
  if (!err.retryable || err.code === 'aborted' || retry >= policy.max) return undefined;
  const asked = err.retryAfterMs;
  if (asked !== undefined) return asked <= policy.maxRetryAfterMs ? Math.max(0, asked) : undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}
