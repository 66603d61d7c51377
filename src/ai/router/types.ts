import type { ErrorCode } from '../../errors.ts';
import type { CallOptions, Usage } from '../../providers/types.ts';

/** What happened to one call of one route target, reported as it ends (for traces and metrics). */
export interface AttemptReport {
  /** The route that made the call (the innermost one for nested routes). */
  route: string;
  /** `<provider>/<model>`; also the breaker key. */
  target: string;
  provider: string;
  model: string;
  region: string | undefined;
  /** 0 for a target's first call, 1.. for its retries. */
  attempt: number;
  /** Router clock (`performance.now()` by default, so it lines up with the request's `t0`). */
  startMs: number;
  durationMs: number;
  /** From the call's start to its first content part. */
  ttftMs?: number;
  /** `ok`; `error` (see `error`); `aborted` by the caller; `skipped` because the breaker is open. */
  outcome: 'ok' | 'error' | 'aborted' | 'skipped';
  error?: { code: ErrorCode; message: string; status: number; retryable: boolean };
  /** Whether content had reached the caller when the call failed (no retry or fallback then). */
  afterFirstByte?: boolean;
  usage?: Usage;
  /** The backoff slept before this attempt. */
  delayMs?: number;
}

export interface RouterCallOptions extends CallOptions {
  /** Called once per attempt, when it ends (skipped targets included). */
  onAttempt?: (a: AttemptReport) => void;
  /** When set, only targets whose region is listed are used (data residency). */
  regions?: readonly string[];
}

/** Time and randomness, injected so tests are deterministic. */
export interface RouterClock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Runs `fn` after `ms`; returns a cancel function. */
  timer(ms: number, fn: () => void): () => void;
  /** Uniform in [0, 1). */
  random(): number;
}

export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: RouterClock = {
  now: () => performance.now(),
  sleep: sleepFor,
  timer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  random: Math.random,
};

/** A small seeded PRNG (mulberry32) for reproducible weighted choices and jitter in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
