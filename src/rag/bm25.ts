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
      const search = (match?: string[], exclude?: string[]) =>
        bm25Search(q, {
          collectionIds: ids,
          lexemes: terms.map((t) => t.lexeme),
          weights: terms.map((t) => t.w),
          matchLexemes: match,
          excludeLexemes: exclude,
          k1: BM25_K1,
          b: BM25_B,
          avgLength,
          limit,
          filter,
        });
      // MaxScore pruning, exact. A term adds less than its weight w to any chunk's score (tf
      // saturates below 1). Pass 1 scores the chunks holding the rarest terms (within a candidate
      // budget); its limit-th score θ is a floor for the final list. The remaining terms with the
      // smallest weights, as long as their weights sum to at most θ, are non-essential: a chunk
      // holding only those cannot reach θ. Pass 2 scores the chunks holding an essential term that
      // pass 1 has not seen. Chunks of common words alone are never read.
      let split = 0;
      for (let budget = 0; split < terms.length; split++) {
        const df = (terms[split] as Term).df;
        if (split > 0 && budget + df > candidateBudget) break;
        budget += df;
      }
      if (split === terms.length) return search();
      const first = terms.slice(0, split).map((t) => t.lexeme);
      const pass1 = await search(first);
      const threshold = pass1.length >= limit ? (pass1[limit - 1] as ScoredChunk).score : 0;
      const rest = terms.slice(split).sort((a, b) => a.w - b.w);
      let bound = 0;
      let optional = 0;
      while (optional < rest.length && bound + (rest[optional] as Term).w <= threshold) {
        bound += (rest[optional] as Term).w;
        optional++;
      }
      const essential = rest.slice(optional).map((t) => t.lexeme);
      if (essential.length === 0) return pass1;
      const pass2 = await search(essential, first);
      return [...pass1, ...pass2].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, limit);
    }),
  );
  if (lists.length === 1) return lists[0] as ScoredChunk[];
  return lists
    .flat()
    .sort((a, b) => b.score - a.score)
    .slice(0, limit);
}
