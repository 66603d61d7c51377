import type { Queryable } from '../store/db.ts';
import { insertUsage, type UsageEntry } from '../store/queries/usage.ts';
import { assertOutsideTransaction, runOutsideTransaction } from '../store/tx-scope.ts';

export interface UsageLedgerOptions {
  /** Most entries per insert statement; the rest wait for the next write (default 1000). */
  maxBatch?: number;
  /**
   * Under load, how long the first entry of a batch may wait for others to join it (default 2 ms).
   * A write runs as soon as an event-loop turn passes without a new entry, so a lone request
   * never waits for this.
   */
  maxWaitMs?: number;
}

interface Waiter {
  entry: UsageEntry;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * The durable record of what every request cost, written with group commit.
 *
 * `record` resolves once the entry is committed. At most one insert is in flight; entries that
 * arrive meanwhile wait together and go out as the next single multi-row insert, so N concurrent
 * requests share about one write instead of queueing N. A statement has a fixed cost (on PGlite,
 * which runs on this thread, about ten rows' worth), so before each write the ledger lets entries
 * gather turn by turn while they keep coming, up to `maxWaitMs`: a lone request is written after
 * one event-loop turn, a busy gateway writes a few large batches instead of many small ones.
 * Ids are request ids and the insert skips known ids, so retrying a rejected `record` never
 * double-charges.
 */
export class UsageLedger {
  readonly #db: Queryable;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  #queue: Waiter[] = [];
  #writing = false;
  #closed = false;
  #idle: Promise<void> = Promise.resolve();
  #resolveIdle: (() => void) | undefined;
  #stats = { entries: 0, writes: 0, failedWrites: 0 };

  constructor(db: Queryable, opts: UsageLedgerOptions = {}) {
    this.#db = db;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 1000);
    this.#maxWaitMs = Math.max(0, opts.maxWaitMs ?? 2);
  }

  record(entry: UsageEntry): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('usage ledger is closed'));
    // Awaiting the ledger inside a transaction would deadlock PGlite (the write needs the
    // connection the transaction holds); fail loudly instead.
    try {
      assertOutsideTransaction('ledger.record');
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      if (!this.#writing) this.#start();
    });
  }

  /** Resolves when every entry recorded so far has been written (or its write failed). */
  flush(): Promise<void> {
    return this.#idle;
  }

  /** Stops accepting entries and waits for the pending ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#idle;
  }

  /** Counters for /metrics: entries committed, insert statements run, inserts that failed. */
  get stats(): Readonly<{ entries: number; writes: number; failedWrites: number }> {
    return { ...this.#stats };
  }

  #start(): void {
    this.#writing = true;
    this.#idle = new Promise((r) => {
      this.#resolveIdle = r;
    });
    // Detached so that a first `record` made inside some caller's transaction still writes as an
    // independent caller; the microtask lets calls from the same tick join the first batch.
    runOutsideTransaction(() => queueMicrotask(() => void this.#drain()));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      await this.#gather();
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        await insertUsage(
          this.#db,
          batch.map((w) => w.entry),
        );
        this.#stats.writes++;
        this.#stats.entries += batch.length;
        for (const w of batch) w.resolve();
      } catch (e) {
        this.#stats.failedWrites++;
        for (const w of batch) w.reject(e);
      }
    }
    this.#writing = false;
    this.#resolveIdle?.();
  }

  /**
   * Waits while the batch is still growing. PGlite runs a query synchronously on this thread, so
   * without yielding to the event loop no other request could reach `record` during a write; each
   * macrotask turn lets the requests whose I/O is ready join. A turn that adds nothing, a full
   * batch or the deadline ends the wait.
   */
  async #gather(): Promise<void> {
    const deadline = performance.now() + this.#maxWaitMs;
    let seen = -1;
    while (this.#queue.length !== seen && this.#queue.length < this.#maxBatch) {
      seen = this.#queue.length;
      await new Promise<void>((r) => setImmediate(r));
      if (performance.now() >= deadline) return;
    }
  }
}
