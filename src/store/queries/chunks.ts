import type { Db, Queryable, SqlParam } from '../db.ts';
import { isSafeId } from '../ids.ts';
import { embeddingExpr } from './collections.ts';

export interface QueryTerm {
  lexeme: string;
  /** Occurrences of the lexeme in the query. */
  qtf: number;
  /** Chunks of the searched collections that contain the lexeme. */
  df: number;
}

/**
 * The query's lexemes under the collections' text search configuration, with their document
 * frequencies summed over the collections (the searched collections act as one corpus).
 */
export async function queryTerms(
  q: Queryable,
  textConfig: string,
  query: string,
  collectionIds: string[],
): Promise<QueryTerm[]> {
  const rows = await q.query<{ lexeme: string; qtf: number; df: number }>(
    `select q.lexeme, q.qtf, coalesce(sum(t.df), 0)::int as df
     from (select lexeme, coalesce(array_length(positions, 1), 1) as qtf
           from unnest(to_tsvector($1::regconfig, $2))) q
     left join term_stats t on t.collection_id = any($3) and t.lexeme = q.lexeme and t.df > 0
     group by q.lexeme, q.qtf`,
    [textConfig, query, collectionIds],
  );
  return rows.map((r) => ({ lexeme: r.lexeme, qtf: Number(r.qtf), df: Number(r.df) }));
}

export interface Bm25Params {
  collectionIds: string[];
  lexemes: string[];
  /** Per lexeme: qtf × idf × (k1 + 1), the factor in front of the tf saturation. */
  weights: number[];
  /** Candidates are the chunks containing any of these (default: any of `lexemes`); all `lexemes` are scored. */
  matchLexemes?: string[] | undefined;
  /** ...and none of these (chunks an earlier pass already scored). */
  excludeLexemes?: string[] | undefined;
  k1: number;
  b: number;
  avgLength: number;
  limit: number;
  filter?: Record<string, unknown> | undefined;
}

export interface ScoredChunk {
  id: string;
  score: number;
}

