import { Redis } from 'ioredis';
import { KeelError } from '../errors.ts';
import {
  checkInt,
  checkKey,
  checkSignedInt,
  checkTtl,
  DEFAULT_LEASE_MS,
  refKey,
  refWindow,
} from './common.ts';
import { type Arg, parseRows, RedisCodec, type Reply } from './redis-codec.ts';
import { SCRIPTS, type ScriptName } from './redis-scripts.ts';
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
  ReserveOptions,
  ReserveResult,
  SettleOutcome,
  SharedState,
} from './types.ts';

export interface RedisStateOptions {
  url: string;
  /** Namespace for every key; replicas sharing limits must share it (default `keel:`). */
  prefix?: string;
  /** A command not answered within this time fails with `unavailable` (default 5000). */
  commandTimeoutMs?: number;
}

type ScriptFn = (numKeys: number, ...args: Arg[]) => Promise<Reply>;

// Cache values carry their type in the first byte, so a string comes back a string.
const TAG_STRING = 0;
const TAG_BUFFER = 1;

/**
 * The Redis backend: every replica pointing at the same Redis and prefix shares every counter,
 * limit, slot and cache entry. Multi-step operations are Lua scripts (EVALSHA via
 * `defineCommand`), so each is one round trip and atomic; concurrent calls from one process
 * share socket writes through ioredis auto-pipelining. Failures surface as `unavailable`.
 */
