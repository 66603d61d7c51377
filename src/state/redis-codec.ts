import { randomUUID } from 'node:crypto';
import { checkInt, checkKey, checkRule, DEFAULT_LEASE_MS, refKey, refWindow } from './common.ts';
import type {
  AdmitRequest,
  AdmitResult,
  BudgetDenied,
  BudgetLine,
  RateCheck,
  RateLimitResult,
  Reservation,
  ReserveOk,
  ReserveOptions,
  ReserveResult,
  SlotRequest,
} from './types.ts';

export type Reply = unknown;
export type Arg = string | number;

/**
 * Key names and the argument / reply layouts of the Lua scripts (see `lua/*.ts`), kept apart from
 * the I/O in `redis.ts`. Every key lives under the prefix: `c:` counters, `b:` budgets, `h` and
 * `h:<id>` holds, `tb:` / `sw:` + `swm:` rate limiters, `cc:` concurrency slots, `k:` cache.
 */
export class RedisCodec {
  readonly #p: string;
  readonly holds: string;

  constructor(prefix: string) {
    this.#p = prefix;
    this.holds = `${prefix}h`;
  }

  counter(key: string): string {
    return `${this.#p}c:${key}`;
  }
  budget(key: string): string {
    return `${this.#p}b:${key}`;
  }
  hold(id: string): string {
    return `${this.holds}:${id}`;
  }
  slot(key: string): string {
    return `${this.#p}cc:${key}`;
  }
  cache(key: string): string {
    return `${this.#p}k:${key}`;
  }

  budgetArgs(
    lines: readonly BudgetLine[],
    amount: number,
    opts: ReserveOptions,
  ): { id: string; keys: string[]; args: Arg[] } {
    checkInt('amount', amount);
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    checkInt('leaseMs', leaseMs, 1);
    const id = randomUUID();
    const keys = lines.map((l) => this.budget(refKey(l.counter)));
    keys.push(this.holds, this.hold(id));
    const args: Arg[] = [amount, leaseMs, opts.onMissing ?? 'zero', id, `${this.holds}:`];
    for (const l of lines) {
      if (l.limit !== undefined) checkInt('limit', l.limit);
      args.push(refWindow(l.counter) ?? '', l.limit ?? '', l.soft ? '1' : '0');
    }
    return { id, keys, args };
  }

  parseReserve(reply: Reply[], lines: readonly BudgetLine[], amount: number, id: string): ReserveResult {
    if (reply[0] === 'missing')
      return { ok: false, reason: 'missing', missing: (reply[1] as Reply[]).map(Number) };
    if (reply[0] === 'limit') return this.parseDenied(reply);
    const [, sfxs, remaining, softExceeded, deadline] = reply as [string, string[], Reply[], Reply[], number];
    const reservation: Reservation = {
      id,
      amount,
      keys: lines.map((l, i) => refKey(l.counter) + sfxs[i]),
      limits: lines.map((l) => l.limit ?? null),
      soft: lines.map((l) => l.soft === true),
      expiresAt: Number(deadline),
    };
    return {
      ok: true,
      reservation,
      remaining: remaining.map(optNumber),
      softExceeded: softExceeded.map(Number),
    };
  }

  parseDenied(reply: Reply[]): BudgetDenied {
    const [, index, key, limit, spent, reserved, retry] = reply as [string, number, string, ...number[]];
    return {
      ok: false,
      reason: 'limit',
      index: Number(index),
      key: key.slice(this.budget('').length),
      limit: Number(limit),
      spent: Number(spent),
      reserved: Number(reserved),
      retryAfterMs: Number(retry) < 0 ? null : Number(retry),
    };
  }

  parseAdmit(reply: Reply[], req: AdmitRequest, holdId: string, slotIds: readonly string[]): AdmitResult {
    const checks = req.rate ?? [];
    const b = req.budget;
    switch (reply[0]) {
      case 'rate':
        return {
          ok: false,
          denied: 'rate',
          index: Number(reply[1]),
          rate: parseRows(reply[2] as Reply[], checks),
        };
      case 'concurrency': {
        const index = Number(reply[1]);
        const max = req.slots![index]!.max;
        return {
          ok: false,
          denied: 'concurrency',
          index,
          active: Number(reply[2]),
          max,
          rate: parseRows(reply[3] as Reply[], checks),
        };
      }
      case 'budget': {
        const denied = this.parseReserve(reply[1] as Reply[], b!.lines, b!.amount, holdId);
        if (denied.ok) throw new TypeError('admit: a budget denial without a reason');
        return { ok: false, denied: 'budget', budget: denied, rate: parseRows(reply[2] as Reply[], checks) };
      }
    }
    const [, rows, leases, held] = reply as [string, Reply[], [number, number][], Reply[] | ''];
    return {
      ok: true,
      rate: parseRows(rows, checks),
      leases: leases.map(([exp], i) => ({
        key: req.slots![i]!.key,
        id: slotIds[i]!,
        expiresAt: Number(exp),
      })),
      hold: b && held !== '' ? (this.parseReserve(held, b.lines, b.amount, holdId) as ReserveOk) : null,
    };
  }

  rateArgs(
    mode: 'consume' | 'check' | 'adjust' | 'peek',
    checks: readonly RateCheck[],
    ticket = '',
  ): { keys: string[]; args: Arg[] } {
    const keys: string[] = [];
    const args: Arg[] = [];
    for (const c of checks) {
      checkKey(c.key);
      if (mode === 'consume' || mode === 'check') checkInt('cost', c.cost);
      checkRule(c.rule);
      const tb = c.rule.algorithm === 'token-bucket';
      const base = `${this.#p}${tb ? 'tb' : 'sw'}:${c.key}`;
      keys.push(base, tb ? base : `${this.#p}swm:${c.key}`);
      args.push(tb ? 'tb' : 'sw', c.cost, c.rule.limit, c.rule.windowMs, ticket);
    }
    return { keys, args };
  }

  slotArgs(slots: readonly SlotRequest[]): { keys: string[]; args: Arg[]; ids: string[] } {
    const keys: string[] = [];
    const args: Arg[] = [];
    const ids: string[] = [];
    for (const s of slots) {
      checkKey(s.key);
      checkInt('max', s.max);
      checkInt('leaseMs', s.leaseMs, 1);
      const id = randomUUID();
      keys.push(this.slot(s.key));
      args.push(id, s.max, s.leaseMs);
      ids.push(id);
    }
    return { keys, args, ids };
  }
}

export function parseRows(rows: Reply[], checks: readonly RateCheck[]): RateLimitResult[] {
  return rows.map((row, i): RateLimitResult => {
    const [allowed, remaining, resetMs, retry, ticket] = row as [number, number, number, number, string];
    return {
      allowed: Number(allowed) === 1,
      limit: checks[i]!.rule.limit,
      remaining: Number(remaining),
      resetMs: Number(resetMs),
      retryAfterMs: Number(retry) < 0 ? null : Number(retry),
      ticket: ticket === '' ? null : ticket,
    };
  });
}

function optNumber(v: Reply): number | null {
  return v === '' || v === null ? null : Number(v);
}
