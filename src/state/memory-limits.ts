import { checkInt, checkKey, checkRule, checkSignedInt } from './common.ts';
import type { RateCheck, RateLimitResult, RateLimitRule, RateLimitState } from './types.ts';

/**
 * In-process rate limiters. `src/state/redis-scripts.ts` runs the same arithmetic in Lua; the
 * contract suite holds both to the same results.
 */
export interface Limiter {
  /** Expiry (ms) after which an untouched limiter is back to its full allowance and can be dropped. */
  exp: number;
  evaluate(cost: number, rule: RateLimitRule, now: number): Evaluation;
  commit(cost: number, rule: RateLimitRule, now: number): string | null;
  adjust(delta: number, rule: RateLimitRule, now: number, ticket: string | null): void;
  state(rule: RateLimitRule, now: number): RateLimitState;
}

export interface Evaluation {
  allowed: boolean;
  retryAfterMs: number | null;
}

export class TokenBucket implements Limiter {
  exp = 0;
  #tokens = Number.NaN;
  #ts = 0;

  #level(rule: RateLimitRule, now: number): number {
    if (Number.isNaN(this.#tokens)) return rule.limit;
    const rate = rule.limit / rule.windowMs;
    return Math.min(rule.limit, this.#tokens + Math.max(0, now - this.#ts) * rate);
  }

  #store(tokens: number, rule: RateLimitRule, now: number): void {
    this.#tokens = tokens;
    this.#ts = now;
    this.exp = now + Math.max(1, Math.ceil((rule.limit - tokens) / (rule.limit / rule.windowMs)));
  }

  evaluate(cost: number, rule: RateLimitRule, now: number): Evaluation {
    if (cost > rule.limit) return { allowed: false, retryAfterMs: null };
    const tokens = this.#level(rule, now);
    if (tokens >= cost) return { allowed: true, retryAfterMs: 0 };
    return { allowed: false, retryAfterMs: Math.ceil((cost - tokens) / (rule.limit / rule.windowMs)) };
  }

  commit(cost: number, rule: RateLimitRule, now: number): null {
    if (cost > 0) this.#store(this.#level(rule, now) - cost, rule, now);
    return null;
  }

  adjust(delta: number, rule: RateLimitRule, now: number): void {
    const next = this.#level(rule, now) - delta;
    this.#store(delta < 0 ? Math.min(rule.limit, next) : next, rule, now);
  }

  state(rule: RateLimitRule, now: number): RateLimitState {
    const tokens = this.#level(rule, now);
    return {
      limit: rule.limit,
      remaining: Math.max(0, Math.floor(tokens)),
      resetMs: Math.ceil((rule.limit - tokens) / (rule.limit / rule.windowMs)),
    };
  }
}

interface Entry {
  ts: number;
  cost: number;
  seq: number;
}

/** Exact sliding window: one entry per admitted charge, dropped once it is `windowMs` old. */
export class SlidingLog implements Limiter {
  exp = 0;
  #entries: Entry[] = [];
  #head = 0;
  #sum = 0;
  #seq = 0;
  #bySeq = new Map<number, Entry>();

