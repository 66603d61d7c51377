import { describe, expect, it } from 'vitest';
import { checkGrounding, createGroundingScanner, DEFAULT_REFUSAL, splitSentences } from './grounding.ts';
import type { GuardSource } from './types.ts';

const sources: GuardSource[] = [
  {
    index: 1,
    text: 'The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall and was designed by Gustave Eiffel.',
  },
  {
    index: 2,
    text: 'The Statue of Liberty was dedicated in 1886 in New York Harbor. It was a gift from France.',
  },
];

describe('splitSentences', () => {
  it('keeps citation markers after a full stop with their sentence and skips abbreviations', () => {
    const text = 'The tower is 330 metres tall. [1] It opened e.g. in 1889 [1]. Done';
    const parts = splitSentences(text).map((s) => text.slice(s.start, s.end));
    expect(parts).toEqual(['The tower is 330 metres tall. [1]', 'It opened e.g. in 1889 [1].', 'Done']);
  });
});

describe('checkGrounding', () => {
  it('supports sentences whose words, numbers and names are in their cited source', () => {
    const r = checkGrounding(
      'The Eiffel Tower was completed in 1889 [1]. It is 330 metres tall [1].',
      sources,
    );
    expect(r.sentences.map((s) => s.reason)).toEqual(['ok', 'ok']);
    expect(r.score).toBe(1);
  });

  it('marks a sentence with a number missing from the sources as unsupported', () => {
    const r = checkGrounding('The Eiffel Tower was completed in 1899 [1].', sources);
    expect(r.sentences[0]).toMatchObject({
      supported: false,
      reason: 'number-not-in-sources',
      missingNumbers: 1,
    });
    expect(r.score).toBe(0);
  });

  it('marks a named entity missing from the sources as unsupported', () => {
    const r = checkGrounding('The Eiffel Tower was designed by Gustave Eiffel and Napoleon [1].', sources);
    expect(r.sentences[0]?.reason).toBe('entity-not-in-sources');
  });

  it('rejects citations of sources that do not exist or do not support the sentence', () => {
    expect(checkGrounding('The Eiffel Tower was completed in 1889 [7].', sources).sentences[0]?.reason).toBe(
      'bad-citation',
    );
    expect(
      checkGrounding('The Statue of Liberty was a gift from France [1].', sources).sentences[0]?.reason,
    ).toBe('misattributed');
  });

  it('checks uncited sentences against all sources and skips trivial ones', () => {
    const r = checkGrounding('Here is what I found: The Statue of Liberty was dedicated in 1886.', sources);
    expect(r.sentences.filter((s) => s.checked).every((s) => s.supported)).toBe(true);
    const low = checkGrounding('Bananas are rich in potassium and grow in tropical climates.', sources);
    expect(low.sentences[0]?.reason).toBe('low-overlap');
  });
});

describe('grounding scanner', () => {
  const answer =
    'The Eiffel Tower was completed in 1889 [1]. It is 330 metres tall [1]. It attracts 9 million visitors a year [1].';

  it('flags in standard mode and records the score', async () => {
    const r = await createGroundingScanner({ mode: 'flag' }).scan(answer, { sources });
    expect(r.text).toBeUndefined();
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ type: 'UNGROUNDED', reason: 'number-not-in-sources' });
    expect(r.metrics?.['grounding.score']).toBeCloseTo(2 / 3, 2);
  });

  it('removes unsupported sentences in remove mode and says so', async () => {
    const r = await createGroundingScanner({ mode: 'remove' }).scan(answer, { sources });
    expect(r.text).toContain('330 metres tall [1].');
    expect(r.text).not.toContain('9 million');
    expect(r.text).toMatch(/1 statement was removed because the sources do not support it/);
  });

  it('refuses when too little is supported, or on any unsupported sentence in refuse mode', async () => {
    const bad = 'The tower has 12 elevators [1]. It was painted in 1999 [1].';
    expect((await createGroundingScanner({ mode: 'remove' }).scan(bad, { sources })).text).toBe(
      DEFAULT_REFUSAL,
    );
    expect((await createGroundingScanner({ mode: 'refuse' }).scan(answer, { sources })).text).toBe(
      DEFAULT_REFUSAL,
    );
  });

  it('does nothing without sources', async () => {
    expect((await createGroundingScanner({ mode: 'remove' }).scan(answer, {})).findings).toEqual([]);
  });
});
