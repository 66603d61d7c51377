import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { windowKey } from '../src/state/common.ts';
import type { BudgetLine, RateCheck, RateLimitRule, Reservation, SharedState } from '../src/state/types.ts';
import { eventually, type StateHandle, stateCases } from './helpers/state.ts';

const HOUR = 3_600_000;
const ALGORITHMS = ['sliding-window', 'token-bucket'] as const;

describe.each(stateCases)('SharedState contract: $name', (c) => {
  let h: StateHandle;
  let s: SharedState;
  beforeEach(async () => {
    if (c.skip) return;
    h = await c.open();
    s = h.state;
  });
  afterEach(async () => {
    if (!c.skip) await h.close();
  });
  const test = it.skipIf(c.skip);

  describe('counters', () => {
    test('add atomically, report missing as null, seed only when absent', async () => {
      expect(await s.get('n')).toBeNull();
      expect(await s.incrBy('n', 5)).toBe(5);
      expect(await s.incrBy('n', -2)).toBe(3);
      const all = await Promise.all(Array.from({ length: 200 }, () => s.incrBy('burst', 1)));
      expect(new Set(all).size).toBe(200);
      expect(await s.get('burst')).toBe(200);
      expect(await s.seed('n', 100)).toBe(false);
      expect(await s.get('n')).toBe(3);
      expect(await s.seed('fresh', 42)).toBe(true);
      expect(await s.get('fresh')).toBe(42);
    });

    test('windowed counters live in their UTC bucket, apart from the plain counter', async () => {
      const day = { key: 'spend', window: 'day' } as const;
      const month = { key: 'spend', window: 'month' } as const;
      expect(await s.incrBy(day, 7)).toBe(7);
      expect(await s.incrBy(month, 11)).toBe(11);
      expect(await s.incrBy('spend', 1)).toBe(1);
      expect(await s.get(day)).toBe(7);
      expect(await s.get(month)).toBe(11);
      expect(await s.seed(day, 99)).toBe(false);
    });

    test('a TTL expires the counter', async () => {
      await s.incrBy('short', 1, 40);
      expect(await eventually(async () => (await s.get('short')) === null)).toBe(true);
      expect(await s.incrBy('short', 1)).toBe(1);
    });

    test('rejects non-integer amounts', async () => {
      await expect(s.incrBy('x', 0.5)).rejects.toThrow(RangeError);
    });
  });

  describe.each(ALGORITHMS)('rate limit (%s)', (algorithm) => {
    const rule = (limit: number, windowMs = HOUR): RateLimitRule => ({ limit, windowMs, algorithm });

    test('admits exactly N of M concurrent attempts', async () => {
      const peer = await h.peer();
      const res = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? peer : s).consume('rpm', 1, rule(17))),
      );
      const admitted = res.filter((r) => r.allowed);
      expect(admitted).toHaveLength(17);
      expect(admitted.map((r) => r.remaining).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 17 }, (_, i) => i),
      );
      for (const r of res.filter((x) => !x.allowed)) {
        expect(r.remaining).toBe(0);
        expect(r.retryAfterMs).toBeGreaterThan(0);
        expect(r.limit).toBe(17);
      }
      expect((await s.peek('rpm', rule(17))).remaining).toBe(0);
    });

    test('a cost above the limit can never be admitted', async () => {
      const r = await s.consume('tpm', 101, rule(100));
      expect(r).toMatchObject({ allowed: false, retryAfterMs: null, remaining: 100 });
      expect((await s.consume('tpm', 100, rule(100))).allowed).toBe(true);
    });

    test('adjust charges more and refunds after the fact', async () => {
      const first = await s.consume('tok', 100, rule(1000, 1e9));
      expect(first).toMatchObject({ allowed: true, remaining: 900, retryAfterMs: 0 });
      expect((await s.adjust('tok', 50, rule(1000, 1e9), first.ticket)).remaining).toBe(850);
      expect((await s.adjust('tok', -120, rule(1000, 1e9), first.ticket)).remaining).toBe(970);
      // Past the limit: the next request waits.
      expect((await s.adjust('tok', 2000, rule(1000, 1e9), first.ticket)).remaining).toBe(0);
      const denied = await s.consume('tok', 1, rule(1000, 1e9));
      expect(denied.allowed).toBe(false);
      expect(denied.retryAfterMs).toBeGreaterThan(0);
    });

    test('capacity comes back after the window', async () => {
      const r = rule(2, 300);
      const t0 = await s.time();
      expect((await s.consume('w', 1, r)).allowed).toBe(true);
      expect((await s.consume('w', 1, r)).allowed).toBe(true);
      const third = await s.consume('w', 1, r);
      // Only meaningful if the machine was fast enough to make three calls within the window.
      if ((await s.time()) - t0 < 250) {
        expect(third.allowed).toBe(false);
        expect(third.retryAfterMs).toBeGreaterThan(0);
        expect(third.retryAfterMs).toBeLessThanOrEqual(300);
        expect(third.resetMs).toBeLessThanOrEqual(300);
      }
      expect(await eventually(async () => (await s.consume('w', 1, r)).allowed)).toBe(true);
    });
  });

  test('a sliding-window refund corrects the original entry', async () => {
    const r: RateLimitRule = { limit: 100, windowMs: HOUR };
    const a = await s.consume('sw', 60, r);
    await s.consume('sw', 30, r);
    expect((await s.adjust('sw', -50, r, a.ticket)).remaining).toBe(60);
    // Without a (live) ticket a refund has nothing to correct; a charge is recorded now.
    expect((await s.adjust('sw', -5, r, null)).remaining).toBe(60);
    expect((await s.adjust('sw', 5, r, 'no:such')).remaining).toBe(55);
  });

  test('consumeMany charges all limits or none', async () => {
    const checks = [
      { key: 'key:rpm', cost: 1, rule: { limit: 5, windowMs: HOUR } },
      { key: 'user:rpm', cost: 1, rule: { limit: 3, windowMs: HOUR, algorithm: 'token-bucket' as const } },
    ];
    const res = await Promise.all(Array.from({ length: 12 }, () => s.consumeMany(checks)));
    expect(res.filter((r) => r.allowed)).toHaveLength(3);
    const denied = res.find((r) => !r.allowed)!;
    expect(denied.denied).toBe(1);
    expect(denied.results[0]!.allowed).toBe(true); // would pass alone, but was not charged
    expect((await s.peek('key:rpm', checks[0]!.rule)).remaining).toBe(2);
  });

  test('checkRates answers as consumeMany would and charges nothing', async () => {
    const checks = [
      { key: 'chk:rpm', cost: 1, rule: { limit: 2, windowMs: HOUR } },
      { key: 'chk:tb', cost: 1, rule: { limit: 4, windowMs: HOUR, algorithm: 'token-bucket' as const } },
    ];
    const open = await s.checkRates(checks);
    expect(open).toMatchObject({ allowed: true, denied: -1 });
    expect(open.results.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 2],
      [true, 4],
    ]);
    expect((await s.peek('chk:rpm', checks[0]!.rule)).remaining).toBe(2);
    expect((await s.consumeMany(checks)).allowed).toBe(true);
    expect((await s.consumeMany(checks)).allowed).toBe(true);
    const full = await s.checkRates(checks);
    expect(full).toMatchObject({ allowed: false, denied: 0 });
    expect(full.results[0]).toMatchObject({ allowed: false, remaining: 0 });
    expect(full.results[0]!.retryAfterMs).toBeGreaterThan(0);
    expect(full.results[1]).toMatchObject({ allowed: true, remaining: 2, ticket: null });
    // Refusing changed nothing either.
    expect((await s.peek('chk:tb', checks[1]!.rule)).remaining).toBe(2);
  });

  describe('budgets', () => {
    const lines = (userLimit: number): BudgetLine[] => [
      { counter: 'key:k1', limit: 1_000 },
      { counter: { key: 'user:u1', window: 'day' }, limit: userLimit },
      { counter: { key: 'tenant:t1', window: 'month' }, limit: 5_000 },
      { counter: 'app:a1' },
    ];

    test('200 concurrent reservers never overspend and exactly fill the tightest budget', async () => {
      const peer = await h.peer();
      const res = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? peer : s).reserve(lines(700), 7)),
      );
      const ok = res.flatMap((r) => (r.ok ? [r.reservation] : []));
      expect(ok).toHaveLength(100);
      for (const r of res) if (!r.ok) expect(r).toMatchObject({ reason: 'limit', index: 1, limit: 700 });
      expect(await s.getBudget({ key: 'user:u1', window: 'day' })).toEqual({ spent: 0, reserved: 700 });
      expect(await s.getBudget('key:k1')).toEqual({ spent: 0, reserved: 700 });
      expect(await s.getBudget('app:a1')).toEqual({ spent: 0, reserved: 700 });

      const outcomes = await Promise.all(ok.map((r, i) => (i % 2 ? s.settle(r, 5) : s.release(r))));
      expect(outcomes.every((o) => o === 'settled')).toBe(true);
      expect(await s.getBudget({ key: 'tenant:t1', window: 'month' })).toEqual({ spent: 250, reserved: 0 });
      expect(await s.getBudget({ key: 'user:u1', window: 'day' })).toEqual({ spent: 250, reserved: 0 });
    });

    test('settle, release and extend arithmetic', async () => {
      const one: BudgetLine[] = [{ counter: 'b', limit: 100 }];
      const a = await reserveOk(s, one, 30);
      const b = await reserveOk(s, one, 50);
      const denied = await s.reserve(one, 21);
      expect(denied).toMatchObject({
        ok: false,
        reason: 'limit',
        key: 'b',
        spent: 0,
        reserved: 80,
        retryAfterMs: null,
      });
      expect(await s.settle(a, 45)).toBe('settled'); // actual may exceed the reservation
      expect(await s.getBudget('b')).toEqual({ spent: 45, reserved: 50 });
      expect(await s.settle(a, 45)).toBe('unknown'); // never charged twice
      const grown = await s.extend(b, 5);
      expect(grown).toMatchObject({ ok: true, remaining: [0] });
      if (grown.ok) expect(grown.reservation.amount).toBe(55);
      expect(await s.extend(b, 1)).toMatchObject({ ok: false, reason: 'limit', index: 0 });
      expect(await s.release(b)).toBe('settled');
      expect(await s.getBudget('b')).toEqual({ spent: 45, reserved: 0 });
      expect(await s.extend(b, 1)).toEqual({ ok: false, reason: 'expired' });
    });

    test('soft lines allow and flag; remaining goes negative', async () => {
      const r = await s.reserve(
        [
          { counter: 'hard', limit: 100 },
          { counter: 'soft', limit: 10, soft: true },
        ],
        15,
      );
      expect(r).toMatchObject({ ok: true, remaining: [85, -5], softExceeded: [1] });
    });

    test('missing counters are reported for seeding from the ledger', async () => {
      const two: BudgetLine[] = [
        { counter: { key: 'k', window: 'day' }, limit: 100 },
        { counter: 'u', limit: 100 },
      ];
      expect(await s.reserve(two, 10, { onMissing: 'report' })).toEqual({
        ok: false,
        reason: 'missing',
        missing: [0, 1],
      });
      expect(await s.getBudget('u')).toBeNull();
      expect(await s.seedBudget({ key: 'k', window: 'day' }, 95)).toBe(true);
      expect(await s.seedBudget({ key: 'k', window: 'day' }, 0)).toBe(false);
      expect(await s.reserve(two, 10, { onMissing: 'report' })).toMatchObject({ missing: [1] });
      await s.seedBudget('u', 0);
      const denied = await s.reserve(two, 10, { onMissing: 'report' });
      expect(denied).toMatchObject({ ok: false, reason: 'limit', index: 0, spent: 95 });
      if (!denied.ok && denied.reason === 'limit') {
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        expect(denied.retryAfterMs).toBeLessThanOrEqual(86_400_000);
      }
    });

    test('reservations resolve window buckets by the backend clock', async () => {
      const before = await s.time();
      const r = await reserveOk(
        s,
        [{ counter: { key: 'ten', window: 'month' } }, { counter: { key: 'u', window: 'day' } }],
        1,
      );
      const after = await s.time();
      const expected = (ms: number) => [
        windowKey({ key: 'ten', window: 'month' }, ms),
        windowKey({ key: 'u', window: 'day' }, ms),
      ];
      expect([expected(before), expected(after)]).toContainEqual(r.keys);
      expect(r.keys[1]).toMatch(/^u:d\d{4}-\d{2}-\d{2}$/);
    });

    test('a hold whose owner never settles lapses; a late settle still charges once', async () => {
      const r = await reserveOk(s, [{ counter: 'lapse', limit: 10 }], 10, 30);
      expect(await eventually(async () => (await s.getBudget('lapse'))?.reserved === 0)).toBe(true);
      expect(await s.extend(r, 1)).toEqual({ ok: false, reason: 'expired' });
      expect(await s.settle(r, 4)).toBe('late');
      expect(await s.settle(r, 4)).toBe('unknown');
      expect(await s.getBudget('lapse')).toEqual({ spent: 4, reserved: 0 });
    });
  });

  describe('admit', () => {
    const rpm = (limit: number): RateCheck => ({ key: 'key:rpm', cost: 1, rule: { limit, windowMs: HOUR } });
    const tpm: RateCheck = {
      key: 'key:tpm',
      cost: 500,
      rule: { limit: 10_000, windowMs: HOUR, algorithm: 'token-bucket' },
    };
    const budget = (limit: number) => ({
      lines: [{ counter: { key: 'key:b', window: 'day' as const }, limit }],
      amount: 10,
    });

    test('charges rate limits, takes slots and holds the budget in one step', async () => {
      const r = await s.admit({
        rate: [rpm(5), tpm],
        slots: [{ key: 'cc', max: 2, leaseMs: HOUR }],
        budget: budget(100),
      });
      if (!r.ok) throw new Error(`expected admission: ${JSON.stringify(r)}`);
      expect(r.rate.map((x) => x.remaining)).toEqual([4, 9_500]);
      expect(r.rate[0]!.ticket).not.toBeNull();
      expect(r.leases).toHaveLength(1);
      expect(r.hold).toMatchObject({ ok: true, remaining: [90], reservation: { amount: 10 } });
      expect(await s.getBudget({ key: 'key:b', window: 'day' })).toEqual({ spent: 0, reserved: 10 });
      expect(await s.releaseLease(r.leases[0]!)).toBe(true);
      expect(await s.settle(r.hold!.reservation, 7)).toBe('settled');
      expect(await s.admit({})).toEqual({ ok: true, rate: [], leases: [], hold: null });
    });

    test('a denied request is charged nothing', async () => {
      await s.acquire('busy', 1, HOUR);
      const bySlot = await s.admit({
        rate: [rpm(5)],
        slots: [{ key: 'busy', max: 1, leaseMs: HOUR }],
        budget: budget(100),
      });
      expect(bySlot).toMatchObject({ ok: false, denied: 'concurrency', index: 0, active: 1, max: 1 });
      const byBudget = await s.admit({
        rate: [rpm(5), tpm],
        slots: [{ key: 'free', max: 1, leaseMs: HOUR }],
        budget: budget(5),
      });
      expect(byBudget).toMatchObject({
        ok: false,
        denied: 'budget',
        budget: { reason: 'limit', index: 0, limit: 5 },
      });
      if (!byBudget.ok) expect(byBudget.rate.map((x) => x.remaining)).toEqual([5, 10_000]);
      expect((await s.peek('key:rpm', rpm(5).rule)).remaining).toBe(5);
      expect((await s.peek('key:tpm', tpm.rule)).remaining).toBe(10_000);
      expect(await s.getBudget({ key: 'key:b', window: 'day' })).toBeNull();
      expect((await s.acquire('free', 1, HOUR)).ok).toBe(true);
      const missing = await s.admit({ budget: { ...budget(100), onMissing: 'report' } });
      expect(missing).toMatchObject({
        ok: false,
        denied: 'budget',
        budget: { reason: 'missing', missing: [0] },
      });
      const byRate = await s.admit({ rate: [rpm(5), { ...tpm, cost: 20_000 }] });
      expect(byRate).toMatchObject({ ok: false, denied: 'rate', index: 1 });
      if (!byRate.ok) expect(byRate.rate[1]!.retryAfterMs).toBeNull();
    });

    test('under concurrency across replicas the tightest limit admits exactly, and only admitted requests are charged', async () => {
      const peer = await h.peer();
      const many = (req: Parameters<SharedState['admit']>[0]) =>
        Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? peer : s).admit(req)));
      const byRate = await many({ rate: [rpm(30)], budget: budget(1_000) });
      expect(byRate.filter((r) => r.ok)).toHaveLength(30);
      expect(await s.getBudget({ key: 'key:b', window: 'day' })).toEqual({ spent: 0, reserved: 300 });
      const byBudget = await many({ rate: [{ ...rpm(1_000), key: 'other:rpm' }], budget: budget(500) });
      expect(byBudget.filter((r) => r.ok)).toHaveLength(20);
      expect((await s.peek('other:rpm', rpm(1_000).rule)).remaining).toBe(980);
    });
  });

  describe('concurrency leases', () => {
    test('at most max holders; release frees a slot', async () => {
      const peer = await h.peer();
      const res = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? peer : s).acquire('cc', 3, HOUR)),
      );
      const held = res.flatMap((r) => (r.ok ? [r.lease] : []));
      expect(held).toHaveLength(3);
      expect(res.find((r) => !r.ok)).toMatchObject({ ok: false, active: 3, max: 3 });
      expect(await peer.releaseLease(held[0]!)).toBe(true);
      expect(await s.releaseLease(held[0]!)).toBe(false);
      expect((await s.acquire('cc', 3, HOUR)).ok).toBe(true);
    });

    test('a lease whose holder died expires', async () => {
      const first = await s.acquire('dead', 1, 30);
      expect(first.ok).toBe(true);
      // One slot, never released: getting it again proves the dead holder's lease expired.
      expect(await eventually(async () => (await s.acquire('dead', 1, HOUR)).ok)).toBe(true);
      if (first.ok) {
        expect(await s.renewLease(first.lease, HOUR)).toBeNull();
        expect(await s.releaseLease(first.lease)).toBe(false);
      }
    });

    test('renew extends a live lease', async () => {
      const a = await s.acquire('renew', 1, HOUR);
      if (!a.ok) throw new Error('expected a lease');
      const renewed = await s.renewLease(a.lease, 2 * HOUR);
      expect(renewed?.expiresAt).toBeGreaterThan(a.lease.expiresAt);
    });
  });

  describe('cache', () => {
    test('miss, hit, overwrite, delete; strings and Buffers come back as stored', async () => {
      expect(await s.cacheGet('a')).toBeNull();
      await s.cacheSet('a', 'héllo ✓', HOUR);
      expect(await s.cacheGet('a')).toBe('héllo ✓');
      await s.cacheSet('a', '', HOUR);
      expect(await s.cacheGet('a')).toBe('');
      const bin = Buffer.from([0, 1, 0xff, 0xfe, 0x80, 0, 10, 13]);
      await s.cacheSet('b', bin, HOUR);
      const got = await s.cacheGet('b');
      expect(Buffer.isBuffer(got)).toBe(true);
      expect(Buffer.compare(got as Buffer, bin)).toBe(0);
      bin[0] = 9; // the cache holds its own copy
      expect(((await s.cacheGet('b')) as Buffer)[0]).toBe(0);
      expect(await s.cacheDelete('b')).toBe(true);
      expect(await s.cacheDelete('b')).toBe(false);
      expect(await s.cacheGet('b')).toBeNull();
    });

    test('entries expire', async () => {
      await s.cacheSet('ttl', 'x', 30);
      expect(await eventually(async () => (await s.cacheGet('ttl')) === null)).toBe(true);
    });

    test('replicas see the same entries', async () => {
      const peer = await h.peer();
      await s.cacheSet('shared', Buffer.from('abc'), HOUR);
      expect(await peer.cacheGet('shared')).toEqual(Buffer.from('abc'));
    });
  });
});

async function reserveOk(
  s: SharedState,
  lines: BudgetLine[],
  amount: number,
  leaseMs?: number,
): Promise<Reservation> {
  const r = await s.reserve(lines, amount, leaseMs === undefined ? {} : { leaseMs });
  if (!r.ok) throw new Error(`expected the reservation to pass: ${JSON.stringify(r)}`);
  return r.reservation;
}
