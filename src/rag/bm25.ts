import type { Queryable } from '../store/db.ts';
import { bm25Search, queryTerms, type ScoredChunk } from '../store/queries/chunks.ts';
import type { CollectionRow } from '../store/queries/collections.ts';

/** Robertson/Lucene BM25 parameters: term-frequency saturation and length normalisation. */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;
/** A chat message can be long; scoring its rarest lexemes keeps the candidate set and latency bounded. */
export const MAX_QUERY_TERMS = 64;
/** Chunks the pruned first pass may read (sum of its terms' document frequencies). */
export const CANDIDATE_BUDGET = 1500;

interface Term {
  lexeme: string;
  df: number;
  /** qtf × idf × (k1 + 1): the most the term can add to a chunk's score. */
  w: number;
}

/** Lucene's BM25 IDF: never negative, even for a term in more than half the chunks. */
export function idf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

/**
 * Real BM25 over the collections, treated as one corpus: IDF from `term_stats`, average length from
 * the collections' counters, tf and length from each chunk's tsvector (see `bm25Search`). Collections
 * with different text search configurations are scored separately and merged by score.
 */
export async function bm25(
  q: Queryable,
  collections: CollectionRow[],
  query: string,
  limit: number,
  filter?: Record<string, unknown>,
  candidateBudget = CANDIDATE_BUDGET,
): Promise<ScoredChunk[]> {
  const byConfig = new Map<string, CollectionRow[]>();
  for (const c of collections) byConfig.set(c.textConfig, [...(byConfig.get(c.textConfig) ?? []), c]);
  const lists = await Promise.all(
    [...byConfig].map(async ([config, cols]) => {
      const ids = cols.map((c) => c.id);
      const n = cols.reduce((s, c) => s + c.chunkCount, 0);
      if (n === 0) return [];
      const avgLength = Math.max(1, cols.reduce((s, c) => s + c.totalLength, 0) / n);
      const terms = (await queryTerms(q, config, query, ids))
        .filter((t) => t.df > 0)
        .map((t) => ({ lexeme: t.lexeme, df: t.df, w: t.qtf * idf(n, t.df) * (BM25_K1 + 1) }))
        .sort((a, b) => b.w - a.w)
        .slice(0, MAX_QUERY_TERMS)
        // Rarest first: the pruned pass below takes a prefix of this order.
        .sort((a, b) => a.df - b.df);
      const search = (match?: string[]) =>
        bm25Search(q, {
          collectionIds: ids,
          lexemes: terms.map((t) => t.lexeme),
          weights: terms.map((t) => t.w),
          matchLexemes: match,
          k1: BM25_K1,
          b: BM25_B,
          avgLength,
          limit,
          filter,
        });
      // MaxScore-style pruning. A term adds less than its weight w to any chunk's score (tf
      // saturates below 1), so if the common terms' weights sum below the limit-th best score among
      // chunks holding a rarer term, no chunk holding only common terms can enter the list: the
      // top list is exact while reading only the rare terms' chunks.
      let budget = 0;
      let split = 0;
      while (split < terms.length && (split === 0 || budget + (terms[split] as Term).df <= candidateBudget)) {
        budget += (terms[split] as Term).df;
        split++;
      }
      if (split === terms.length) return search();
      const first = await search(terms.slice(0, split).map((t) => t.lexeme));
      const threshold = first.length >= limit ? (first[limit - 1] as ScoredChunk).score : 0;
      const commonBound = terms.slice(split).reduce((s, t) => s + t.w, 0);
      return commonBound <= threshold ? first : search();
    }),
  );
  if (lists.length === 1) return lists[0] as ScoredChunk[];
  return lists
    .flat()
    .sort((a, b) => b.score - a.score)
    .slice(0, limit);
}
