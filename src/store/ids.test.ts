import { describe, expect, it } from 'vitest';
import { idTime, isSafeId, newId } from './ids.ts';

describe('ids', () => {
  it('are prefixed, safe identifiers of a fixed length', () => {
    const id = newId('key');
    expect(id).toMatch(/^key_[0-9a-z]{26}$/);
    expect(isSafeId(id)).toBe(true);
  });

  it('sort by creation time and carry it', () => {
    const before = Date.now();
    const a = newId('req');
    const t = idTime(a)?.getTime() ?? 0;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
    // Same prefix, later millisecond: sorts after.
    const later = `req_${'z'.repeat(10)}${'0'.repeat(16)}`;
    expect([later, a].sort()).toEqual([a, later]);
  });

  it('do not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('x')));
    expect(ids.size).toBe(10_000);
  });

  it('reject unsafe prefixes and recognise unsafe ids', () => {
    expect(() => newId('Key')).toThrow();
    expect(() => newId('a-b')).toThrow();
    expect(() => newId('')).toThrow();
    expect(isSafeId("col_x'; drop table chunks; --")).toBe(false);
    expect(isSafeId('COL_abc')).toBe(false);
    expect(idTime('nope')).toBeUndefined();
  });
});
