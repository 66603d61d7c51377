import { runOutsideTransaction } from '../store/tx-scope.ts';
import type { Trace } from './types.ts';

export interface TraceBatcherOptions {
  /** Send as soon as this many traces are waiting; also the most per send. */
  batchSize: number;
  /** Most traces held in memory; past it the oldest are dropped and counted. */
  maxQueue: number;
  /** Send at least this often while traces are waiting. */
  intervalMs: number;
  send(batch: Trace[]): Promise<void>;
  /** Called when a batch could not be sent (the batch is dropped and counted). */
  onError?: ((error: unknown, lost: number) => void) | undefined;
}

export interface TraceBatcherStats {
  sent: number;
  /** Dropped because the queue was full or the batcher closed. */
  dropped: number;
  /** Lost because their send failed. */
  failed: number;
  queued: number;
}

/**
 * Finished traces on their way somewhere (the store, an OTLP collector), off the request path:
 * `write` only appends to a bounded queue, and batches go out as soon as one is full, else once per
 * interval. When the destination cannot keep up, the oldest traces are dropped (and counted) rather
 * than slowing requests down or growing memory without bound. One send runs at a time.
 */
export class TraceBatcher {
  readonly #opts: TraceBatcherOptions;
  #queue: Trace[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #closed = false;
  #stats = { sent: 0, dropped: 0, failed: 0 };

  constructor(opts: TraceBatcherOptions) {
    const batchSize = Math.max(1, opts.batchSize);
    this.#opts = {
      ...opts,
      batchSize,
      maxQueue: Math.max(batchSize, opts.maxQueue),
      intervalMs: Math.max(1, opts.intervalMs),
    };
  }

  write(trace: Trace): void {
    if (this.#closed) {
      this.#stats.dropped++;
      return;
    }
    this.#queue.push(trace);
    if (this.#queue.length > this.#opts.maxQueue) {
      this.#queue.shift();
      this.#stats.dropped++;
    }
    if (this.#queue.length >= this.#opts.batchSize) this.#kick();
    else this.#arm();
  }

  /** Resolves once every trace written so far has been sent (or counted as failed). */
  async flush(): Promise<void> {
    // Loop: traces written while a batch was in flight are part of "everything so far".
    for (let rounds = 0; rounds < 1_000_000 && (this.#queue.length > 0 || this.#sending); rounds++) {
      this.#kick(true);
      await this.#sending;
    }
  }

  /** Flushes, then drops (and counts) whatever is written later. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get stats(): TraceBatcherStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  #arm(): void {
    if (this.#timer || this.#sending) return;
    // Detached from any caller's transaction scope: the send is an independent store caller.
    this.#timer = runOutsideTransaction(() => setTimeout(() => this.#kick(true), this.#opts.intervalMs));
    // Waiting traces must not keep the process alive; close() flushes on shutdown.
    this.#timer.unref();
  }

  /** Starts sending (full batches, or everything with `all`), unless a send runs (it picks the rest up). */
  #kick(all = false): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#sending || this.#queue.length === 0) return;
    this.#sending = runOutsideTransaction(() => this.#drain(all));
  }

  async #drain(all: boolean): Promise<void> {
    const { batchSize } = this.#opts;
    try {
      // Only full batches go back to back; a partial tail waits for the timer, so a trickle of
      // traces becomes one send per interval instead of one per trace.
      do {
        const batch = this.#queue.splice(0, batchSize);
        try {
          await this.#opts.send(batch);
          this.#stats.sent += batch.length;
        } catch (e) {
          this.#stats.failed += batch.length;
          try {
            this.#opts.onError?.(e, batch.length);
          } catch {
            // A failing error hook must not turn into an unhandled rejection.
          }
        }
      } while (this.#queue.length >= batchSize || ((all || this.#closed) && this.#queue.length > 0));
    } finally {
      this.#sending = undefined;
      if (this.#queue.length > 0) this.#arm();
    }
  }
}
