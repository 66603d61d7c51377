import { resolve } from 'node:path';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';

export interface StoreOptions {
  databaseUrl?: string | undefined;
  /** PGlite data folder; `memory://` or undefined for an in-memory database (tests). */
  dataDir?: string | undefined;
  /** PostgreSQL schema for Keel's tables (default: the connection's search_path). */
  schema?: string | undefined;
}

/** Opens the configured driver (PostgreSQL when a URL is set, else PGlite) and brings the schema up to date. */
export async function openStore(opts: StoreOptions): Promise<Db> {
  // Each driver loads only when chosen: PGlite's engine and the pg client are large.
  const db = opts.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(
        opts.databaseUrl,
        opts.schema ? { schema: opts.schema } : {},
      )
    : await (await import('./pglite.ts')).openPglite(
        opts.dataDir && opts.dataDir !== 'memory://' ? resolve(opts.dataDir, 'pgdata') : undefined,
      );
  try {
    await migrate(db);
  } catch (e) {
    // Release the pool / the PGlite data dir: a caller that gives up must not keep the process alive.
    await db.close().catch(() => undefined);
    throw e;
  }
  return db;
}
