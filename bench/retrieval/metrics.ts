/** Standard ad-hoc retrieval metrics over a ranked list of document ids and binary judgments. */

/** Average precision of `ranked` (cut at its own length, e.g. 1000), over all `relevant` documents. */
export function averagePrecision(ranked: string[], relevant: ReadonlySet<string>): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  let sum = 0;
  ranked.forEach((id, i) => {
    if (relevant.has(id)) {
      hits++;
      sum += hits / (i + 1);
    }
  });
  return sum / relevant.size;
}

/** nDCG@k with binary gains (trec_eval's `ndcg_cut`). */
export function ndcgAt(ranked: string[], relevant: ReadonlySet<string>, k = 10): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** The q-th quantile (0-1) of `values`, by nearest rank. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Document ids in first-seen order: a document's rank is that of its best chunk. */
export function documentRanking(externalIds: string[]): string[] {
  return [...new Set(externalIds)];
}
