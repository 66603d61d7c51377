import { randomUUID } from 'node:crypto';
import { checkInt, checkKey, checkSignedInt, checkTtl, DEFAULT_LEASE_MS, resolveRef } from './common.ts';
import { MemoryBudgets } from './memory-budgets.ts';
import { MemoryCache } from './memory-cache.ts';
import { MemoryRateLimits } from './memory-limits.ts';
import type {
  AcquireResult,
  AdmitRequest,
  AdmitResult,
  BudgetLine,
  BudgetState,
  CacheValue,
  ConsumeManyResult,
  CounterRef,
  ExtendResult,
  Lease,
  RateCheck,
  RateLimitResult,
  RateLimitRule,
  RateLimitState,
  Reservation,
  ReserveOk,
  ReserveOptions,
  ReserveResult,
  SettleOutcome,
  SharedState,
  SlotRequest,
} from './types.ts';

export interface MemoryStateOptions {
  /** Upper bound on cached bytes; least recently used entries go first (default 64 MiB). */
  maxCacheBytes?: number;
  /** How often expired entries are swept (default 30 s). */
  sweepIntervalMs?: number;
}

interface Counter {
  v: number;
  exp: number;
}

/**
 * The in-process backend: correct for one replica. Every method does its reads and writes
 * synchronously (no await in between), which is what makes each one atomic here.
 */
