import { describe, expect, it } from 'vitest';
import { addTypos, consistency, jaccard, makeVariations, prng, VARIATION_KINDS } from './variations.ts';

const q = 'How long does Keel keep production traces?';

describe('variations', () => {
  it('makes one variation per kind, deterministically', () => {
    const a = makeVariations(q);
    expect(a.map((v) => v.kind)).toEqual([...VARIATION_KINDS]);
    expect(makeVariations(q)).toEqual(a);
    expect(a.find((v) => v.kind === 'lowercase')?.text).toBe(q.toLowerCase());
    expect(a.find((v) => v.kind === 'uppercase')?.text).toBe(q.toUpperCase());
    const ws = a.find((v) => v.kind === 'whitespace')?.text ?? '';
    expect(ws).not.toBe(q);
    expect(ws.trim().split(/\s+/).join(' ')).toBe(q);
    expect(a.find((v) => v.kind === 'paraphrase')?.text).toMatch(
      /how long does Keel keep production traces\?$/i,
    );
    expect(a.find((v) => v.kind === 'suffix')?.text.startsWith(q)).toBe(true);
  });

  it('typos swap adjacent letters inside words, keeping length, letters and first letters', () => {
    const typo = makeVariations(q, { kinds: ['typo'] })[0]?.text ?? '';
    expect(typo).not.toBe(q);
    expect(typo).toHaveLength(q.length);
    expect([...typo].sort().join('')).toBe([...q].sort().join(''));
    const words = q.split(' ');
    const typoWords = typo.split(' ');
    expect(typoWords.map((w) => w[0])).toEqual(words.map((w) => w[0]));
    // six or more long words: two of them changed
    expect(typoWords.filter((w, i) => w !== words[i])).toHaveLength(2);
  });

  it('depends on the seed, and leaves out variations that change nothing', () => {
    const other = makeVariations(q, { seed: 7 });
    expect(other.map((v) => v.text)).not.toEqual(makeVariations(q).map((v) => v.text));
    expect(makeVariations('abc', { kinds: ['lowercase', 'typo'] })).toEqual([]);
    expect(addTypos('Bookkeeping', prng(1))).not.toBe('Bookkeeping');
  });
});

describe('consistency', () => {
  it('measures retrieval overlap and answer agreement against the original', () => {
    expect(jaccard(['a', 'b', 'c'], ['b', 'c', 'd'])).toBeCloseTo(2 / 4, 12);
    const original = { answer: 'Thirty days [1].', retrievedIds: ['d1', 'd2', 'd2', 'd3'] };
    const c = consistency(
      original,
      [
        { answer: 'thirty days', retrievedIds: ['d1', 'd2', 'd3'] }, // same set, same answer
        { answer: 'Thirty days by default.', retrievedIds: ['d1', 'd4', 'd3'] }, // 2/4 overlap
      ],
      3,
    );
    expect(c).toBeDefined();
    expect(c?.retrieval).toBeCloseTo((1 + 2 / 4) / 2, 12);
    expect(c?.retrievalAgreement).toBe(0.5);
    // F1("thirty days by default", "thirty days") = 2·(2/4)·1/(2/4 + 1) = 2/3
    expect(c?.answer).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(c?.answerAgreement).toBe(0.5);
    expect(consistency(original, [], 3)).toBeUndefined();
  });
});
