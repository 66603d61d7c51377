import { AsyncLocalStorage } from 'node:async_hooks';
import { KeelError } from '../errors.ts';
import type { Queryable, SqlParam } from './db.ts';

/**
 * Tracks whether the current async context is inside an open `db.transaction`.
 *
 * Calling `db.query`/`db.transaction` from inside a transaction callback (instead of using its `tx`)
 * deadlocks PGlite forever: its single connection is held by the transaction that is awaiting the
 * call. On PostgreSQL the same mistake silently runs outside the transaction and can wait on the
 * transaction's own row locks. Both drivers therefore refuse it with a clear error.
 *
 * An enabled AsyncLocalStorage makes Node run an async hook for every promise and callback of the
 * process (a few percent of the gateway's CPU per request), so the storage is enabled only while some
 * transaction is open and disabled again when the last one ends. Outside transactions (the request
 * path: the ledger and trace writes are single statements) the checks cost one integer comparison.
 */
interface Scope {
  open: boolean;
}

const scope = new AsyncLocalStorage<Scope>();
/** Transactions open right now, in any context. */
let openCount = 0;

export function assertOutsideTransaction(what: string): void {
  if (openCount > 0 && scope.getStore()?.open) {
    throw new KeelError(
      'internal_error',
      `${what} called inside a db.transaction callback: use the transaction's handle (tx) instead; on PGlite this would deadlock`,
    );
  }
}

/** Runs `fn` as the body of a transaction: any `db.*` call from its async context is refused. */
export async function runInTransactionScope<T>(fn: () => Promise<T>): Promise<T> {
  const s: Scope = { open: true };
  openCount++;
  try {
    return await scope.run(s, fn);
  } finally {
    // Work spawned from the transaction that outlives it (timers, background flushes) may use db again.
    s.open = false;
    // Contexts made while no transaction was open carry no scope, which reads as "outside".
    if (--openCount === 0) scope.disable();
  }
}

/**
 * Runs `fn` detached from any enclosing transaction context. Background writers (ledger, trace sink)
 * start their flushes through this, so a flush first triggered from inside some request's
 * transaction still runs as an independent caller.
 */
export function runOutsideTransaction<T>(fn: () => T): T {
  // With no transaction open every scope a context could carry is closed already.
  return openCount === 0 ? fn() : scope.exit(fn);
}

/**
 * A transaction handle that refuses use after its transaction ended: on PostgreSQL a leaked handle
 * would otherwise run on a pooled connection that may already belong to another caller.
 * It also remembers whether a statement failed, because PostgreSQL answers `COMMIT` on an aborted
 * transaction with a silent `ROLLBACK`: a callback that caught the error must not look committed.
 */
export class TxHandle implements Queryable {
  closed = false;
  failure: unknown = undefined;
  readonly #inner: Queryable;

  constructor(inner: Queryable) {
    this.#inner = inner;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]> {
    this.#check();
    try {
      return await this.#inner.query<T>(sql, params);
    } catch (e) {
      this.failure ??= e;
      throw e;
    }
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    try {
      await this.#inner.exec(sql);
    } catch (e) {
      this.failure ??= e;
      throw e;
    }
  }

  #check(): void {
    if (this.closed)
      throw new KeelError('internal_error', 'transaction handle used after its transaction ended');
  }
}

export function abortedTransactionError(cause: unknown): KeelError {
  return new KeelError(
    'internal_error',
    'transaction rolled back: a statement inside it failed (the error was caught, but PostgreSQL aborts the whole transaction)',
    { cause },
  );
}
