import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeelError } from '../src/errors.ts';
import { windowBucket } from '../src/state/common.ts';
import { openSharedState } from '../src/state/open.ts';
import { PRELUDE } from '../src/state/redis-scripts.ts';
import { REDIS_URL } from './helpers/state.ts';

/** What only the Redis backend has: Lua calendar math, key hygiene, connection failures. */
describe.skipIf(!REDIS_URL)('SharedState on Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(REDIS_URL!, { lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('computes the same UTC day and month buckets in Lua as in TypeScript', async () => {
    const instants = [
      '1970-01-01T00:00:00.000Z',
      '1999-12-31T23:59:59.999Z',
      '2000-02-29T12:00:00.000Z', // leap (divisible by 400)
      '2000-03-01T00:00:00.000Z',
      '2023-02-28T23:59:59.999Z',
      '2024-02-29T00:00:00.000Z', // leap
      '2024-12-31T23:59:59.999Z',
      '2025-01-01T00:00:00.000Z',
      '2025-06-30T23:59:59.999Z',
      '2100-02-28T23:59:59.999Z', // not leap (divisible by 100)
      '2100-03-01T00:00:00.000Z',
    ].map((iso) => Date.parse(iso));
    for (
      let t = Date.parse('2023-01-01T00:00:00Z');
      t < Date.parse('2029-01-01T00:00:00Z');
      t += 86_400_000 * 7 + 3_599_999
    ) {
      instants.push(t);
    }
    const lua = `${PRELUDE}\nlocal out = {}\nfor i = 2, #ARGV do\n  local s, e = bucket(ARGV[1], tonumber(ARGV[i]))\n  out[#out + 1] = s .. '|' .. e\nend\nreturn out`;
    for (const window of ['day', 'month'] as const) {
      const got = (await redis.eval(lua, 0, window, ...instants.map(String))) as string[];
      const want = instants.map((t) => {
        const b = windowBucket(window, t);
        return `${b.suffix}|${b.endMs}`;
      });
      expect(got).toEqual(want);
    }
    expect(windowBucket('month', Date.parse('2024-02-10T00:00:00Z'))).toEqual({
      suffix: ':m2024-02',
      endMs: Date.parse('2024-03-01T00:00:00Z'),
    });
  });

  it('keeps every key under its prefix and leaves no hold records behind', async () => {
    const prefix = `keel_test:${randomBytes(6).toString('hex')}:`;
    const s = await openSharedState({ redisUrl: REDIS_URL, prefix });
    try {
      const r = await s.reserve([{ counter: 'k', limit: 10 }, { counter: { key: 'u', window: 'day' } }], 3);
      if (!r.ok) throw new Error('expected a reservation');
      expect(await redis.exists(`${prefix}h:${r.reservation.id}`)).toBe(1);
      await s.settle(r.reservation, 2);
      await s.consume('rl', 1, { limit: 5, windowMs: 60_000 });
      await s.acquire('cc', 2, 60_000);
      await s.cacheSet('c', 'v', 60_000);
      await s.incrBy('n', 1);
      const keys = (await redis.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).sort();
      expect(keys).toEqual([
        'b:k',
        expect.stringMatching(/^b:u:d\d{4}-\d{2}-\d{2}$/),
        'c:n',
        'cc:cc',
        'k:c',
        'sw:rl',
        'swm:rl',
      ]);
      // A windowed bucket expires a day after its window; a plain budget never does.
      expect(await redis.pttl(`${prefix}${keys[1]}`)).toBeGreaterThan(86_400_000);
      expect(await redis.pttl(`${prefix}b:k`)).toBe(-1);
    } finally {
      await s.close();
      const left = await redis.keys(`${prefix}*`);
      if (left.length > 0) await redis.del(...left);
    }
  });

  it('fails with `unavailable` when Redis cannot be reached or is closed', async () => {
    const err = await openSharedState({ redisUrl: 'redis://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeelError);
    expect((err as KeelError).code).toBe('unavailable');
    const s = await openSharedState({
      redisUrl: REDIS_URL,
      prefix: `keel_test:${randomBytes(6).toString('hex')}:`,
    });
    await s.close();
    await expect(s.incrBy('x', 1)).rejects.toMatchObject({ code: 'unavailable' });
  });
});
