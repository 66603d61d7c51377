import { describe, expect, it } from 'vitest';
import { supportScore } from './support.ts';

const sources = [
  { text: 'Keel stores traces in PostgreSQL. Retention defaults to 30 days.' },
  { text: 'The dashboard shows latency percentiles and cost per day.' },
];

describe('lexical support', () => {
  it('scores the share of supported sentences', () => {
    const r = supportScore(
      'Keel stores traces in PostgreSQL [1]. The dashboard shows cost per day [2]. Keel was written in Rust.',
      sources,
    );
    expect(r.sentences.map((s) => s.supported)).toEqual([true, true, false]);
    expect(r.score).toBeCloseTo(2 / 3, 12);
    expect(r.sentences[0]).toMatchObject({ start: 0, coverage: 1, missingNumbers: 0 });
  });

  it('requires every number to appear in a source', () => {
    const r = supportScore('Retention defaults to 90 days.', sources);
    expect(r.sentences[0]).toMatchObject({ missingNumbers: 1, supported: false });
    expect(supportScore('Retention defaults to 30 days.', sources).score).toBe(1);
  });

  it('keeps decimals inside one sentence and has no score without checkable sentences', () => {
    expect(
      supportScore('It costs 3.5 dollars. Okay!', [{ text: 'it costs 3.5 dollars' }]).sentences,
    ).toHaveLength(2);
    expect(supportScore('', sources).score).toBeNull();
    expect(supportScore('The.', sources).score).toBeNull();
  });
});