export class MemorySharedState implements SharedState {
  readonly kind = 'memory' as const;
  #counters = new Map<string, Counter>();
  #budgets = new MemoryBudgets();
  #limits = new MemoryRateLimits();
  #leases = new Map<string, Map<string, number>>();
  readonly #cache: MemoryCache;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: MemoryStateOptions = {}) {
    this.#cache = new MemoryCache(opts.maxCacheBytes ?? 64 * 1024 * 1024);
    this.#timer = setInterval(() => this.#sweep(Date.now()), opts.sweepIntervalMs ?? 30_000);
    this.#timer.unref();
  }

  async time(): Promise<number> {
    return Date.now();
  }

  // ---- counters -------------------------------------------------------------------------------

  async incrBy(ref: CounterRef, n: number, ttlMs?: number): Promise<number> {
    checkSignedInt('n', n);
    checkTtl('ttlMs', ttlMs);
    const now = Date.now();
    const { key, exp } = resolveRef(ref, now);
    let c = live(this.#counters, key, now);
    if (!c) {
      c = { v: 0, exp: exp ?? (ttlMs ? now + ttlMs : Number.POSITIVE_INFINITY) };
      this.#counters.set(key, c);
    } else if (exp === undefined && ttlMs && c.exp === Number.POSITIVE_INFINITY) {
      c.exp = now + ttlMs;
    }
    c.v += n;
    return c.v;
  }

  async get(ref: CounterRef): Promise<number | null> {
    const now = Date.now();
    return live(this.#counters, resolveRef(ref, now).key, now)?.v ?? null;
  }

  async seed(ref: CounterRef, value: number, ttlMs?: number): Promise<boolean> {
    checkSignedInt('value', value);
    checkTtl('ttlMs', ttlMs);
    const now = Date.now();
    const { key, exp } = resolveRef(ref, now);
    if (live(this.#counters, key, now)) return false;
    this.#counters.set(key, { v: value, exp: exp ?? (ttlMs ? now + ttlMs : Number.POSITIVE_INFINITY) });
    return true;
  }

  // ---- admission ----------------------------------------------------------------------------

  async admit(req: AdmitRequest): Promise<AdmitResult> {
    const now = Date.now();
    const rate = this.#limits.prepare(req.rate ?? [], now);
    if (rate.denied !== -1) return { ok: false, denied: 'rate', index: rate.denied, rate: rate.results() };
    const slots = req.slots ?? [];
    const takes: (() => { lease: Lease; active: number })[] = [];
    for (let i = 0; i < slots.length; i++) {
      const slot = this.#prepareSlot(slots[i]!, now);
      if (typeof slot !== 'function') {
        return {
          ok: false,
          denied: 'concurrency',
          index: i,
          active: slot.active,
          max: slot.max,
          rate: rate.results(),
        };
      }
      takes.push(slot);
    }
    let hold: (() => ReserveOk) | undefined;
    if (req.budget) {
      const b = req.budget;
      const prepared = this.#budgets.prepare(b.lines, b.amount, b, now);
      if (typeof prepared !== 'function')
        return { ok: false, denied: 'budget', budget: prepared, rate: rate.results() };
      hold = prepared;
    }
    return { ok: true, rate: rate.commit(), leases: takes.map((t) => t().lease), hold: hold ? hold() : null };
  }

  // ---- budgets --------------------------------------------------------------------------------

  async reserve(
    lines: readonly BudgetLine[],
    amount: number,
    opts: ReserveOptions = {},
  ): Promise<ReserveResult> {
    const prepared = this.#budgets.prepare(lines, amount, opts, Date.now());
    return typeof prepared === 'function' ? prepared() : prepared;
  }

  async extend(reservation: Reservation, extra: number, leaseMs = DEFAULT_LEASE_MS): Promise<ExtendResult> {
    return this.#budgets.extend(reservation, extra, leaseMs, Date.now());
  }

  async settle(reservation: Reservation, actual: number): Promise<SettleOutcome> {
    return this.#budgets.settle(reservation, actual, Date.now());
  }

  release(reservation: Reservation): Promise<SettleOutcome> {
    return this.settle(reservation, 0);
  }

  async getBudget(ref: CounterRef): Promise<BudgetState | null> {
    return this.#budgets.get(ref, Date.now());
  }

  async seedBudget(ref: CounterRef, spent: number): Promise<boolean> {
    return this.#budgets.seed(ref, spent, Date.now());
  }

  // ---- rate limits ----------------------------------------------------------------------------

  async consume(key: string, cost: number, rule: RateLimitRule): Promise<RateLimitResult> {
    return (await this.consumeMany([{ key, cost, rule }])).results[0]!;
  }

  async consumeMany(checks: readonly RateCheck[]): Promise<ConsumeManyResult> {
    const p = this.#limits.prepare(checks, Date.now());
    return {
      allowed: p.denied === -1,
      results: p.denied === -1 ? p.commit() : p.results(),
      denied: p.denied,
    };
  }

  async checkRates(checks: readonly RateCheck[]): Promise<ConsumeManyResult> {
    const p = this.#limits.prepare(checks, Date.now());
    return { allowed: p.denied === -1, results: p.results(), denied: p.denied };
  }

  async adjust(
    key: string,
    delta: number,
    rule: RateLimitRule,
    ticket?: string | null,
  ): Promise<RateLimitState> {
    return this.#limits.adjust(key, delta, rule, ticket ?? null, Date.now());
  }

  async peek(key: string, rule: RateLimitRule): Promise<RateLimitState> {
    return this.#limits.peek(key, rule, Date.now());
  }

  // ---- concurrency ----------------------------------------------------------------------------

  async acquire(key: string, max: number, leaseMs: number): Promise<AcquireResult> {
    const slot = this.#prepareSlot({ key, max, leaseMs }, Date.now());
    return typeof slot === 'function' ? { ok: true, ...slot() } : slot;
  }

  #prepareSlot(
    { key, max, leaseMs }: SlotRequest,
    now: number,
  ): { ok: false; active: number; max: number } | (() => { lease: Lease; active: number }) {
    checkKey(key);
    checkInt('max', max);
    checkInt('leaseMs', leaseMs, 1);
    let slots = this.#leases.get(key);
    if (!slots) {
      slots = new Map();
      this.#leases.set(key, slots);
    }
    // Expired slots only matter when the set looks full, so only then are they pruned.
    if (slots.size >= max) for (const [id, exp] of slots) if (exp <= now) slots.delete(id);
    if (slots.size >= max) return { ok: false, active: slots.size, max };
    const held = slots;
    return () => {
      const lease: Lease = { key, id: randomUUID(), expiresAt: now + leaseMs };
      held.set(lease.id, lease.expiresAt);
      return { lease, active: held.size };
    };
  }

  async releaseLease(lease: Lease): Promise<boolean> {
    const slots = this.#leases.get(lease.key);
    const exp = slots?.get(lease.id);
    if (exp === undefined) return false;
    slots!.delete(lease.id);
    return exp > Date.now();
  }

  async renewLease(lease: Lease, leaseMs: number): Promise<Lease | null> {
    checkInt('leaseMs', leaseMs, 1);
    const now = Date.now();
    const slots = this.#leases.get(lease.key);
    const exp = slots?.get(lease.id);
    if (exp === undefined || exp <= now) {
      slots?.delete(lease.id);
      return null;
    }
    const renewed = { ...lease, expiresAt: now + leaseMs };
    slots!.set(lease.id, renewed.expiresAt);
    return renewed;
  }

  // ---- cache ----------------------------------------------------------------------------------

  async cacheGet(key: string): Promise<CacheValue | null> {
    return this.#cache.get(key, Date.now());
  }

  async cacheSet(key: string, value: CacheValue, ttlMs: number): Promise<void> {
    this.#cache.set(key, value, ttlMs, Date.now());
  }

  async cacheDelete(key: string): Promise<boolean> {
    return this.#cache.delete(key, Date.now());
  }

  // ---- housekeeping ---------------------------------------------------------------------------

  #sweep(now: number): void {
    for (const [k, e] of this.#counters) if (e.exp <= now) this.#counters.delete(k);
    this.#budgets.sweep(now);
    this.#limits.sweep(now);
    this.#cache.sweep(now);
    for (const [k, slots] of this.#leases) {
      for (const [id, exp] of slots) if (exp <= now) slots.delete(id);
      if (slots.size === 0) this.#leases.delete(k);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#counters.clear();
    this.#leases.clear();
    this.#cache.clear();
    this.#budgets.clear();
    this.#limits.clear();
  }
}

function live<T extends { exp: number }>(map: Map<string, T>, key: string, now: number): T | undefined {
  const e = map.get(key);
  if (e === undefined) return undefined;
  if (e.exp <= now) {
    map.delete(key);
    return undefined;
  }
  return e;
}
