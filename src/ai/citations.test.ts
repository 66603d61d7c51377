import { describe, expect, it } from 'vitest';
import type { Source } from '../providers/types.ts';
import { citationsFor, citedIndexes } from './citations.ts';

const src = (index: number): Source => ({
  index,
  chunkId: `chk_${index}`,
  documentId: `doc_${index}`,
  title: `T${index}`,
  uri: `u${index}`,
  text: '',
  score: index / 10,
});

describe('citations', () => {
  it('reads [n], [n][m] and [n, m] markers in order of first use', () => {
    expect(citedIndexes('A [2]. B [1][3]. C [3, 4]. D [2].')).toEqual([2, 1, 3, 4]);
  });

  it('keeps only cited sources, ordered by number, and ignores markers naming no source', () => {
    const c = citationsFor([src(1), src(2), src(3)], 'x [3] y [1] z [9]');
    expect(c).toEqual([
      { index: 1, document: 'T1', document_id: 'doc_1', uri: 'u1', chunk_id: 'chk_1', score: 0.1 },
      { index: 3, document: 'T3', document_id: 'doc_3', uri: 'u3', chunk_id: 'chk_3', score: 0.3 },
    ]);
    expect(citationsFor([src(1)], 'no markers')).toEqual([]);
  });
});
