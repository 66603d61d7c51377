import { describe, expect, it } from 'vitest';
import { HashingEmbedder } from './hashing.ts';

const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
};

describe('HashingEmbedder', () => {
  const e = new HashingEmbedder();

  it('is deterministic across calls and instances', async () => {
    const text = 'Keel retrieves documents with hybrid search.';
    const a = await e.embed([text, text]);
    const b = await new HashingEmbedder().embed([text]);
    expect(a.vectors[0]).toEqual(a.vectors[1]);
    expect(a.vectors[0]).toEqual(b.vectors[0]);
    expect(e.id).toBe('hashing');
    expect(e.model).toBe('hashing');
  });

  it('returns unit vectors of the configured dimension', async () => {
    const { vectors, usage } = await new HashingEmbedder({ dimensions: 64 }).embed([
      'one two three',
      'vector',
    ]);
    for (const v of vectors) {
      expect(v).toHaveLength(64);
      expect(Math.sqrt(cos(v, v))).toBeCloseTo(1, 5);
    }
    expect(usage.promptTokens).toBe(4);
    expect(e.dimensions).toBe(512);
  });

  it('gives text without words a zero vector', async () => {
    const { vectors } = await e.embed(['', ' ... !!! ']);
    expect(vectors[0]?.every((x) => x === 0)).toBe(true);
    expect(vectors[1]?.every((x) => x === 0)).toBe(true);
  });

  it('normalises case, compatibility forms and diacritics', async () => {
    const { vectors } = await e.embed(['Café CRÈME ﬁle', 'cafe creme file', 'CAFE Creme FILE']);
    expect(vectors[0]).toEqual(vectors[1]);
    expect(vectors[1]).toEqual(vectors[2]);
  });

  it('ignores stop words and folds plural forms', async () => {
    const { vectors } = await e.embed(['the databases of the servers', 'database server']);
    expect(cos(vectors[0] as number[], vectors[1] as number[])).toBeGreaterThan(0.85);
  });

  it('puts similar texts closer than unrelated ones', async () => {
    const [q, near, far] = (
      await e.embed([
        'how do I create an API key',
        'Create an API key with keel keys create; the key is shown once.',
        'The weather in the mountains was cold and windy all week.',
      ])
    ).vectors as [number[], number[], number[]];
    expect(cos(q, near)).toBeGreaterThan(cos(q, far) + 0.2);
    // Character n-grams let a misspelling stay close.
    const [a, b, c] = (
      await e.embed(['retrieval augmented generation', 'retreival augmentd generation', 'banana'])
    ).vectors as [number[], number[], number[]];
    expect(cos(a, b)).toBeGreaterThan(0.4);
    expect(cos(a, b)).toBeGreaterThan(cos(a, c) + 0.3);
  });

  it('rejects a nonsensical dimension', () => {
    expect(() => new HashingEmbedder({ dimensions: 3 })).toThrow(/dimensions/);
  });
});
