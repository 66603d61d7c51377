/** Reciprocal rank fusion constant (Cormack et al. 2009): damps the weight of the very top ranks. */
export const RRF_K = 60;

export interface RankedList {
  /** Ids, best first. */
  ids: string[];
  weight?: number;
}

export interface Fused {
  id: string;
  score: number;
  /** 1-based rank of the id in each input list, undefined where it was absent. */
  ranks: Array<number | undefined>;
}

/**
 * Reciprocal rank fusion: score(d) = Σ weight_i / (k + rank_i(d)). Uses ranks only, so BM25 scores
 * and cosine similarities need no common scale. Ties break on the best single rank, then id.
 */
export function rrf(lists: RankedList[], k = RRF_K): Fused[] {
  const byId = new Map<string, Fused>();
  lists.forEach((list, li) => {
    const w = list.weight ?? 1;
    list.ids.forEach((id, i) => {
      let f = byId.get(id);
      if (!f) {
        f = { id, score: 0, ranks: new Array(lists.length).fill(undefined) };
        byId.set(id, f);
      }
      if (f.ranks[li] !== undefined) return;
      f.ranks[li] = i + 1;
      f.score += w / (k + i + 1);
    });
  });
  const best = (f: Fused) => Math.min(...f.ranks.map((r) => r ?? Number.POSITIVE_INFINITY));
  return [...byId.values()].sort(
    (a, b) => b.score - a.score || best(a) - best(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}
