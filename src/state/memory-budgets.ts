import { randomUUID } from 'node:crypto';
import { checkInt, DEFAULT_LEASE_MS, LAPSED_RESERVATION_MS, resolveRef } from './common.ts';
import type {
  BudgetDenied,
  BudgetLine,
  BudgetMissing,
  BudgetState,
  CounterRef,
  ExtendResult,
  Reservation,
  ReserveOk,
  ReserveOptions,
  SettleOutcome,
} from './types.ts';

interface Budget {
  s: number;
  r: number;
  exp: number;
}
interface Hold {
  amount: number;
  keys: string[];
  deadline: number;
  lapsed: boolean;
  exp: number;
}
interface Line {
  key: string;
  limit: number | null;
  soft: boolean;
  /** Bucket expiry (windowed lines). */
  exp?: number | undefined;
  /** Window end (windowed lines). */
  end?: number | undefined;
}

/** Budget counters and holds in process; the same rules as `lua/budget.ts`. Calls are synchronous. */
export class MemoryBudgets {
  #budgets = new Map<string, Budget>();
  #holds = new Map<string, Hold>();
  #nextDeadline = Number.POSITIVE_INFINITY;

  /** Checks a reservation; returns the denial, or a function that takes the hold. */
  prepare(
    lines: readonly BudgetLine[],
    amount: number,
    opts: ReserveOptions,
    now: number,
  ): BudgetDenied | BudgetMissing | (() => ReserveOk) {
    checkInt('amount', amount);
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    checkInt('leaseMs', leaseMs, 1);
    this.#lapse(now);
    const resolved: Line[] = lines.map((l) => {
      if (l.limit !== undefined) checkInt('limit', l.limit);
      return { ...resolveRef(l.counter, now), limit: l.limit ?? null, soft: l.soft === true };
    });
    if (opts.onMissing === 'report') {
      const missing = resolved.flatMap((l, i) => (this.#live(l.key, now) ? [] : [i]));
      if (missing.length > 0) return { ok: false, reason: 'missing', missing };
    }
    const checked = this.#check(resolved, amount, now);
    if (!checked.ok) return checked;
    return () => {
      for (const l of resolved) {
        let b = this.#live(l.key, now);
        if (!b) {
          b = { s: 0, r: 0, exp: l.exp ?? Number.POSITIVE_INFINITY };
          this.#budgets.set(l.key, b);
        }
        b.r += amount;
      }
      const id = randomUUID();
      const keys = resolved.map((l) => l.key);
      const deadline = now + leaseMs;
      this.#holds.set(id, { amount, keys, deadline, lapsed: false, exp: Number.POSITIVE_INFINITY });
      this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
      const reservation: Reservation = {
        id,
        amount,
        keys,
        limits: resolved.map((l) => l.limit),
        soft: resolved.map((l) => l.soft),
        expiresAt: deadline,
      };
      return { ok: true, reservation, remaining: checked.remaining, softExceeded: checked.softExceeded };
    };
  }

  extend(reservation: Reservation, extra: number, leaseMs: number, now: number): ExtendResult {
    checkInt('extra', extra);
    checkInt('leaseMs', leaseMs, 1);
    this.#lapse(now);
    const hold = this.#holds.get(reservation.id);
    if (!hold || hold.lapsed) return { ok: false, reason: 'expired' };
    const lines = hold.keys.map((key, i) => ({
      key,
      limit: reservation.limits[i] ?? null,
      soft: reservation.soft[i] === true,
    }));
    const checked = this.#check(lines, extra, now);
    if (!checked.ok) return { ...checked, retryAfterMs: null };
    for (const key of hold.keys) {
      const b = this.#live(key, now);
      if (b) b.r += extra;
    }
    hold.amount += extra;
    hold.deadline = now + leaseMs;
    this.#nextDeadline = Math.min(this.#nextDeadline, hold.deadline);
    return {
      ok: true,
      reservation: { ...reservation, amount: hold.amount, expiresAt: hold.deadline },
      remaining: checked.remaining,
      softExceeded: checked.softExceeded,
    };
  }

  #check(
    lines: readonly Line[],
    amount: number,
    now: number,
  ): { ok: true; remaining: (number | null)[]; softExceeded: number[] } | BudgetDenied {
    const remaining: (number | null)[] = [];
    const softExceeded: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.limit === null) {
        remaining.push(null);
        continue;
      }
      const b = this.#live(l.key, now);
      const spent = b?.s ?? 0;
      const reserved = b?.r ?? 0;
      const after = spent + reserved + amount;
      if (after > l.limit) {
        if (!l.soft) {
          const retryAfterMs = l.end === undefined ? null : l.end - now;
          return {
            ok: false,
            reason: 'limit',
            index: i,
            key: l.key,
            limit: l.limit,
            spent,
            reserved,
            retryAfterMs,
          };
        }
        softExceeded.push(i);
      }
      remaining.push(l.limit - after);
    }
    return { ok: true, remaining, softExceeded };
  }

  settle(reservation: Reservation, actual: number, now: number): SettleOutcome {
    checkInt('actual', actual);
    this.#lapse(now);
    const hold = this.#holds.get(reservation.id);
    if (!hold) return 'unknown';
    this.#holds.delete(reservation.id);
    for (const key of hold.keys) {
      const b = this.#live(key, now);
      if (!b) continue;
      if (!hold.lapsed) b.r = Math.max(0, b.r - hold.amount);
      b.s += actual;
    }
    return hold.lapsed ? 'late' : 'settled';
  }

  get(ref: CounterRef, now: number): BudgetState | null {
    this.#lapse(now);
    const b = this.#live(resolveRef(ref, now).key, now);
    return b ? { spent: b.s, reserved: b.r } : null;
  }

  seed(ref: CounterRef, spent: number, now: number): boolean {
    checkInt('spent', spent);
    const { key, exp } = resolveRef(ref, now);
    if (this.#live(key, now)) return false;
    this.#budgets.set(key, { s: spent, r: 0, exp: exp ?? Number.POSITIVE_INFINITY });
    return true;
  }

  #live(key: string, now: number): Budget | undefined {
    const b = this.#budgets.get(key);
    if (b === undefined || b.exp > now) return b;
    this.#budgets.delete(key);
    return undefined;
  }

  /** Gives back the amounts of holds nobody settled in time (their replica crashed). */
  #lapse(now: number): void {
    if (now < this.#nextDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [id, h] of this.#holds) {
      if (h.lapsed) {
        if (h.exp <= now) this.#holds.delete(id);
        continue;
      }
      if (h.deadline > now) {
        next = Math.min(next, h.deadline);
        continue;
      }
      for (const key of h.keys) {
        const b = this.#live(key, now);
        if (b) b.r = Math.max(0, b.r - h.amount);
      }
      h.lapsed = true;
      h.exp = now + LAPSED_RESERVATION_MS;
    }
    this.#nextDeadline = next;
  }

  sweep(now: number): void {
    for (const [k, b] of this.#budgets) if (b.exp <= now) this.#budgets.delete(k);
    this.#nextDeadline = Math.min(this.#nextDeadline, now);
    this.#lapse(now);
  }

  clear(): void {
    this.#budgets.clear();
    this.#holds.clear();
  }
}
