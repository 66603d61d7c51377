import { MemorySharedState, type MemoryStateOptions } from './memory.ts';
import type { SharedState } from './types.ts';

export interface OpenSharedStateOptions extends MemoryStateOptions {
  /** `redis://` / `rediss://` URL; without it the state lives in this process (one replica). */
  redisUrl?: string | undefined;
  /** Key namespace in Redis (default `keel:`); replicas that share limits must share it. */
  prefix?: string | undefined;
  commandTimeoutMs?: number | undefined;
}

/** Opens the shared state: Redis when `redisUrl` is set (fails with `unavailable` if unreachable), else memory. */
export async function openSharedState(opts: OpenSharedStateOptions = {}): Promise<SharedState> {
  if (opts.redisUrl) {
    // Loaded only when configured: a process on in-memory state never loads the Redis client.
    const { RedisSharedState } = await import('./redis.ts');
    return RedisSharedState.open({
      url: opts.redisUrl,
      ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
      ...(opts.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: opts.commandTimeoutMs }),
    });
  }
  return new MemorySharedState(opts);
}

export { windowBucket, windowKey } from './common.ts';
export type * from './types.ts';
