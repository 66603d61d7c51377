import type { CounterRef, CounterWindow, RateLimitRule } from './types.ts';

/** A windowed bucket stays readable this long after its window ends, for settles that finish late. */
export const WINDOW_GRACE_MS = 86_400_000;
/** A lapsed reservation is remembered this long, so a late settle still charges (once). */
export const LAPSED_RESERVATION_MS = 86_400_000;
export const DEFAULT_LEASE_MS = 600_000;

const DAY_MS = 86_400_000;

/** The bucket of `window` that contains `nowMs` (UTC): its key suffix and end time. */
export function windowBucket(window: CounterWindow, nowMs: number): { suffix: string; endMs: number } {
  const d = new Date(nowMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (window === 'day') {
    const day = Math.floor(nowMs / DAY_MS);
    return { suffix: `:d${y}-${pad(m + 1)}-${pad(d.getUTCDate())}`, endMs: (day + 1) * DAY_MS };
  }
  return { suffix: `:m${y}-${pad(m + 1)}`, endMs: Date.UTC(y, m + 1, 1) };
}

/** The concrete counter name a ref resolves to at `nowMs` (what `Reservation.keys` holds). */
export function windowKey(ref: CounterRef, nowMs: number): string {
  if (typeof ref === 'string') return ref;
  return ref.key + windowBucket(ref.window, nowMs).suffix;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** The concrete key of a ref at `now`; windowed refs add their bucket's expiry and window end. */
export function resolveRef(ref: CounterRef, now: number): { key: string; exp?: number; end?: number } {
  const key = refKey(ref);
  const window = refWindow(ref);
  if (!window) return { key };
  const b = windowBucket(window, now);
  return { key: key + b.suffix, exp: b.endMs + WINDOW_GRACE_MS, end: b.endMs };
}

export function refKey(ref: CounterRef): string {
  const key = typeof ref === 'string' ? ref : ref.key;
  checkKey(key);
  return key;
}

export function refWindow(ref: CounterRef): CounterWindow | undefined {
  return typeof ref === 'string' ? undefined : ref.window;
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0)
    throw new TypeError('state key must be a non-empty string');
}

export function checkInt(name: string, n: number, min = 0): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`${name} must be a safe integer >= ${min}, got ${n}`);
  }
}

export function checkSignedInt(name: string, n: number): void {
  if (!Number.isSafeInteger(n)) throw new RangeError(`${name} must be a safe integer, got ${n}`);
}

export function checkTtl(name: string, ms: number | undefined): void {
  if (ms !== undefined) checkInt(name, ms, 1);
}

export function checkRule(rule: RateLimitRule): void {
  checkInt('rule.limit', rule.limit, 1);
  checkInt('rule.windowMs', rule.windowMs, 1);
  if (
    rule.algorithm !== undefined &&
    rule.algorithm !== 'token-bucket' &&
    rule.algorithm !== 'sliding-window'
  ) {
    throw new RangeError(`unknown rate-limit algorithm ${String(rule.algorithm)}`);
  }
}
