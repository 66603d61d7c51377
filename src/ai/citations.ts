import type { Source } from '../providers/types.ts';

/** One entry of the `citations` array of an app's answer (OpenAI-style snake_case, like the rest of the body). */
export interface Citation {
  index: number;
  document: string;
  document_id: string;
  uri: string;
  chunk_id: string;
  score: number;
}

// `[1]`, `[2][3]` and the `[1, 2]` form some models prefer.
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

/** Source numbers the answer cites, in order of first appearance. */
export function citedIndexes(answer: string): number[] {
  const seen = new Set<number>();
  for (const m of answer.matchAll(MARKER)) {
    for (const n of (m[1] ?? '').split(',')) seen.add(Number(n.trim()));
  }
  return [...seen];
}

/** The sources the answer actually cites, ordered by their number; markers naming no source are ignored. */
export function citationsFor(sources: readonly Source[], answer: string): Citation[] {
  const cited = new Set(citedIndexes(answer));
  return sources
    .filter((s) => cited.has(s.index))
    .map((s) => ({
      index: s.index,
      document: s.title || s.uri,
      document_id: s.documentId,
      uri: s.uri,
      chunk_id: s.chunkId,
      score: s.score,
    }));
}
