import { describe, expect, it } from 'vitest';
import {
  averagePrecision,
  hitAtK,
  ndcgAtK,
  precisionAtK,
  recallAtK,
  reciprocalRank,
  retrievalMetrics,
  toRelevance,
} from './retrieval.ts';

// d3 appears twice (two chunks of one document): it counts once, at rank 1.
const ranked = ['d3', 'd1', 'd3', 'd7', 'd2', 'd9'];
const binary = toRelevance(['d1', 'd2', 'd5']);

describe('retrieval metrics', () => {
  it('hit@k and recall@k count documents, not chunks', () => {
    expect(hitAtK(ranked, binary, 1)).toBe(0);
    expect(hitAtK(ranked, binary, 2)).toBe(1);
    expect(recallAtK(ranked, binary, 2)).toBeCloseTo(1 / 3, 12);
    // deduplicated top 4: d3 d1 d7 d2 → d1 and d2 of 3 relevant
    expect(recallAtK(ranked, binary, 4)).toBeCloseTo(2 / 3, 12);
    expect(precisionAtK(ranked, binary, 5)).toBeCloseTo(2 / 5, 12);
  });

  it('MRR and average precision', () => {
    expect(reciprocalRank(ranked, binary)).toBe(1 / 2);
    expect(reciprocalRank(ranked, binary, 1)).toBe(0);
    // relevant at ranks 2 and 4: (1/2 + 2/4) / 3 relevant
    expect(averagePrecision(ranked, binary)).toBeCloseTo((1 / 2 + 2 / 4) / 3, 12);
  });

  it('nDCG@10 with binary and graded relevance (linear gains)', () => {
    const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
    const idcg = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
    expect(ndcgAtK(ranked, binary, 10)).toBeCloseTo(dcg / idcg, 12);
    const graded = toRelevance({ d1: 2, d2: 1, d5: 3 });
    const gdcg = 2 / Math.log2(3) + 1 / Math.log2(5);
    const gidcg = 3 + 2 / Math.log2(3) + 1 / Math.log2(4);
    expect(ndcgAtK(ranked, graded, 10)).toBeCloseTo(gdcg / gidcg, 12);
    expect(ndcgAtK(['d5', 'd1', 'd2'], graded, 10)).toBeCloseTo(1, 12);
    expect(ndcgAtK(ranked, binary, 1)).toBe(0);
  });

  it('is zero without relevant documents or without results', () => {
    const none = toRelevance([]);
    expect(retrievalMetrics(ranked, none, 5)).toEqual({
      'hit@5': 0,
      'recall@5': 0,
      mrr: 0,
      'ndcg@10': 0,
      map: 0,
    });
    expect(retrievalMetrics([], binary, 5)).toEqual({
      'hit@5': 0,
      'recall@5': 0,
      mrr: 0,
      'ndcg@10': 0,
      map: 0,
    });
  });

  it('names the metrics after k', () => {
    expect(Object.keys(retrievalMetrics(ranked, binary, 3))).toEqual([
      'hit@3',
      'recall@3',
      'mrr',
      'ndcg@10',
      'map',
    ]);
  });
});
