import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { CopyValue, Db, Queryable, SqlParam } from './db.ts';
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

// COPY's text format: backslash, newline, carriage return and tab are escaped; \N is NULL.
const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const copyEscape = (s: string) =>
  COPY_SPECIAL.test(s) ? s.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : s;

function copyField(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N';
  switch (typeof v) {
    case 'string':
      return copyEscape(v);
    case 'number':
    case 'bigint':
      return String(v);
    case 'boolean':
      return v ? 't' : 'f';
    default:
      return v instanceof Date ? v.toISOString() : copyEscape(JSON.stringify(v));
  }
}

/** Rows as COPY text: one line per row, tab-separated fields. */
export function copyText(rows: readonly (readonly CopyValue[])[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += (i === 0 ? '' : '\t') + copyField(row[i]);
    out += '\n';
  }
  return out;
}

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
    // COPY skips planning and per-row executor work and logs a page of rows per WAL record: on
    // PGlite's thread a usage or trace row costs about two thirds of its share of a multi-row insert.
    async copyRows(table, columns, rows) {
      assertOutsideTransaction('db.copyRows');
      if (rows.length === 0) return;
      const blob = new Blob([copyText(rows)]);
      await lock.run(() => pg.exec(`copy ${table} (${columns.join(',')}) from '/dev/blob'`, { blob }));
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
