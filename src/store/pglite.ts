import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Db, Queryable, SqlParam } from './db.ts';
import {
  abortedTransactionError,
  assertOutsideTransaction,
  runInTransactionScope,
  TxHandle,
} from './tx-scope.ts';

/**
 * Serialises work on PGlite's single connection: a transaction holds the lock for its whole life,
 * so no other caller's statement can ever run inside it. (PGlite 0.5 also guards this internally;
 * the lock keeps the guarantee independent of the PGlite version.)
 */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

// Make results look like the PostgreSQL driver's (see postgres.ts): int8 and numeric as numbers,
// `date` as its 'YYYY-MM-DD' text (a Date would shift with the process time zone).
const parsers = {
  20: (v: string) => Number(v),
  1700: (v: string) => Number(v),
  1082: (v: string) => v,
};

export async function openPglite(dataDir: string | undefined): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create(dataDir ? `file://${dataDir}` : undefined, {
    extensions: { vector },
    parsers,
  });
  const lock = new Mutex();
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params: SqlParam[] = []) {
      const r = await q.query<T>(sql, params as unknown[]);
      return r.rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const direct = wrap(pg);
  return {
    engine: 'pglite',
    async query(sql, params) {
      assertOutsideTransaction('db.query');
      return lock.run(() => direct.query(sql, params));
    },
    async exec(sql) {
      assertOutsideTransaction('db.exec');
      return lock.run(() => direct.exec(sql));
    },
    async transaction(fn) {
      assertOutsideTransaction('db.transaction');
      return lock.run(() =>
        pg.transaction(async (raw) => {
          const tx = new TxHandle(wrap(raw));
          try {
            const out = await runInTransactionScope(() => fn(tx));
            if (tx.failure !== undefined) {
              // The callback swallowed an error: commit only if the transaction is still usable
              // (it recovered through a savepoint); otherwise COMMIT would silently roll back.
              await raw.query('select 1').catch(() => {
                throw abortedTransactionError(tx.failure);
              });
            }
            return out;
          } finally {
            tx.closed = true;
          }
        }),
      );
    },
    close: () => lock.run(() => pg.close()),
  };
}
