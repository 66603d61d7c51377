import type { CopyValue, Queryable } from '../db.ts';

/**
 * A double precision value for the rows `copyOrInsert` takes: JSON has no NaN or infinities, so those
 * travel as strings, which both COPY and the JSON insert parse as double precision.
 */
export function float(n: number): number | string;
export function float(n: number | undefined): number | string | null;
export function float(n: number | undefined): number | string | null {
  return n === undefined ? null : Number.isFinite(n) ? n : String(n);
}

const isUniqueViolation = (e: unknown) => (e as { code?: unknown } | null)?.code === '23505';

/**
 * Writes append-only rows whose first column is a unique id, skipping ids already stored; returns
 * how many rows were new. Where the driver has a cheap COPY (PGlite) that is tried first: a batch
 * holding a known id fails it as a whole and then goes through `insertSql`, which takes all rows as
 * one JSON parameter (`$1`, an array of arrays) and must skip known ids itself (`on conflict do
 * nothing`) and answer `select count(*) as n` of what it inserted.
 */
export async function copyOrInsert(
  q: Queryable,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly CopyValue[])[],
  insertSql: string,
): Promise<number> {
  if (rows.length === 0) return 0;
  if (q.copyRows) {
    try {
      await q.copyRows(table, columns, rows);
      return rows.length;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
  }
  const out = await q.query<{ n: number }>(insertSql, [JSON.stringify(rows)]);
  return out[0]?.n ?? 0;
}
