import type { Queryable } from '../store/db.ts';
import { insertTraces } from '../store/queries/traces.ts';
import { TraceBatcher } from './batcher.ts';
import type { TelemetrySink, Trace } from './types.ts';

export type { TelemetrySink } from './types.ts';

export interface StoreTraceSinkOptions {
  /** Write at least this often while traces are waiting (default 1000 ms). */
  flushIntervalMs?: number;
  /** Write as soon as this many traces are waiting; also the most per insert (default 200). */
  batchSize?: number;
  /** Most traces held in memory; past it the oldest are dropped and counted (default 10000). */
  maxQueue?: number;
  /** Called when a batch could not be stored (the batch is dropped and counted). */
  onError?: (error: unknown, lost: number) => void;
}

export interface TraceSinkStats {
  written: number;
  /** Dropped because the queue was full or the sink closed. */
  dropped: number;
  /** Lost because their insert failed. */
  failed: number;
  queued: number;
}

/**
 * Stores traces in batches, off the request path (see `TraceBatcher`): when the store cannot keep
 * up, the oldest traces are dropped (and counted) rather than slowing requests down.
 */
export class StoreTraceSink implements TelemetrySink {
  readonly #batcher: TraceBatcher;

  constructor(db: Queryable, opts: StoreTraceSinkOptions = {}) {
    this.#batcher = new TraceBatcher({
      batchSize: opts.batchSize ?? 200,
      maxQueue: opts.maxQueue ?? 10_000,
      intervalMs: opts.flushIntervalMs ?? 1000,
      send: async (batch) => {
        await insertTraces(db, batch);
      },
      onError: opts.onError,
    });
  }

  write(trace: Trace): void {
    this.#batcher.write(trace);
  }

  flush(): Promise<void> {
    return this.#batcher.flush();
  }

  close(): Promise<void> {
    return this.#batcher.close();
  }

  get stats(): TraceSinkStats {
    const { sent, ...rest } = this.#batcher.stats;
    return { written: sent, ...rest };
  }
}

/** Keeps traces in memory; for tests and for running without a store. */
export class MemoryTraceSink implements TelemetrySink {
  readonly traces: Trace[] = [];
  #closed = false;

  write(trace: Trace): void {
    if (!this.#closed) this.traces.push(trace);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
  }
}
