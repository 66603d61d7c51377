import type { Queryable } from '../store/db.ts';
import { insertTraces } from '../store/queries/traces.ts';
import { runOutsideTransaction } from '../store/tx-scope.ts';
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
 * Stores traces in batches, off the request path. `write` only appends to a bounded in-memory
 * queue: when the store cannot keep up, the oldest traces are dropped (and counted) rather than
 * slowing requests down or growing memory without bound.
 */
export class StoreTraceSink implements TelemetrySink {
  readonly #db: Queryable;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #maxQueue: number;
  readonly #onError: ((error: unknown, lost: number) => void) | undefined;
  #queue: Trace[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #stats = { written: 0, dropped: 0, failed: 0 };

  constructor(db: Queryable, opts: StoreTraceSinkOptions = {}) {
    this.#db = db;
    this.#intervalMs = Math.max(1, opts.flushIntervalMs ?? 1000);
    this.#batchSize = Math.max(1, opts.batchSize ?? 200);
    this.#maxQueue = Math.max(this.#batchSize, opts.maxQueue ?? 10_000);
    this.#onError = opts.onError;
  }

  write(trace: Trace): void {
    if (this.#closed) {
      this.#stats.dropped++;
      return;
    }
    this.#queue.push(trace);
    if (this.#queue.length > this.#maxQueue) {
      this.#queue.shift();
      this.#stats.dropped++;
    }
    if (this.#queue.length >= this.#batchSize) this.#kick();
    else this.#arm();
  }

  async flush(): Promise<void> {
    // Loop: traces written while a batch was in flight are part of "everything so far".
    for (let rounds = 0; rounds < 1_000_000 && (this.#queue.length > 0 || this.#writing); rounds++) {
      this.#kick();
      await this.#writing;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get stats(): TraceSinkStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  #arm(): void {
    if (this.#timer || this.#writing) return;
    this.#timer = runOutsideTransaction(() => setTimeout(() => this.#kick(), this.#intervalMs));
    // A pending trace batch must not keep the process alive; close() flushes on shutdown.
    this.#timer.unref();
  }

  /** Starts a write of everything queued, unless one is already running (it picks the rest up). */
  #kick(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = runOutsideTransaction(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      // Only full batches are written back to back; a partial tail waits for the timer, so a
      // trickle of traces becomes one insert per interval instead of one per trace.
      do {
        const batch = this.#queue.splice(0, this.#batchSize);
        try {
          await insertTraces(this.#db, batch);
          this.#stats.written += batch.length;
        } catch (e) {
          this.#stats.failed += batch.length;
          try {
            this.#onError?.(e, batch.length);
          } catch {
            // A failing error hook must not turn into an unhandled rejection.
          }
        }
      } while (this.#queue.length >= this.#batchSize || (this.#closed && this.#queue.length > 0));
    } finally {
      this.#writing = undefined;
      if (this.#queue.length > 0) this.#arm();
    }
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
