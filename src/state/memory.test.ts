import { afterEach, describe, expect, it } from 'vitest';
import { windowBucket, windowKey } from './common.ts';
import { MemorySharedState } from './memory.ts';

describe('windowBucket', () => {
  it('names UTC day and month buckets and their ends', () => {
    const t = Date.parse('2024-12-31T23:59:59.999Z');
    expect(windowBucket('day', t)).toEqual({
      suffix: ':d2024-12-31',
      endMs: Date.parse('2025-01-01T00:00:00Z'),
    });
    expect(windowBucket('month', t)).toEqual({
      suffix: ':m2024-12',
      endMs: Date.parse('2025-01-01T00:00:00Z'),
    });
    expect(windowBucket('day', t + 1).suffix).toBe(':d2025-01-01');
    expect(windowKey({ key: 'user:7', window: 'month' }, Date.parse('2024-02-29T10:00:00Z'))).toBe(
      'user:7:m2024-02',
    );
    expect(windowKey('plain', t)).toBe('plain');
  });
});

describe('MemorySharedState cache', () => {
  let s: MemorySharedState | undefined;
  afterEach(async () => {
    await s?.close();
  });

  it('evicts the least recently used entries past its byte bound', async () => {
    s = new MemorySharedState({ maxCacheBytes: 10 });
    await s.cacheSet('a', '1234', 60_000);
    await s.cacheSet('b', '1234', 60_000);
    await s.cacheGet('a'); // a is now more recent than b
    await s.cacheSet('c', '1234', 60_000);
    expect(await s.cacheGet('b')).toBeNull();
    expect(await s.cacheGet('a')).toBe('1234');
    expect(await s.cacheGet('c')).toBe('1234');
    await s.cacheSet('huge', 'x'.repeat(11), 60_000);
    expect(await s.cacheGet('huge')).toBeNull();
    expect(await s.cacheGet('a')).toBe('1234');
  });
});
