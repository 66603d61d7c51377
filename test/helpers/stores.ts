import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db, Queryable, SqlParam } from '../../src/store/db.ts';
import { openStore } from '../../src/store/open.ts';

/**
 * The drivers every store contract suite runs against: PGlite always, PostgreSQL when
 * `DATABASE_URL` is set (each opened store gets its own fresh schema, dropped on close).
 */
export interface DriverCase {
  name: 'pglite' | 'postgres';
  /** Why the driver is skipped, or undefined when it runs. */
  skip: string | undefined;
  open(): Promise<Db>;
}

export const DATABASE_URL = process.env.DATABASE_URL;

export const driverCases: DriverCase[] = [
  { name: 'pglite', skip: undefined, open: () => openStore({ dataDir: 'memory://' }) },
  {
    name: 'postgres',
    skip: DATABASE_URL ? undefined : 'DATABASE_URL is not set: PostgreSQL store contract tests skipped',
    async open() {
      const schema = `keel_test_${randomBytes(6).toString('hex')}`;
      const db = await openStore({ databaseUrl: DATABASE_URL, schema }).catch(async (e: unknown) => {
        await dropSchema(schema).catch(() => undefined);
        throw e;
      });
      const close = db.close.bind(db);
      return {
        ...db,
        engine: db.engine,
        query: db.query,
        exec: db.exec,
        transaction: db.transaction,
        async close() {
          await close();
          await dropSchema(schema);
        },
      };
    },
  },
];

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await c.end();
  }
}

for (const c of driverCases) {
  if (c.skip) console.warn(`[skip] ${c.skip}`);
}

/** A Queryable that records every statement it forwards (to count round trips, not time them). */
export interface CountingQueryable extends Queryable {
  readonly statements: string[];
  count(pattern: RegExp): number;
}

export function countingQueryable(inner: Queryable): CountingQueryable {
  const statements: string[] = [];
  return {
    statements,
    count: (pattern) => statements.filter((s) => pattern.test(s)).length,
    query<T>(sql: string, params?: SqlParam[]) {
      statements.push(sql);
      return inner.query<T>(sql, params);
    },
    exec(sql: string) {
      statements.push(sql);
      return inner.exec(sql);
    },
  };
}
