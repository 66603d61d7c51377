import pg from 'pg';
import type { Db, Queryable, SqlParam } from './db.ts';
import {
  abortedTransactionError,
  assertOutsideTransaction,
  runInTransactionScope,
  TxHandle,
} from './tx-scope.ts';

// int8 and numeric come back as strings by default; Keel's counts and sums fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));
// `date` as its 'YYYY-MM-DD' text: pg would build a Date at local midnight, shifting with the time zone.
pg.types.setTypeParser(1082, (v) => v);

export interface PostgresOptions {
  max?: number;
  /** Put Keel's tables in this schema (created if missing); tests use one schema per suite. */
  schema?: string;
}

// SQLSTATEs of losing a race to create the same object concurrently.
const DUPLICATE_RACE = new Set(['23505', '42710', '42P06']);

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  if (opts.schema) {
    if (!/^[a-z_][a-z0-9_]*$/.test(opts.schema)) throw new Error(`invalid schema name: ${opts.schema}`);
    const boot = new pg.Client({ connectionString: url });
    await boot.connect();
    try {
      // The migration's `create extension if not exists vector` would otherwise create the
      // extension inside this schema (first on the search_path) when the database has none yet,
      // and dropping the schema would take the `vector` type away from every other schema.
      await ignoreRace(() => boot.query('create extension if not exists vector'));
      await ignoreRace(() => boot.query(`create schema if not exists ${opts.schema}`));
    } finally {
      await boot.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    ...(opts.schema ? { options: `-c search_path=${opts.schema},public` } : {}),
  });
  pool.on('error', () => {
    // An idle client died (server restart); the pool replaces it on next checkout.
  });
  await pool.query('select 1');
  const wrap = (c: { query: pg.Pool['query'] }): Queryable => ({
    async query<T>(sql: string, params: SqlParam[] = []) {
      const r = await c.query(sql, params as unknown[]);
      return r.rows as T[];
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });
  const direct = wrap(pool);
  return {
    engine: 'postgres',
    async query(sql, params) {
      assertOutsideTransaction('db.query');
      return direct.query(sql, params);
    },
    async exec(sql) {
      assertOutsideTransaction('db.exec');
      return direct.exec(sql);
    },
    async transaction(fn) {
      assertOutsideTransaction('db.transaction');
      const client = await pool.connect();
      const tx = new TxHandle(wrap(client as unknown as { query: pg.Pool['query'] }));
      // A connection whose state is unknown (rollback failed) must never go back to the pool,
      // or the next caller could find itself inside this transaction.
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const out = await runInTransactionScope(() => fn(tx));
        tx.closed = true;
        const done = await client.query('commit');
        // COMMIT of an aborted transaction (the callback caught a failed statement) "succeeds"
        // as a ROLLBACK; report it rather than pretend the writes happened.
        if (done.command === 'ROLLBACK') throw abortedTransactionError(tx.failure);
        return out;
      } catch (e) {
        tx.closed = true;
        await client.query('rollback').catch((re: unknown) => {
          broken = re instanceof Error ? re : new Error(String(re));
        });
        throw e;
      } finally {
        tx.closed = true;
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

async function ignoreRace(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!DUPLICATE_RACE.has((e as { code?: string }).code ?? '')) throw e;
  }
}
