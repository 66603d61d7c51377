/**
 * The `SharedState` seam: the fast, shared counters that rate limits, budgets and caches stand on.
 * One contract (`test/state-contract.test.ts`), two backends: in-process (`memory.ts`, one replica)
 * and Redis (`redis.ts`, any number of replicas). Every operation that reads and then writes is
 * atomic on both, so concurrent requests on different replicas can never jointly pass a limit.
 *
 * Amounts (counter steps, budget amounts, rate-limit costs) are non-negative safe integers:
 * integers stay exact in Redis and Lua, and money is counted in micro-USD (see `usdToMicros`).
 * Time-dependent decisions use the backend's clock (Redis `TIME`), so replicas with skewed
 * clocks agree on windows, refills and expiries.
 */

/** UTC calendar bucket of a windowed counter. */
export type CounterWindow = 'day' | 'month';

/**
 * A counter name. With a window, the backend appends the current UTC bucket by its own clock
 * (`<key>:d2025-01-31`, `<key>:m2025-01`; see `windowKey`) and expires the bucket a day after
 * the window ends.
 */
export type CounterRef = string | { key: string; window: CounterWindow };

/** One budget a reservation draws on, e.g. the key's daily budget or the tenant's monthly one. */
export interface BudgetLine {
  counter: CounterRef;
  /** Max of spent + reserved. Omitted: the line only records (no check). */
  limit?: number | undefined;
  /** A soft line never denies; reservations that pass its limit are reported in `softExceeded`. */
  soft?: boolean | undefined;
}

export interface BudgetState {
  /** Settled amounts. */
  spent: number;
  /** Amounts held by reservations not yet settled, released or expired. */
  reserved: number;
}

/** A hold on several budgets at once. A plain JSON value: it may cross a process boundary. */
export interface Reservation {
  readonly id: string;
  readonly amount: number;
  /** The concrete counter per line (window bucket resolved when reserved), in line order. */
  readonly keys: readonly string[];
  readonly limits: readonly (number | null)[];
  readonly soft: readonly boolean[];
  /** Backend time (ms) after which the hold lapses unless extended. */
  readonly expiresAt: number;
}

export interface ReserveOptions {
  /** How long the hold lives if never settled (a crashed replica); default 10 minutes. */
  leaseMs?: number;
  /**
   * `report`: when any line's counter does not exist, change nothing and return `missing`, so the
   * caller can seed it from the durable ledger (`seedBudget`) and retry. `zero` (default): treat a
   * missing counter as 0.
   */
  onMissing?: 'zero' | 'report';
}

/** Denied because a hard line would pass its limit. */
export interface BudgetDenied {
  ok: false;
  reason: 'limit';
  /** Index of the first line that denied. */
  index: number;
  key: string;
  limit: number;
  spent: number;
  reserved: number;
  /** Until the line's window rolls over; null for a counter without a window. */
  retryAfterMs: number | null;
}

/** Changed nothing: these lines' counters do not exist (`onMissing: 'report'`). */
export interface BudgetMissing {
  ok: false;
  reason: 'missing';
  /** Line indices. */
  missing: number[];
}

export interface ReserveOk {
  ok: true;
  reservation: Reservation;
  /** Per line: limit - (spent + reserved) after this reservation; null for a line without a limit. */
  remaining: (number | null)[];
  /** Indices of soft lines now past their limit. */
  softExceeded: number[];
}

export type ReserveResult = ReserveOk | BudgetDenied | BudgetMissing;

export type ExtendResult =
  | { ok: true; reservation: Reservation; remaining: (number | null)[]; softExceeded: number[] }
  | BudgetDenied
  /** The hold already lapsed, was settled or released. */
  | { ok: false; reason: 'expired' };

/**
 * `settled`: reserved amount returned, actual charged. `late`: the hold had lapsed (its reserved
 * amount was already returned); actual charged. `unknown`: no such hold (already settled).
 */
export type SettleOutcome = 'settled' | 'late' | 'unknown';

export type RateLimitAlgorithm = 'token-bucket' | 'sliding-window';

export interface RateLimitRule {
  /** Units (requests or tokens) per window. */
  limit: number;
  windowMs: number;
  /**
   * `sliding-window` (default): exact, at most `limit` units in any window of `windowMs`; keeps one
   * entry per admitted charge. `token-bucket`: a bucket of `limit` that refills continuously over
   * `windowMs`; O(1) state, admits a full burst and then the refill rate.
   */
  algorithm?: RateLimitAlgorithm;
}

export interface RateLimitState {
  limit: number;
  /** Units left now (after this charge when it was admitted). */
  remaining: number;
  /** Until the limiter is back to its full allowance, as OpenAI's `x-ratelimit-reset-*`. */
  resetMs: number;
}

export interface RateLimitResult extends RateLimitState {
  allowed: boolean;
  /** 0 when allowed; null when the cost alone exceeds the limit, so no wait can admit it. */
  retryAfterMs: number | null;
  /** Identifies an admitted sliding-window charge for `adjust`; null otherwise. */
  ticket: string | null;
}

export interface RateCheck {
  key: string;
  cost: number;
  rule: RateLimitRule;
}

export interface ConsumeManyResult {
  /** True only when every check passed; then all were charged, otherwise none was. */
  allowed: boolean;
  /** Per check, in order. When not allowed, each shows whether it alone would pass. */
  results: RateLimitResult[];
  /** Index of the first failing check, or -1. */
  denied: number;
}

export interface Lease {
  readonly key: string;
  readonly id: string;
  /** Backend time (ms) when the slot frees itself unless renewed. */
  readonly expiresAt: number;
}

