import type { Db } from '../store/db.ts';
import { deleteTracesOlderThan, vacuumTraces } from '../store/queries/stats.ts';

/**
 * Trace retention: deletes traces older than `retentionDays`, in batches (`deleteTracesOlderThan`),
 * once shortly after start and then every `intervalMs`. On PGlite, which has no autovacuum, a pass
 * also vacuums the table when it deleted something or when `vacuumEvery` traces were stored since the
 * last vacuum, so the stats queries stay index-only (they read the visibility map) and the planner's
 * statistics stay current. Every replica may run it: deleting what another replica already deleted
 * is a no-op.
 */

export interface RetentionOptions {
  /** 0 keeps traces forever (no timer at all). */
  retentionDays: number;
  /** Between passes (default 1 hour). */
  intervalMs?: number | undefined;
  /** Before the first pass (default 60 s, so start-up is not slowed). */
  firstDelayMs?: number | undefined;
  batchSize?: number | undefined;
  /** Traces stored so far by this process (the store sink's count); enables the PGlite vacuum by growth. */
  written?: (() => number) | undefined;
  /** On PGlite: vacuum once this many traces were stored since the last vacuum (default 20,000). */
  vacuumEvery?: number | undefined;
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
  const written = db.engine === 'pglite' ? opts.written : undefined;
  const vacuumEvery = Math.max(1, opts.vacuumEvery ?? 20_000);
  let vacuumedAt = 0;
  let running: Promise<number> | undefined;
  let stopped = false;
  const pass = async (): Promise<number> => {
    let n = 0;
    if (opts.retentionDays > 0) {
      const cutoff = new Date(now() - opts.retentionDays * DAY_MS);
      n = await deleteTracesOlderThan(db, cutoff, { batchSize: opts.batchSize ?? 5_000 });
    }
    const grown = written ? written() - vacuumedAt : 0;
    if (db.engine === 'pglite' && !stopped && (n > 0 || grown >= vacuumEvery)) {
      const count = written?.() ?? 0;
      await vacuumTraces(db);
      vacuumedAt = count;
    }
    return n;
  };
  const runOnce = (): Promise<number> => {
    if (opts.retentionDays <= 0 && !written) return Promise.resolve(0);
    // One pass at a time; cleared once settled (a pass may finish without awaiting anything).
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    runOnce().catch((e: unknown) => opts.onError?.(e));
  };
  let first: NodeJS.Timeout | undefined;
  let every: NodeJS.Timeout | undefined;
  if (opts.retentionDays > 0 || written) {
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
