import type { SharedState } from '../../state/types.ts';
import { type CachedAnswer, parseAnswer } from './types.ts';

export interface ExactCacheOptions {
  ttlMs: number;
  maxEntryBytes: number;
}

/** Answers by exact (normalised) request, per tenant, in SharedState with a TTL. */
export class ExactCache {
  readonly #state: SharedState;
  readonly #opts: ExactCacheOptions;

  constructor(state: SharedState, opts: ExactCacheOptions) {
    this.#state = state;
    this.#opts = opts;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    return parseAnswer(await this.#state.cacheGet(key));
  }

  async set(key: string, answer: CachedAnswer): Promise<void> {
    const value = JSON.stringify(answer);
    if (Buffer.byteLength(value) > this.#opts.maxEntryBytes) return;
    await this.#state.cacheSet(key, value, this.#opts.ttlMs);
  }
}
