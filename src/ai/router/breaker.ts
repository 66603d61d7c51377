import type { BreakerConfig } from '../../config/schema.ts';

/**
 * Circuit breakers, one per route target. Closed: every call goes through. Open (after N
 * consecutive failures, or an error rate over a sliding window once it holds enough calls): the
 * router skips the target until a cool-down passes. Half-open: one probe call at a time; its
 * success closes the circuit, its failure opens it again. Calls that fail for the request's own
 * reasons (bad request, cancelled) count neither way.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerSnapshot {
  target: string;
  state: BreakerState;
  consecutiveFailures: number;
  /** Calls and failures in the current window. */
  windowRequests: number;
  windowFailures: number;
  /** When the circuit last opened (breaker clock, epoch ms by default). */
  openedAt: number | undefined;
  /** When an open circuit lets its next probe through. */
  probeAt: number | undefined;
  /** How many times it has opened since start. */
  opens: number;
}

/** A granted call. Exactly one of the three must be called when it ends. */
export interface BreakerPermit {
  success(): void;
  /** The target failed (5xx, timeout, network, rate limit, auth). */
  failure(): void;
  /** The call ended for reasons that say nothing about the target (cancelled, bad request). */
  release(): void;
}

export type BreakerOptions = BreakerConfig & { now?: () => number };

const BUCKETS = 10;

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt: number | undefined;
  private probing = false;
  private opens = 0;
  // A ring of per-bucket counts; a bucket is reused once its time slot has passed out of the window.
  private readonly slot: number[] = new Array(BUCKETS).fill(-1);
  private readonly calls: number[] = new Array(BUCKETS).fill(0);
  private readonly fails: number[] = new Array(BUCKETS).fill(0);
  private readonly bucketMs: number;
  private readonly now: () => number;

  constructor(
    readonly target: string,
    private readonly cfg: BreakerOptions,
    private readonly onChange?: (target: string, from: BreakerState, to: BreakerState) => void,
  ) {
    this.bucketMs = Math.max(1, Math.floor(cfg.windowMs / BUCKETS));
    this.now = cfg.now ?? Date.now;
  }

  /** A permit to call the target, or undefined while the circuit is open (or a probe is out). */
  acquire(): BreakerPermit | undefined {
    if (this.state === 'open') {
      if (this.now() < (this.openedAt ?? 0) + this.cfg.cooldownMs) return undefined;
      this.transition('half_open');
    }
    if (this.state === 'half_open') {
      if (this.probing) return undefined;
      this.probing = true;
      return this.permit(true);
    }
    return this.permit(false);
  }

  /** The current state, moving an open circuit whose cool-down has passed to half-open. */
  current(): BreakerState {
    if (this.state === 'open' && this.now() >= (this.openedAt ?? 0) + this.cfg.cooldownMs) {
      this.transition('half_open');
    }
    return this.state;
  }

  /** Until an open circuit lets a probe through (0 when it would now, or while a probe is out). */
  retryInMs(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, (this.openedAt ?? 0) + this.cfg.cooldownMs - this.now());
  }

  snapshot(): BreakerSnapshot {
    const state = this.current();
    let requests = 0;
    let failures = 0;
    const oldest = this.bucketOf(this.now()) - BUCKETS + 1;
    for (let i = 0; i < BUCKETS; i++) {
      if (this.slot[i]! >= oldest) {
        requests += this.calls[i]!;
        failures += this.fails[i]!;
      }
    }
    return {
      target: this.target,
      state,
      consecutiveFailures: this.consecutive,
      windowRequests: requests,
      windowFailures: failures,
      openedAt: this.openedAt,
      probeAt: state === 'open' ? (this.openedAt ?? 0) + this.cfg.cooldownMs : undefined,
      opens: this.opens,
    };
  }

  private permit(probe: boolean): BreakerPermit {
    let done = false;
    const end = (fn: () => void) => () => {
      if (done) return;
      done = true;
      if (probe) this.probing = false;
      fn();
    };
    return {
      success: end(() => this.onSuccess(probe)),
      failure: end(() => this.onFailure(probe)),
      release: end(() => {}),
    };
  }

  private onSuccess(probe: boolean): void {
    this.consecutive = 0;
    if (probe || this.state === 'half_open') {
      this.resetWindow();
      this.transition('closed');
      return;
    }
    this.record(false);
  }

  private onFailure(probe: boolean): void {
    this.consecutive++;
    if (probe || this.state === 'half_open') {
      this.open();
      return;
    }
    if (this.state !== 'closed') return;
    const { requests, failures } = this.record(true);
    if (
      this.consecutive >= this.cfg.consecutiveFailures ||
      (requests >= this.cfg.minRequests && failures / requests >= this.cfg.errorRate)
    ) {
      this.open();
    }
  }

  private open(): void {
    this.openedAt = this.now();
    this.opens++;
    this.resetWindow();
    this.transition('open');
  }

  private bucketOf(t: number): number {
    return Math.floor(t / this.bucketMs);
  }

  /** Counts one call in the current bucket; returns the window's totals. */
  private record(failed: boolean): { requests: number; failures: number } {
    const b = this.bucketOf(this.now());
    const i = ((b % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.slot[i] !== b) {
      this.slot[i] = b;
      this.calls[i] = 0;
      this.fails[i] = 0;
    }
    this.calls[i]!++;
    if (failed) this.fails[i]!++;
    let requests = 0;
    let failures = 0;
    for (let k = 0; k < BUCKETS; k++) {
      if (this.slot[k]! > b - BUCKETS) {
        requests += this.calls[k]!;
        failures += this.fails[k]!;
      }
    }
    return { requests, failures };
  }

  private resetWindow(): void {
    this.slot.fill(-1);
    this.calls.fill(0);
    this.fails.fill(0);
  }

  private transition(to: BreakerState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    if (to === 'closed') this.openedAt = undefined;
    this.onChange?.(this.target, from, to);
  }
}

export type BreakerListener = (target: string, from: BreakerState, to: BreakerState) => void;

/** Every target's breaker, created on first use; shared by all routes of a process. */
export interface Breakers {
  get(target: string): CircuitBreaker;
  /** State of every breaker, sorted by target: for the admin endpoint and `/metrics`. */
  snapshot(): BreakerSnapshot[];
  /**
   * Calls `fn` on every state change from now on (metrics, logs), for listeners that exist only
   * after the breakers do. Returns a function that stops it.
   */
  watch(fn: BreakerListener): () => void;
}

export function createBreakers(cfg: BreakerOptions, onChange?: BreakerListener): Breakers {
  const all = new Map<string, CircuitBreaker>();
  const listeners = new Set<BreakerListener>();
  if (onChange) listeners.add(onChange);
  const notify: BreakerListener = (target, from, to) => {
    for (const fn of listeners) {
      try {
        fn(target, from, to);
      } catch {
        // A broken listener must not break the call that moved the breaker.
      }
    }
  };
  return {
    get(target) {
      let b = all.get(target);
      if (b === undefined) {
        b = new CircuitBreaker(target, cfg, notify);
        all.set(target, b);
      }
      return b;
    },
    watch(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    snapshot() {
      return [...all.values()].map((b) => b.snapshot()).sort((a, b) => a.target.localeCompare(b.target));
    },
  };
}

/** A gauge value per state (closed 0, half-open 1, open 2), the usual encoding for Prometheus. */
export function breakerStateValue(s: BreakerState): number {
  return s === 'closed' ? 0 : s === 'half_open' ? 1 : 2;
}
