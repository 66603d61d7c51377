import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemorySharedState } from '../../src/state/memory.ts';
import { RedisSharedState } from '../../src/state/redis.ts';
import type { SharedState } from '../../src/state/types.ts';

/**
 * The backends every `SharedState` contract suite runs against: memory always, Redis when
 * `REDIS_URL` is set. Each `open()` gets a fresh namespace; `peer()` opens another, independent
 * connection on the same namespace (a second replica; for memory, the same instance, since
 * in-process state is by definition one replica). `close()` closes both and deletes the namespace.
 */
export interface StateCase {
  name: 'memory' | 'redis';
  /** Why the backend is skipped, or undefined when it runs. */
  skip: string | undefined;
  open(): Promise<StateHandle>;
}

export interface StateHandle {
  state: SharedState;
  peer(): Promise<SharedState>;
  close(): Promise<void>;
}

export const REDIS_URL = process.env.REDIS_URL;

export const stateCases: StateCase[] = [
  {
    name: 'memory',
    skip: undefined,
    async open() {
      const state = new MemorySharedState();
      return { state, peer: async () => state, close: () => state.close() };
    },
  },
  {
    name: 'redis',
    skip: REDIS_URL ? undefined : 'REDIS_URL is not set: Redis SharedState contract tests skipped',
    async open() {
      const url = REDIS_URL!;
      const prefix = `keel_test:${randomBytes(6).toString('hex')}:`;
      const opened: SharedState[] = [];
      const openOne = async () => {
        const s = await RedisSharedState.open({ url, prefix });
        opened.push(s);
        return s;
      };
      const state = await openOne();
      return {
        state,
        peer: openOne,
        async close() {
          await Promise.all(opened.map((s) => s.close()));
          await dropPrefix(url, prefix);
        },
      };
    },
  },
];

async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await r.quit();
  }
}

/** Polls `probe` until it returns true, at most `tries` times `everyMs` apart; returns the last answer. */
export async function eventually(probe: () => Promise<boolean>, tries = 200, everyMs = 10): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

for (const c of stateCases) {
  if (c.skip) console.warn(`[skip] ${c.skip}`);
}
