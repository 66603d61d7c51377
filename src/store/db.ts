/**
 * The one SQL seam. Both drivers (PGlite, PostgreSQL) run the same SQL with `$n` parameters;
 * query modules never branch on the engine.
 */
export type SqlParam = string | number | boolean | null | bigint | Date | Uint8Array | unknown[] | object;

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /**
   * Runs `fn` in a transaction. On PGlite (one connection) transactions and single queries are
   * serialised, so no query can ever run inside another caller's open transaction.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
