import pg from 'pg';
import type { Db, Queryable, SqlParam } from './db.ts';

// int8 and numeric come back as strings by default; Keel's counts and sums fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface PostgresOptions {
  max?: number;
  /** Put Keel's tables in this schema (created if missing); tests use one schema per suite. */
  schema?: string;
}

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  if (opts.schema) {
    if (!/^[a-z_][a-z0-9_]*$/.test(opts.schema)) throw new Error(`invalid schema name: ${opts.schema}`);
    const boot = new pg.Client({ connectionString: url });
    await boot.connect();
    try {
      await boot.query(`create schema if not exists ${opts.schema}`);
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
    query: direct.query,
    exec: direct.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const out = await fn(wrap(client as unknown as { query: pg.Pool['query'] }));
        await client.query('commit');
        return out;
      } catch (e) {
        await client.query('rollback').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
