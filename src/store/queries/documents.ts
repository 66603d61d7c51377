import type { Queryable } from '../db.ts';
import { newId } from '../ids.ts';
import { lockCollection } from './collections.ts';

export interface ChunkWrite {
  position: number;
  heading: string;
  text: string;
  tokenCount: number;
  /** What the full-text vector is built from (heading path + text). */
  indexText: string;
  /** pgvector text literal `[x,y,...]`, or null for a chunk without an embedding. */
  embedding: string | null;
}

export interface DocumentWrite {
  externalId: string;
  title: string;
  uri: string;
  contentHash: string;
  metadata: Record<string, unknown>;
  chunks: ChunkWrite[];
}

/** Current content hashes of the given documents of a collection, by external id. */
export async function documentHashes(
  q: Queryable,
  collectionId: string,
  externalIds: string[],
): Promise<Map<string, string>> {
  if (externalIds.length === 0) return new Map();
  const rows = await q.query<{ external_id: string; content_hash: string }>(
    'select external_id, content_hash from documents where collection_id = $1 and external_id = any($2)',
    [collectionId, externalIds],
  );
  return new Map(rows.map((r) => [r.external_id, r.content_hash]));
}

// Removes documents' chunks and takes them out of the BM25 statistics. Term rows that drop to
// df 0 stay (a later chunk with the term reuses them); queries ignore them.
const DELETE_CHUNKS = `
with old as (delete from chunks where document_id = any($1) returning tsv, length),
lex as (select p.lexeme, count(*)::int as n from old, unnest(old.tsv) p group by p.lexeme),
stats as (
  update term_stats t set df = t.df - lex.n from lex where t.collection_id = $2 and t.lexeme = lex.lexeme
)
update collections set
  chunk_count = chunk_count - (select count(*) from old),
  total_length = total_length - (select coalesce(sum(length), 0) from old)
where id = $2`;

// Inserts chunks with their full-text vectors (built by PostgreSQL, so retrieval parses queries
// with the same configuration) and adds them to the BM25 statistics, in one statement.
// `length` counts lexeme occurrences: the BM25 document length.
const INSERT_CHUNKS = `
with ins as (
  insert into chunks (id, document_id, collection_id, position, heading, text, token_count, tsv, length, embedding, metadata)
  select u.id, u.document_id, $1, u.position, u.heading, u.text, u.token_count, v.tsv,
    (select coalesce(sum(array_length(p.positions, 1)), 0) from unnest(v.tsv) p),
    u.embedding::vector, u.metadata::jsonb
  from unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[])
    as u(id, document_id, position, heading, text, token_count, itext, embedding, metadata)
  cross join lateral (select to_tsvector($2::regconfig, u.itext) as tsv) v
  returning tsv, length
),
lex as (select p.lexeme, count(*)::int as n from ins, unnest(ins.tsv) p group by p.lexeme),
stats as (
  insert into term_stats (collection_id, lexeme, df)
  select $1, lexeme, n from lex order by lexeme
  on conflict (collection_id, lexeme) do update set df = term_stats.df + excluded.df
)
update collections set
  chunk_count = chunk_count + (select count(*) from ins),
  total_length = total_length + (select coalesce(sum(length), 0) from ins)
where id = $1`;

export type WriteStatus = 'ingested' | 'unchanged';

/**
 * Writes documents and their chunks inside the caller's transaction, a handful of statements
 * whatever their number: documents whose stored hash already equals theirs are left alone (a
 * concurrent ingest got there first); the others get their old chunks replaced, with `term_stats`
 * and the collection's counters kept in step. Takes the collection's lock first, so concurrent
 * ingests into one collection cannot deadlock on the statistics rows. External ids must be unique.
 */