  #trim(rule: RateLimitRule, now: number): void {
    const cutoff = now - rule.windowMs;
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head]!.ts <= cutoff) {
      const e = entries[this.#head++]!;
      this.#sum -= e.cost;
      this.#bySeq.delete(e.seq);
    }
    if (this.#head > 512 && this.#head * 2 > entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #add(cost: number, rule: RateLimitRule, now: number): string {
    const e = { ts: now, cost, seq: ++this.#seq };
    this.#entries.push(e);
    this.#bySeq.set(e.seq, e);
    this.#sum += cost;
    this.exp = now + rule.windowMs;
    // The timestamp makes a ticket unique even after an idle log restarts its sequence.
    return `${e.seq}:${now}`;
  }

  evaluate(cost: number, rule: RateLimitRule, now: number): Evaluation {
    if (cost > rule.limit) return { allowed: false, retryAfterMs: null };
    this.#trim(rule, now);
    const need = this.#sum + cost - rule.limit;
    if (need <= 0) return { allowed: true, retryAfterMs: 0 };
    // The wait is until enough of the oldest entries have left the window.
    let freed = 0;
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i]!;
      freed += e.cost;
      if (freed >= need) return { allowed: false, retryAfterMs: Math.max(1, e.ts + rule.windowMs - now) };
    }
    return { allowed: false, retryAfterMs: rule.windowMs };
  }

  commit(cost: number, rule: RateLimitRule, now: number): string | null {
    return cost > 0 ? this.#add(cost, rule, now) : null;
  }

  adjust(delta: number, rule: RateLimitRule, now: number, ticket: string | null): void {
    this.#trim(rule, now);
    const m = ticket === null ? null : /^(\d+):(\d+)$/.exec(ticket);
    const e = m ? this.#bySeq.get(Number(m[1])) : undefined;
    if (e && e.ts === Number(m![2])) {
      const next = Math.max(0, e.cost + delta);
      this.#sum += next - e.cost;
      e.cost = next;
    } else if (delta > 0) {
      this.#add(delta, rule, now);
    }
  }

  state(rule: RateLimitRule, now: number): RateLimitState {
    this.#trim(rule, now);
    const newest = this.#entries[this.#entries.length - 1];
    const live = this.#head < this.#entries.length && newest !== undefined;
    return {
      limit: rule.limit,
      remaining: Math.max(0, rule.limit - this.#sum),
      resetMs: live ? Math.max(0, newest.ts + rule.windowMs - now) : 0,
    };
  }
}

/** Every limiter in process, by algorithm and key. Calls are synchronous, hence atomic. */
export class MemoryRateLimits {
  #limiters = new Map<string, Limiter>();

  /**
   * Evaluates the checks; `results` describe the state without charging, and `commit` (valid only
   * when `denied` is -1) charges every check and returns the results after the charge.
   */
  prepare(
    checks: readonly RateCheck[],
    now: number,
  ): { denied: number; results: () => RateLimitResult[]; commit: () => RateLimitResult[] } {
    const limiters = checks.map((c) => {
      checkKey(c.key);
      checkInt('cost', c.cost);
      checkRule(c.rule);
      return this.#get(c.key, c.rule, now);
    });
    const evals = checks.map((c, i) => limiters[i]!.evaluate(c.cost, c.rule, now));
    const denied = evals.findIndex((e) => !e.allowed);
    const rows = (charge: boolean) =>
      checks.map((c, i): RateLimitResult => {
        const lim = limiters[i]!;
        let ticket: string | null = null;
        if (charge && c.cost > 0) {
          ticket = lim.commit(c.cost, c.rule, now);
          this.#limiters.set(limKey(c.key, c.rule), lim);
        }
        const st = lim.state(c.rule, now);
        const ev = evals[i]!;
        return { allowed: ev.allowed, ...st, retryAfterMs: ev.retryAfterMs, ticket };
      });
    return { denied, results: () => rows(false), commit: () => rows(true) };
  }

  adjust(
    key: string,
    delta: number,
    rule: RateLimitRule,
    ticket: string | null,
    now: number,
  ): RateLimitState {
    checkKey(key);
    checkSignedInt('delta', delta);
    checkRule(rule);
    const lim = this.#get(key, rule, now);
    this.#limiters.set(limKey(key, rule), lim);
    lim.adjust(delta, rule, now, ticket);
    return lim.state(rule, now);
  }

  peek(key: string, rule: RateLimitRule, now: number): RateLimitState {
    checkKey(key);
    checkRule(rule);
    return this.#get(key, rule, now).state(rule, now);
  }

  /** The live limiter, or a fresh (full) one that is stored once it is charged. */
  #get(key: string, rule: RateLimitRule, now: number): Limiter {
    const k = limKey(key, rule);
    const lim = this.#limiters.get(k);
    if (lim && lim.exp > now) return lim;
    if (lim) this.#limiters.delete(k);
    return rule.algorithm === 'token-bucket' ? new TokenBucket() : new SlidingLog();
  }

  sweep(now: number): void {
    for (const [k, lim] of this.#limiters) if (lim.exp <= now) this.#limiters.delete(k);
  }

  clear(): void {
    this.#limiters.clear();
  }
}

function limKey(key: string, rule: RateLimitRule): string {
  return (rule.algorithm === 'token-bucket' ? 'tb:' : 'sw:') + key;
}
