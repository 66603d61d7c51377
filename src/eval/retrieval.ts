/**
 * Retrieval quality of one ranked list against judged documents. `relevance` maps a document id
 * to its grade: > 0 is relevant (binary judgements use 1). Duplicate ids in the ranking count once,
 * at their first position (several chunks of one document are one retrieved document).
 */

export type Relevance = ReadonlyMap<string, number>;

/** Binary relevance from a list of gold ids, or graded relevance from an id → grade record. */
export function toRelevance(gold: readonly string[] | Readonly<Record<string, number>>): Map<string, number> {
  if (Array.isArray(gold)) return new Map((gold as readonly string[]).map((id) => [id, 1]));
  return new Map(Object.entries(gold as Record<string, number>));
}

/** The ranking without repeats, first occurrence kept. */
export function dedupe(ranked: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of ranked) {
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

const isRelevant = (rel: Relevance, id: string) => (rel.get(id) ?? 0) > 0;

function relevantCount(rel: Relevance): number {
  let n = 0;
  for (const g of rel.values()) if (g > 0) n++;
  return n;
}

/** 1 when a relevant document is among the first k, else 0. */
export function hitAtK(ranked: readonly string[], rel: Relevance, k: number): number {
  return dedupe(ranked)
    .slice(0, k)
    .some((id) => isRelevant(rel, id))
    ? 1
    : 0;
}

/** Share of the relevant documents found among the first k (0 when nothing is relevant). */
export function recallAtK(ranked: readonly string[], rel: Relevance, k: number): number {
  const total = relevantCount(rel);
  if (total === 0) return 0;
  return (
    dedupe(ranked)
      .slice(0, k)
      .filter((id) => isRelevant(rel, id)).length / total
  );
}

/** Share of the first k positions holding a relevant document (k, not the list length, is the denominator). */
export function precisionAtK(ranked: readonly string[], rel: Relevance, k: number): number {
  if (k <= 0) return 0;
  return (
    dedupe(ranked)
      .slice(0, k)
      .filter((id) => isRelevant(rel, id)).length / k
  );
}

/** 1 / rank of the first relevant document within the first k (0 when none). */
export function reciprocalRank(
  ranked: readonly string[],
  rel: Relevance,
  k = Number.POSITIVE_INFINITY,
): number {
  const list = dedupe(ranked);
  const n = Math.min(k, list.length);
  for (let i = 0; i < n; i++) if (isRelevant(rel, list[i] as string)) return 1 / (i + 1);
  return 0;
}

/**
 * Average precision over the whole ranking (the per-query term of MAP): the mean of precision@i
 * at each rank i holding a relevant document, over all relevant documents (found or not).
 */
export function averagePrecision(ranked: readonly string[], rel: Relevance): number {
  const total = relevantCount(rel);
  if (total === 0) return 0;
  let hits = 0;
  let sum = 0;
  dedupe(ranked).forEach((id, i) => {
    if (isRelevant(rel, id)) {
      hits++;
      sum += hits / (i + 1);
    }
  });
  return sum / total;
}

/**
 * nDCG@k with linear gains (gain = grade; trec_eval's and pytrec_eval's definition, so BEIR numbers
 * compare): DCG = Σ grade_i / log2(i + 1) over ranks i ≤ k, divided by the DCG of the ideal ordering
 * of all judged documents.
 */
export function ndcgAtK(ranked: readonly string[], rel: Relevance, k = 10): number {
  const dcg = dedupe(ranked)
    .slice(0, k)
    .reduce((s, id, i) => s + Math.max(0, rel.get(id) ?? 0) / Math.log2(i + 2), 0);
  const ideal = [...rel.values()]
    .filter((g) => g > 0)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((s, g, i) => s + g / Math.log2(i + 2), 0);
  return ideal > 0 ? dcg / ideal : 0;
}

export interface RetrievalMetrics {
  [name: string]: number;
}

/** The run's retrieval metrics for one case: `hit@k`, `recall@k`, `mrr`, `ndcg@10`, `map`. */
export function retrievalMetrics(ranked: readonly string[], rel: Relevance, k: number): RetrievalMetrics {
  return {
    [`hit@${k}`]: hitAtK(ranked, rel, k),
    [`recall@${k}`]: recallAtK(ranked, rel, k),
    mrr: reciprocalRank(ranked, rel),
    'ndcg@10': ndcgAtK(ranked, rel, 10),
    map: averagePrecision(ranked, rel),
  };
}
