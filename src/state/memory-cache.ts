import { checkInt, checkKey } from './common.ts';
import type { CacheValue } from './types.ts';

interface Entry {
  v: CacheValue;
  exp: number;
  size: number;
}

/** A TTL cache bounded in bytes; the least recently used entries go first (Map order is recency). */
export class MemoryCache {
  #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string, now: number): CacheValue | null {
    const e = this.#entries.get(key);
    if (!e) return null;
    if (e.exp <= now) {
      this.#drop(key);
      return null;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return typeof e.v === 'string' ? e.v : Buffer.from(e.v);
  }

  set(key: string, value: CacheValue, ttlMs: number, now: number): void {
    checkKey(key);
    checkInt('ttlMs', ttlMs, 1);
    this.#drop(key);
    // Copied so a caller reusing its buffer cannot change what is cached, as with Redis.
    const v = typeof value === 'string' ? value : Buffer.from(value);
    const size = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
    if (size > this.#maxBytes) return;
    this.#entries.set(key, { v, exp: now + ttlMs, size });
    this.#bytes += size;
    for (const k of this.#entries.keys()) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(k);
    }
  }

  delete(key: string, now: number): boolean {
    const e = this.#entries.get(key);
    this.#drop(key);
    return e !== undefined && e.exp > now;
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.size;
  }

  sweep(now: number): void {
    for (const [k, e] of this.#entries) if (e.exp <= now) this.#drop(k);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
