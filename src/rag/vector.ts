import type { EmbeddingProvider } from '../providers/types.ts';
import type { Db, Queryable } from '../store/db.ts';
import { chunkEmbeddings, type NearChunk, vectorLiteral, vectorSearch } from '../store/queries/chunks.ts';
import type { CollectionRow } from '../store/queries/collections.ts';

/** HNSW candidate list: pgvector's default (40), raised to the depth asked for (at most 1000). */
const MIN_EF_SEARCH = 40;

/**
 * Relevance feedback for the vector arm of hybrid retrieval (Rocchio): the query vector plus the
 * centroid of the top BM25 chunks' embeddings, both unit length. A lexical embedder such as
 * `hashing` has no IDF, so its plain query vector leans on common words; the centroid of the best
 * full-text matches carries the topic's vocabulary instead. On CACM this lifts the vector list's
 * MAP from about 0.18 to 0.27 (see bench/README.md).
 */
export const FEEDBACK_CHUNKS = 5;
export const FEEDBACK_WEIGHT = 1;

/** The query's unit embedding, or undefined when it has no features (no words). */
export async function embedQuery(embedder: EmbeddingProvider, query: string): Promise<number[] | undefined> {
  const { vectors } = await embedder.embed([query]);
  const v = vectors[0];
  return v && normalize(v) ? v : undefined;
}

/** `query + weight × centroid(feedback chunks)`; the query alone when there is no feedback. */
export async function withFeedback(q: Queryable, query: number[], feedbackIds: string[]): Promise<number[]> {
  if (feedbackIds.length === 0) return query;
  const vectors = (await chunkEmbeddings(q, feedbackIds)).filter((v) => v.length === query.length);
  if (vectors.length === 0) return query;
  const centroid = new Array<number>(query.length).fill(0);
  for (const v of vectors)
    for (let i = 0; i < v.length; i++) centroid[i] = (centroid[i] as number) + (v[i] as number);
  const c = normalize(centroid);
  const qn = normalize(query);
  if (!c || !qn) return query;
  return qn.map((x, i) => x + FEEDBACK_WEIGHT * (c[i] as number));
}

/**
 * Cosine nearest chunks to `vector`. With a metadata filter (or a depth past what one HNSW pass
 * returns), pgvector 0.8's iterative scan keeps walking the graph until `limit` rows pass the
 * filter, so a selective filter does not silently return fewer than asked.
 */
export async function vectorNearest(
  db: Db,
  collections: CollectionRow[],
  vector: number[],
  limit: number,
  filter?: Record<string, unknown>,
): Promise<NearChunk[]> {
  const efSearch = Math.min(1000, Math.max(MIN_EF_SEARCH, limit));
  const filtered = filter !== undefined && Object.keys(filter).length > 0;
  return vectorSearch(db, {
    collections,
    embedding: vectorLiteral(vector),
    limit,
    filter,
    efSearch,
    iterative: filtered || limit > efSearch,
  });
}

function normalize(v: number[]): number[] | undefined {
  let n = 0;
  for (const x of v) n += x * x;
  if (!(n > 0)) return undefined;
  const inv = 1 / Math.sqrt(n);
  return v.map((x) => x * inv);
}
