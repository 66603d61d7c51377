import type { Queryable } from '../db.ts';

/** Known attacks for the guard's similarity signal (table `guard_attacks`, migration 004). */
export interface AttackRow {
  id: string;
  text: string;
  /** `builtin` (the curated list), `config` (keel.yaml), or anything a team adds. */
  source: string;
  /** A `sparsevec` literal: `{i:v,...}/dims`. */
  embedding: string;
  embedVersion: number;
}

/**
 * Inserts new attacks and updates changed ones (text or embedding version) in one statement; rows
 * that are already current are not written, so every replica can run it at start-up. Returns how
 * many rows were written.
 */
export async function upsertAttacks(q: Queryable, rows: readonly AttackRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const params: string[] = [];
  const tuples: string[] = [];
  for (const r of rows) {
    const n = params.length;
    params.push(r.id, r.text, r.source, r.embedding, String(r.embedVersion));
    tuples.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}::sparsevec, $${n + 5}::integer)`);
  }
  const written = await q.query<{ id: string }>(
    `insert into guard_attacks (id, text, source, embedding, embed_version) values ${tuples.join(', ')}
     on conflict (id) do update set text = excluded.text, source = excluded.source,
       embedding = excluded.embedding, embed_version = excluded.embed_version
     where guard_attacks.text is distinct from excluded.text
        or guard_attacks.source is distinct from excluded.source
        or guard_attacks.embed_version <> excluded.embed_version
     returning id`,
    params,
  );
  return written.length;
}

/** Deletes rows of `source` whose id is not in `keep` (attacks dropped from the list or the config). */
export async function deleteAttacksExcept(
  q: Queryable,
  source: string,
  keep: readonly string[],
): Promise<number> {
  const rows = await q.query<{ id: string }>(
    `delete from guard_attacks where source = $1
       and not (id = any (string_to_array($2::text, chr(31)))) returning id`,
    [source, keep.join('\u001f')],
  );
  return rows.length;
}

export interface AttackHit {
  /** 1-based position of the probe in the list passed in. */
  ord: number;
  id: string;
  /** Cosine similarity, 0..1 for these non-negative embeddings. */
  similarity: number;
}

/**
 * The nearest known attack to each probe (sparsevec literals), in one round trip: the probes travel
 * as one text parameter, so the statement is the same for any count.
 */
export async function nearestAttacks(q: Queryable, probes: readonly string[]): Promise<AttackHit[]> {
  if (probes.length === 0) return [];
  const rows = await q.query<{ ord: number; id: string; similarity: number }>(
    `select w.ord::integer as ord, a.id, 1 - (a.embedding <=> w.v::sparsevec) as similarity
       from unnest(string_to_array($1::text, ';')) with ordinality as w(v, ord)
       cross join lateral (
         select id, embedding from guard_attacks order by embedding <=> w.v::sparsevec limit 1
       ) a`,
    [probes.join(';')],
  );
  return rows.map((r) => ({ ord: Number(r.ord), id: r.id, similarity: Number(r.similarity) }));
}

export async function listAttacks(
  q: Queryable,
): Promise<Array<{ id: string; source: string; text: string }>> {
  return q.query('select id, source, text from guard_attacks order by source, id');
}