export type AcquireResult =
  | { ok: true; lease: Lease; active: number }
  | { ok: false; active: number; max: number };

/** One concurrency limit: at most `max` requests hold a slot of `key` at once. */
export interface SlotRequest {
  key: string;
  max: number;
  /** A slot whose holder died frees itself after this long. */
  leaseMs: number;
}

/** Everything a request needs before its upstream call, decided and charged as one atomic step. */
export interface AdmitRequest {
  rate?: readonly RateCheck[] | undefined;
  slots?: readonly SlotRequest[] | undefined;
  budget?: ({ lines: readonly BudgetLine[]; amount: number } & ReserveOptions) | undefined;
}

/**
 * Checks run in order rate → slots → budget and stop at the first denial; nothing is charged
 * unless everything passes. `rate` always holds one result per check (for `x-ratelimit-*` headers).
 */
export type AdmitResult =
  | { ok: true; rate: RateLimitResult[]; leases: Lease[]; hold: ReserveOk | null }
  | { ok: false; denied: 'rate'; index: number; rate: RateLimitResult[] }
  | { ok: false; denied: 'concurrency'; index: number; active: number; max: number; rate: RateLimitResult[] }
  | { ok: false; denied: 'budget'; budget: BudgetDenied | BudgetMissing; rate: RateLimitResult[] };

export type CacheValue = string | Buffer;

export interface SharedState {
  readonly kind: 'memory' | 'redis';

  /** The backend clock in ms since the epoch (Redis `TIME`). */
  time(): Promise<number>;

  /**
   * Rate limits, concurrency slots and a budget hold for one request, all-or-nothing, in one
   * round trip. After the call: `settle`/`release` the hold, `adjust` token limits with the real
   * usage, `releaseLease` the slots. Keys within each kind must be distinct.
   */
  admit(req: AdmitRequest): Promise<AdmitResult>;

  // ---- counters -------------------------------------------------------------------------------
  /**
   * Adds `n` (may be negative) and returns the new value. `ttlMs` applies only when the counter
   * has no expiry yet (so it starts a fixed window at the first increment); windowed refs expire
   * with their bucket and ignore it.
   */
  incrBy(ref: CounterRef, n: number, ttlMs?: number): Promise<number>;
  /** The counter's value, or null when it does not exist (never written, expired or evicted). */
  get(ref: CounterRef): Promise<number | null>;
  /** Sets the counter only if it does not exist; true when it did. */
  seed(ref: CounterRef, value: number, ttlMs?: number): Promise<boolean>;

  // ---- budgets (reservations) ----------------------------------------------------------------
  /** Holds `amount` on every line at once, or on none. */
  reserve(lines: readonly BudgetLine[], amount: number, opts?: ReserveOptions): Promise<ReserveResult>;
  /** Grows a live hold by `extra` (checked against the same lines) and renews its lease. */
  extend(reservation: Reservation, extra: number, leaseMs?: number): Promise<ExtendResult>;
  /** Ends the hold: returns what it reserved and charges `actual` (may exceed the reservation). */
  settle(reservation: Reservation, actual: number): Promise<SettleOutcome>;
  /** Ends the hold charging nothing (the call failed). Same as `settle(r, 0)`. */
  release(reservation: Reservation): Promise<SettleOutcome>;
  getBudget(ref: CounterRef): Promise<BudgetState | null>;
  /** Creates the budget counter with `spent` (e.g. summed from the ledger) if it does not exist. */
  seedBudget(ref: CounterRef, spent: number): Promise<boolean>;

  // ---- rate limits ----------------------------------------------------------------------------
  consume(key: string, cost: number, rule: RateLimitRule): Promise<RateLimitResult>;
  /** Several limits charged all-or-nothing in one atomic step (keys must be distinct). */
  consumeMany(checks: readonly RateCheck[]): Promise<ConsumeManyResult>;
  /**
   * What `consumeMany` would answer now, charging nothing: lets a caller refuse a request that is
   * already over its limit before doing costly work, changing no counter.
   */
  checkRates(checks: readonly RateCheck[]): Promise<ConsumeManyResult>;
  /**
   * Corrects an earlier charge once the real cost is known: `delta` > 0 charges more (may go
   * past the limit), < 0 refunds. With the sliding-window ticket the original entry is corrected.
   */
  adjust(key: string, delta: number, rule: RateLimitRule, ticket?: string | null): Promise<RateLimitState>;
  /** The limiter's state without charging (for `x-ratelimit-*` headers). */
  peek(key: string, rule: RateLimitRule): Promise<RateLimitState>;

  // ---- concurrency ----------------------------------------------------------------------------
  /** Takes one of `max` slots for `leaseMs`; a slot whose holder died frees itself at expiry. */
  acquire(key: string, max: number, leaseMs: number): Promise<AcquireResult>;
  /** Frees the slot; false when it had already expired. */
  releaseLease(lease: Lease): Promise<boolean>;
  /** Extends a live lease; null when it had already expired (the slot may be taken). */
  renewLease(lease: Lease, leaseMs: number): Promise<Lease | null>;

  // ---- cache ----------------------------------------------------------------------------------
  /** The value as stored: a string comes back as a string, a Buffer as a Buffer. */
  cacheGet(key: string): Promise<CacheValue | null>;
  cacheSet(key: string, value: CacheValue, ttlMs: number): Promise<void>;
  /** True when a live entry was removed. */
  cacheDelete(key: string): Promise<boolean>;

  close(): Promise<void>;
}