/** A tsquery matching any of the lexemes, quoted so no lexeme is re-parsed or re-stemmed. */
export function orQuery(lexemes: string[]): string {
  return lexemes.map((l) => `'${l.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(' | ');
}

/**
 * BM25 over the GIN-indexed candidates (chunks matching any query lexeme). Each candidate's term
 * frequencies come from its own tsvector: `setweight` marks the query lexemes, `ts_filter` keeps
 * only them, so `unnest` yields a handful of rows instead of every lexeme of the chunk.
 */
export async function bm25Search(q: Queryable, p: Bm25Params): Promise<ScoredChunk[]> {
  if (p.lexemes.length === 0) return [];
  const params: SqlParam[] = [
    p.collectionIds,
    p.lexemes,
    p.weights,
    p.k1,
    p.b,
    p.avgLength,
    p.excludeLexemes?.length
      ? `(${orQuery(p.matchLexemes ?? p.lexemes)}) & !(${orQuery(p.excludeLexemes)})`
      : orQuery(p.matchLexemes ?? p.lexemes),
    p.limit,
  ];
  let filterSql = '';
  if (p.filter && Object.keys(p.filter).length > 0) {
    params.push(JSON.stringify(p.filter));
    filterSql = `and c.metadata @> $${params.length}::jsonb`;
  }
  const rows = await q.query<{ id: string; score: number }>(
    `select c.id, (
       select sum(w.w * u.tf / (u.tf + $4::float8 * (1 - $5::float8 + $5::float8 * c.length / $6::float8)))
       from (select p.lexeme, array_length(p.positions, 1)::float8 as tf
             from unnest(ts_filter(setweight(c.tsv, 'A', $2::text[]), '{a}')) p) u
       join unnest($2::text[], $3::float8[]) as w(lexeme, w) on w.lexeme = u.lexeme
     ) as score
     from chunks c
     where c.collection_id = any($1) and c.tsv @@ $7::tsquery ${filterSql}
     order by score desc, c.id
     limit $8`,
    params,
  );
  return rows.map((r) => ({ id: r.id, score: Number(r.score) }));
}

/** pgvector's text form. */
export function vectorLiteral(v: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    if (!Number.isFinite(x)) throw new Error('embedding contains a non-finite value');
    s += i === 0 ? x : `,${x}`;
  }
  return `${s}]`;
}

export interface VectorParams {
  collections: Array<{ id: string; dimensions: number }>;
  /** pgvector text literal of the query embedding. */
  embedding: string;
  limit: number;
  filter?: Record<string, unknown> | undefined;
  /** HNSW candidate list size (`hnsw.ef_search`, 1-1000). */
  efSearch: number;
  /** Keep scanning the graph until `limit` rows pass the filter (pgvector 0.8 iterative scans). */
  iterative: boolean;
}

export interface NearChunk {
  id: string;
  distance: number;
}

/**
 * Cosine nearest neighbours through each collection's partial HNSW index. The collection id is
 * inlined (it is a generated safe id) so the planner can match the partial index predicate. Runs in
 * a transaction only to scope the `SET LOCAL`-style settings to this query.
 */
export async function vectorSearch(db: Db, p: VectorParams): Promise<NearChunk[]> {
  if (p.collections.length === 0) return [];
  const params: SqlParam[] = [p.embedding, p.limit];
  let filterSql = '';
  if (p.filter && Object.keys(p.filter).length > 0) {
    params.push(JSON.stringify(p.filter));
    filterSql = `and c.metadata @> $${params.length}::jsonb`;
  }
  const parts = p.collections.map((col) => {
    if (!isSafeId(col.id)) throw new Error(`unsafe collection id ${col.id}`);
    const expr = embeddingExpr(col.dimensions, 'c.');
    const dims = Math.trunc(col.dimensions);
    return `(select c.id, ${expr} <=> $1::vector(${dims}) as distance from chunks c
      where c.collection_id = '${col.id}' ${filterSql}
      order by ${expr} <=> $1::vector(${dims}) limit $2)`;
  });
  // relaxed_order may return neighbours slightly out of order: the outer sort restores it.
  const sql = `select id, distance from (${parts.join(' union all ')}) r order by distance, id limit $2`;
  const ef = String(Math.max(1, Math.min(1000, Math.trunc(p.efSearch))));
  return db.transaction(async (tx) => {
    await tx.query(
      `select set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', $2, true)`,
      [ef, p.iterative ? 'relaxed_order' : 'off'],
    );
    const rows = await tx.query<{ id: string; distance: number }>(sql, params);
    return rows.map((r) => ({ id: r.id, distance: Number(r.distance) }));
  });
}

/** Stored embeddings of the given chunks (those without one are left out). */
export async function chunkEmbeddings(q: Queryable, ids: string[]): Promise<number[][]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{ e: string }>(
    'select embedding::text as e from chunks where id = any($1) and embedding is not null',
    [ids],
  );
  return rows.map((r) => JSON.parse(r.e) as number[]);
}

export interface ChunkDetail {
  id: string;
  documentId: string;
  collectionId: string;
  externalId: string;
  title: string;
  uri: string;
  position: number;
  heading: string;
  text: string;
}

/** Citation details for the given chunks (order not preserved). */
export async function chunkDetails(q: Queryable, ids: string[]): Promise<ChunkDetail[]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{
    id: string;
    document_id: string;
    collection_id: string;
    external_id: string;
    title: string;
    uri: string;
    position: number;
    heading: string;
    text: string;
  }>(
    `select c.id, c.document_id, c.collection_id, d.external_id, d.title, d.uri, c.position, c.heading, c.text
     from chunks c join documents d on d.id = c.document_id where c.id = any($1)`,
    [ids],
  );
  return rows.map((r) => ({
    id: r.id,
    documentId: r.document_id,
    collectionId: r.collection_id,
    externalId: r.external_id,
    title: r.title,
    uri: r.uri,
    position: Number(r.position),
    heading: r.heading,
    text: r.text,
  }));
}
