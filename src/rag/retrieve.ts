import { KeelError } from '../errors.ts';
import { type ChunkDetail, chunkDetails, type NearChunk, type ScoredChunk } from '../store/queries/chunks.ts';
import { bm25 } from './bm25.ts';
import { assertEmbedder, resolveCollections } from './collections.ts';
import { rrf } from './fuse.ts';
import type { RagDeps, RetrievalHit, RetrievalMode, RetrieveOptions } from './types.ts';
import { embedQuery, FEEDBACK_CHUNKS, vectorNearest, withFeedback } from './vector.ts';

/** Most hits one call returns. */
export const MAX_TOP_K = 1000;

/** How deep each list is read before fusion: fusion can only promote what either list returned. */
export function fusionDepth(topK: number): number {
  return Math.max(50, 4 * topK);
}

/**
 * Fusion weights. Plain RRF (1:1) when vectors come from an embedding model. The built-in `hashing`
 * embedder is lexical, like BM25, and much weaker alone (CACM MAP 0.18 vs 0.35), so its list gets
 * half a vote: it still adds the near-misses BM25 cannot see (misspellings, word forms) without
 * outvoting it. Callers can override per request (`weights`).
 */
export const FTS_WEIGHT = 1;
export function defaultVectorWeight(embedder: string): number {
  return embedder === 'hashing' ? 0.5 : 1;
}

/**
 * Hybrid retrieval over the tenant's named collections: BM25 full-text ranking and HNSW cosine
 * search (its query vector enriched with the top BM25 chunks, see `withFeedback`), each read
 * `fusionDepth(topK)` deep, fused by reciprocal rank (k = 60). `fts` and `vector` modes return one
 * plain list alone. Each hit carries what a citation needs (document title, URI, chunk
 * position and heading). Unknown collections are a `not_found`.
 */
export async function retrieve(deps: RagDeps, opts: RetrieveOptions): Promise<RetrievalHit[]> {
  const mode: RetrievalMode = opts.mode ?? 'hybrid';
  if (!Number.isInteger(opts.topK) || opts.topK < 1 || opts.topK > MAX_TOP_K) {
    throw new KeelError('invalid_request', `topK must be an integer from 1 to ${MAX_TOP_K}`, {
      param: 'topK',
    });
  }
  const collections = await resolveCollections(deps, opts.tenantId, opts.collections);
  if (!opts.query.trim() || collections.length === 0) return [];
  if (mode !== 'fts') for (const c of collections) assertEmbedder(deps, c);

  const depth = mode === 'hybrid' ? fusionDepth(opts.topK) : opts.topK;
  const db = deps.db;
  const ftsP = mode === 'vector' ? undefined : bm25(db, collections, opts.query, depth, opts.filter);
  const queryVecP = mode === 'fts' ? undefined : embedQuery(deps.embedder, opts.query);
  // Both start at once; in hybrid mode the vector arm then waits for BM25's top chunks as feedback.
  const [fts, queryVec] = await Promise.all([ftsP, queryVecP]);
  let vec: NearChunk[] | undefined;
  if (queryVec) {
    const feedback = mode === 'hybrid' ? (fts ?? []).slice(0, FEEDBACK_CHUNKS).map((h) => h.id) : [];
    const v = await withFeedback(db, queryVec, feedback);
    vec = await vectorNearest(db, collections, v, depth, opts.filter);
  }

  const weights = { fts: FTS_WEIGHT, vector: defaultVectorWeight(deps.rag.embedder), ...opts.weights };
  const ranked = rank(mode, fts, vec, weights).slice(0, opts.topK);
  const details = new Map(
    (
      await chunkDetails(
        deps.db,
        ranked.map((r) => r.id),
      )
    ).map((d) => [d.id, d]),
  );
  const names = new Map(collections.map((c) => [c.id, c.name]));
  const hits: RetrievalHit[] = [];
  for (const r of ranked) {
    const d = details.get(r.id);
    // A chunk replaced by a concurrent re-ingest between the two queries is simply dropped.
    if (d) hits.push(toHit(d, names.get(d.collectionId) ?? '', r));
  }
  return hits;
}

interface Ranked {
  id: string;
  score: number;
  ftsRank?: number | undefined;
  vectorRank?: number | undefined;
}

function rank(
  mode: RetrievalMode,
  fts: ScoredChunk[] | undefined,
  vec: NearChunk[] | undefined,
  weights: { fts: number; vector: number },
): Ranked[] {
  if (mode === 'fts') return (fts ?? []).map((h, i) => ({ id: h.id, score: h.score, ftsRank: i + 1 }));
  if (mode === 'vector') {
    return (vec ?? []).map((h, i) => ({ id: h.id, score: 1 - h.distance, vectorRank: i + 1 }));
  }
  return rrf([
    { ids: (fts ?? []).map((h) => h.id), weight: weights.fts },
    { ids: (vec ?? []).map((h) => h.id), weight: weights.vector },
  ]).map((f) => ({ id: f.id, score: f.score, ftsRank: f.ranks[0], vectorRank: f.ranks[1] }));
}

function toHit(d: ChunkDetail, collection: string, r: Ranked): RetrievalHit {
  const hit: RetrievalHit = {
    chunkId: d.id,
    documentId: d.documentId,
    externalId: d.externalId,
    collection,
    title: d.title,
    uri: d.uri,
    position: d.position,
    heading: d.heading,
    text: d.text,
    score: r.score,
  };
  if (r.ftsRank !== undefined) hit.ftsRank = r.ftsRank;
  if (r.vectorRank !== undefined) hit.vectorRank = r.vectorRank;
  return hit;
}