export async function writeDocuments(
  tx: Queryable,
  collection: { id: string; textConfig: string },
  docs: DocumentWrite[],
): Promise<WriteStatus[]> {
  await lockCollection(tx, collection.id);
  const existing = new Map(
    (
      await tx.query<{ id: string; external_id: string; content_hash: string }>(
        'select id, external_id, content_hash from documents where collection_id = $1 and external_id = any($2)',
        [collection.id, docs.map((d) => d.externalId)],
      )
    ).map((r) => [r.external_id, r]),
  );
  const statuses: WriteStatus[] = [];
  const changed: Array<{ id: string; doc: DocumentWrite }> = [];
  const fresh: Array<{ id: string; doc: DocumentWrite }> = [];
  for (const doc of docs) {
    const old = existing.get(doc.externalId);
    if (old?.content_hash === doc.contentHash) {
      statuses.push('unchanged');
      continue;
    }
    statuses.push('ingested');
    (old ? changed : fresh).push({ id: old?.id ?? newId('doc'), doc });
  }
  const cols = (rows: Array<{ id: string; doc: DocumentWrite }>) => [
    rows.map((r) => r.id),
    rows.map((r) => r.doc.title),
    rows.map((r) => r.doc.uri),
    rows.map((r) => r.doc.contentHash),
    rows.map((r) => JSON.stringify(r.doc.metadata)),
    rows.map((r) => r.doc.chunks.length),
  ];
  if (changed.length > 0) {
    await tx.query(DELETE_CHUNKS, [changed.map((c) => c.id), collection.id]);
    await tx.query(
      `update documents d set title = u.title, uri = u.uri, content_hash = u.hash, metadata = u.metadata::jsonb,
         chunk_count = u.n, updated_at = now()
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
         as u(id, title, uri, hash, metadata, n)
       where d.id = u.id`,
      cols(changed),
    );
  }
  if (fresh.length > 0) {
    await tx.query(
      `insert into documents (id, title, uri, content_hash, metadata, chunk_count, collection_id, external_id)
       select u.id, u.title, u.uri, u.hash, u.metadata::jsonb, u.n, $7, u.external_id
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $8::text[])
         as u(id, title, uri, hash, metadata, n, external_id)`,
      [...cols(fresh), collection.id, fresh.map((f) => f.doc.externalId)],
    );
  }
  const rows = [...changed, ...fresh].flatMap(({ id, doc }) => {
    const metadata = JSON.stringify(doc.metadata);
    return doc.chunks.map((c) => ({ documentId: id, metadata, c }));
  });
  if (rows.length > 0) {
    await tx.query(INSERT_CHUNKS, [
      collection.id,
      collection.textConfig,
      rows.map(() => newId('chk')),
      rows.map((r) => r.documentId),
      rows.map((r) => r.c.position),
      rows.map((r) => r.c.heading),
      rows.map((r) => r.c.text),
      rows.map((r) => r.c.tokenCount),
      rows.map((r) => r.c.indexText),
      rows.map((r) => r.c.embedding),
      rows.map((r) => r.metadata),
    ]);
  }
  return statuses;
}

export interface DocumentSummary {
  /** The external id the document was ingested under. */
  id: string;
  title: string;
  uri: string;
  chunkCount: number;
  contentHash: string;
  updatedAt: Date;
}

/** A collection's documents in id order, `limit` after the id `after` (keyset pagination). */
export async function listDocuments(
  q: Queryable,
  collectionId: string,
  opts: { limit: number; after?: string | undefined },
): Promise<DocumentSummary[]> {
  const rows = await q.query<{
    external_id: string;
    title: string;
    uri: string;
    chunk_count: number;
    content_hash: string;
    updated_at: Date;
  }>(
    `select external_id, title, uri, chunk_count, content_hash, updated_at from documents
     where collection_id = $1 and ($2::text is null or external_id > $2)
     order by external_id limit $3`,
    [collectionId, opts.after ?? null, opts.limit],
  );
  return rows.map((r) => ({
    id: r.external_id,
    title: r.title,
    uri: r.uri,
    chunkCount: Number(r.chunk_count),
    contentHash: r.content_hash,
    updatedAt: new Date(r.updated_at),
  }));
}

/**
 * Deletes documents (by external id) with their chunks, inside the caller's transaction, keeping
 * `term_stats` and the collection's counters in step, under the collection's lock like
 * `writeDocuments`. Returns the external ids that existed.
 */
export async function deleteDocuments(
  tx: Queryable,
  collectionId: string,
  externalIds: string[],
): Promise<string[]> {
  await lockCollection(tx, collectionId);
  const found = await tx.query<{ id: string; external_id: string }>(
    'select id, external_id from documents where collection_id = $1 and external_id = any($2)',
    [collectionId, externalIds],
  );
  if (found.length === 0) return [];
  const ids = found.map((r) => r.id);
  await tx.query(DELETE_CHUNKS, [ids, collectionId]);
  await tx.query('delete from documents where id = any($1)', [ids]);
  return found.map((r) => r.external_id);
}
