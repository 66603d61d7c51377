import type { Db } from '../store/db.ts';
import { deleteTracesOlderThan, vacuumTraces } from '../store/queries/stats.ts';

/**
 * Trace retention: deletes traces older than `retentionDays`, in batches (`deleteTracesOlderThan`),
 * once shortly after start and then every `intervalMs`. On PGlite, which has no autovacuum, the
 * table is vacuumed after a pass that deleted something, so the stats queries stay index-only.
 * Every replica may run it: deleting what another replica already deleted is a no-op.
 */

export interface RetentionOptions {
  /** 0 keeps traces forever (no timer at all). */
  retentionDays: number;
  /** Between passes (default 1 hour). */
  intervalMs?: number | undefined;
  /** Before the first pass (default 60 s, so start-up is not slowed). */
  firstDelayMs?: number | undefined;
  batchSize?: number | undefined;
  onError?: ((e: unknown) => void) | undefined;
  now?: () => number;
}

export interface Retention {
  /** One pass now; resolves to the number of traces deleted. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function startRetention(db: Db, opts: RetentionOptions): Retention {
  const now = opts.now ?? Date.now;
  let running: Promise<number> | undefined;
  let stopped = false;
  const runOnce = (): Promise<number> => {
    if (opts.retentionDays <= 0) return Promise.resolve(0);
    running ??= (async () => {
      try {
        const cutoff = new Date(now() - opts.retentionDays * DAY_MS);
        const n = await deleteTracesOlderThan(db, cutoff, { batchSize: opts.batchSize ?? 5_000 });
        if (n > 0 && db.engine === 'pglite' && !stopped) await vacuumTraces(db);
        return n;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const tick = () => {
    runOnce().catch((e: unknown) => opts.onError?.(e));
  };
  let first: NodeJS.Timeout | undefined;
  let every: NodeJS.Timeout | undefined;
  if (opts.retentionDays > 0) {
    first = setTimeout(tick, opts.firstDelayMs ?? 60_000);
    first.unref();
    every = setInterval(tick, opts.intervalMs ?? 3_600_000);
    every.unref();
  }
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
      await running?.catch(() => undefined);
    },
  };
}
