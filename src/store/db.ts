/**
 * The one SQL seam. Both drivers (PGlite, PostgreSQL) run the same SQL with `$n` parameters;
 * query modules never branch on the engine. Both return int8/numeric as numbers and `date` as
 * 'YYYY-MM-DD' text. Pass jsonb parameters as `JSON.stringify(value)`: node-postgres turns a JS
 * array into a PostgreSQL array literal.
 */
export type SqlParam = string | number | boolean | null | bigint | Date | Uint8Array | unknown[] | object;

/** One column value for `copyRows`: objects and arrays are stored as JSON (json/jsonb columns). */
export type CopyValue = string | number | boolean | bigint | Date | null | undefined | object;

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Bulk-loads rows with COPY, on drivers where that is much cheaper than a multi-row insert
   * (PGlite, whose engine runs on the caller's thread); absent elsewhere. All or nothing, and unlike
   * `insert ... on conflict do nothing` it cannot skip an existing key: callers fall back to their
   * insert when it fails. `table` and `columns` are trusted identifiers.
   */
  copyRows?(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly CopyValue[])[],
  ): Promise<void>;
}

export interface Db extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /**
   * Runs `fn` in a transaction. On PGlite (one connection) transactions and single queries are
   * serialised, so no query can ever run inside another caller's open transaction.
   * Inside `fn` use only `tx`: calling this Db from the callback throws (on PGlite it would
   * deadlock). A callback that catches a failed statement and returns still gets a rejection
   * (PostgreSQL rolled the transaction back), unless it recovered through a savepoint.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