export class RedisSharedState implements SharedState {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #k: RedisCodec;
  readonly #scripts: Record<ScriptName, ScriptFn>;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#k = new RedisCodec(prefix);
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua });
    this.#scripts = redis as unknown as Record<ScriptName, ScriptFn>;
  }

  /** Connects, failing fast with `unavailable` when Redis cannot be reached. */
  static async open(opts: RedisStateOptions): Promise<RedisSharedState> {
    const redis = new Redis(opts.url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 2,
      commandTimeout: opts.commandTimeoutMs ?? 5_000,
      connectTimeout: 5_000,
    });
    // Without a listener ioredis prints every reconnect attempt; failures surface per call instead.
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (e) {
      redis.disconnect();
      throw unavailable(e);
    }
    return new RedisSharedState(redis, opts.prefix ?? 'keel:');
  }

  async #run<T>(name: ScriptName, keys: string[], args: Arg[]): Promise<T> {
    try {
      return (await this.#scripts[name](keys.length, ...keys, ...args)) as T;
    } catch (e) {
      throw unavailable(e);
    }
  }

  async #cmd<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#redis);
    } catch (e) {
      throw unavailable(e);
    }
  }

  time(): Promise<number> {
    return this.#cmd(async (r) => {
      const [s, us] = await r.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    });
  }

  async admit(req: AdmitRequest): Promise<AdmitResult> {
    const checks = req.rate ?? [];
    const rate = this.#k.rateArgs('consume', checks);
    const slots = this.#k.slotArgs(req.slots ?? []);
    const b = req.budget;
    const budget = b ? this.#k.budgetArgs(b.lines, b.amount, b) : { id: '', keys: [], args: [] };
    const keys = [...rate.keys, ...slots.keys, ...budget.keys];
    const head: Arg[] = [checks.length, slots.keys.length, b ? b.lines.length : -1];
    const reply = await this.#run<Reply[]>('keelAdmit', keys, [
      ...head,
      ...rate.args,
      ...slots.args,
      ...budget.args,
    ]);
    return this.#k.parseAdmit(reply, req, budget.id, slots.ids);
  }

  // ---- counters -------------------------------------------------------------------------------

  async incrBy(ref: CounterRef, n: number, ttlMs?: number): Promise<number> {
    checkSignedInt('n', n);
    checkTtl('ttlMs', ttlMs);
    return Number(await this.#counter('incr', ref, n, ttlMs ?? 0));
  }

  async get(ref: CounterRef): Promise<number | null> {
    const v = await this.#counter('get', ref, 0, 0);
    return v === null ? null : Number(v);
  }

  async seed(ref: CounterRef, value: number, ttlMs?: number): Promise<boolean> {
    checkSignedInt('value', value);
    checkTtl('ttlMs', ttlMs);
    return (await this.#counter('seed', ref, value, ttlMs ?? 0)) === 1;
  }

  #counter(op: string, ref: CounterRef, n: number, ttlMs: number): Promise<string | number | null> {
    return this.#run('keelCounter', [this.#k.counter(refKey(ref))], [op, refWindow(ref) ?? '', n, ttlMs]);
  }

  // ---- budgets --------------------------------------------------------------------------------

  async reserve(
    lines: readonly BudgetLine[],
    amount: number,
    opts: ReserveOptions = {},
  ): Promise<ReserveResult> {
    const { id, keys, args } = this.#k.budgetArgs(lines, amount, opts);
    return this.#k.parseReserve(await this.#run<Reply[]>('keelReserve', keys, args), lines, amount, id);
  }

  async extend(reservation: Reservation, extra: number, leaseMs = DEFAULT_LEASE_MS): Promise<ExtendResult> {
    checkInt('extra', extra);
    checkInt('leaseMs', leaseMs, 1);
    const args: Arg[] = [extra, leaseMs, reservation.id, `${this.#k.holds}:`];
    reservation.keys.forEach((_, i) => {
      args.push(reservation.limits[i] ?? '', reservation.soft[i] ? '1' : '0');
    });
    const keys = [this.#k.holds, this.#k.hold(reservation.id)];
    const reply = await this.#run<Reply[]>('keelExtend', keys, args);
    if (reply[0] === 'expired') return { ok: false, reason: 'expired' };
    if (reply[0] === 'limit') return this.#k.parseDenied(reply);
    const [, remaining, softExceeded, deadline, amount] = reply as [string, Reply[], Reply[], number, number];
    return {
      ok: true,
      reservation: { ...reservation, amount: Number(amount), expiresAt: Number(deadline) },
      remaining: remaining.map((v) => (v === '' ? null : Number(v))),
      softExceeded: softExceeded.map(Number),
    };
  }

  async settle(reservation: Reservation, actual: number): Promise<SettleOutcome> {
    checkInt('actual', actual);
    const keys = [this.#k.holds, this.#k.hold(reservation.id)];
    return this.#run<SettleOutcome>('keelSettle', keys, [actual, reservation.id, `${this.#k.holds}:`]);
  }

  release(reservation: Reservation): Promise<SettleOutcome> {
    return this.settle(reservation, 0);
  }

  async getBudget(ref: CounterRef): Promise<BudgetState | null> {
    const keys = [this.#k.budget(refKey(ref)), this.#k.holds];
    const v = await this.#run<Reply[]>('keelBudget', keys, [
      'get',
      refWindow(ref) ?? '',
      `${this.#k.holds}:`,
      0,
    ]);
    return v.length === 0 ? null : { spent: Number(v[0]), reserved: Number(v[1]) };
  }

  async seedBudget(ref: CounterRef, spent: number): Promise<boolean> {
    checkInt('spent', spent);
    const keys = [this.#k.budget(refKey(ref)), this.#k.holds];
    const args = ['seed', refWindow(ref) ?? '', `${this.#k.holds}:`, spent];
    return (await this.#run('keelBudget', keys, args)) === 1;
  }

  // ---- rate limits ----------------------------------------------------------------------------

  async consume(key: string, cost: number, rule: RateLimitRule): Promise<RateLimitResult> {
    return (await this.consumeMany([{ key, cost, rule }])).results[0]!;
  }

  consumeMany(checks: readonly RateCheck[]): Promise<ConsumeManyResult> {
    return this.#rates('consume', checks);
  }

  checkRates(checks: readonly RateCheck[]): Promise<ConsumeManyResult> {
    return this.#rates('check', checks);
  }

  async #rates(mode: 'consume' | 'check', checks: readonly RateCheck[]): Promise<ConsumeManyResult> {
    const { keys, args } = this.#k.rateArgs(mode, checks);
    const [denied, rows] = await this.#run<[number, Reply[]]>('keelRate', keys, [mode, ...args]);
    return { allowed: Number(denied) === -1, results: parseRows(rows, checks), denied: Number(denied) };
  }

  async adjust(
    key: string,
    delta: number,
    rule: RateLimitRule,
    ticket?: string | null,
  ): Promise<RateLimitState> {
    checkSignedInt('delta', delta);
    return this.#rateState('adjust', { key, cost: delta, rule }, ticket ?? '');
  }

  peek(key: string, rule: RateLimitRule): Promise<RateLimitState> {
    return this.#rateState('peek', { key, cost: 0, rule }, '');
  }

  async #rateState(mode: 'adjust' | 'peek', check: RateCheck, ticket: string): Promise<RateLimitState> {
    const { keys, args } = this.#k.rateArgs(mode, [check], ticket);
    const [[remaining, resetMs]] = (await this.#run('keelRate', keys, [mode, ...args])) as [[number, number]];
    return { limit: check.rule.limit, remaining: Number(remaining), resetMs: Number(resetMs) };
  }

  // ---- concurrency ----------------------------------------------------------------------------

  async acquire(key: string, max: number, leaseMs: number): Promise<AcquireResult> {
    const { keys, args, ids } = this.#k.slotArgs([{ key, max, leaseMs }]);
    const reply = await this.#run<number[]>('keelLease', keys, ['acquire', ...args]);
    const active = Number(reply[1]);
    if (Number(reply[0]) !== 1) return { ok: false, active, max };
    return { ok: true, lease: { key, id: ids[0]!, expiresAt: Number(reply[2]) }, active };
  }

  async releaseLease(lease: Lease): Promise<boolean> {
    const reply = await this.#run('keelLease', [this.#k.slot(lease.key)], ['release', lease.id, 0, 0]);
    return Number(reply) === 1;
  }

  async renewLease(lease: Lease, leaseMs: number): Promise<Lease | null> {
    checkInt('leaseMs', leaseMs, 1);
    const reply = await this.#run('keelLease', [this.#k.slot(lease.key)], ['renew', lease.id, 0, leaseMs]);
    const exp = Number(reply);
    return exp < 0 ? null : { ...lease, expiresAt: exp };
  }

  // ---- cache ----------------------------------------------------------------------------------

  async cacheGet(key: string): Promise<CacheValue | null> {
    const buf = await this.#cmd((r) => r.getBuffer(this.#k.cache(key)));
    if (buf === null || buf.length === 0) return null;
    return buf[0] === TAG_STRING ? buf.toString('utf8', 1) : buf.subarray(1);
  }

  async cacheSet(key: string, value: CacheValue, ttlMs: number): Promise<void> {
    checkKey(key);
    checkInt('ttlMs', ttlMs, 1);
    const isString = typeof value === 'string';
    const size = isString ? Buffer.byteLength(value) : value.length;
    const tagged = Buffer.allocUnsafe(size + 1);
    tagged[0] = isString ? TAG_STRING : TAG_BUFFER;
    if (isString) tagged.write(value, 1, 'utf8');
    else value.copy(tagged, 1);
    await this.#cmd((r) => r.set(this.#k.cache(key), tagged, 'PX', ttlMs));
  }

  async cacheDelete(key: string): Promise<boolean> {
    return (await this.#cmd((r) => r.del(this.#k.cache(key)))) === 1;
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}

function unavailable(e: unknown): KeelError {
  if (e instanceof KeelError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new KeelError('unavailable', `shared state (Redis) unavailable: ${msg}`, { cause: e });
}
