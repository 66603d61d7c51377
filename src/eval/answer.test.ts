import { describe, expect, it } from 'vitest';
import {
  answerRelevance,
  exactMatch,
  lcsLength,
  normalizeAnswer,
  rougeL,
  stripCitations,
  tokenF1,
} from './answer.ts';

describe('SQuAD normalisation, exact match and token F1', () => {
  it('normalises like the official script', () => {
    expect(normalizeAnswer('The  Eiffel-Tower, in PARIS!')).toBe('eiffeltower in paris');
    expect(normalizeAnswer('an apple a day')).toBe('apple day');
  });

  it('exact match ignores case, punctuation and articles', () => {
    expect(exactMatch('the Denver Broncos.', 'Denver Broncos')).toBe(1);
    expect(exactMatch('Denver', 'Denver Broncos')).toBe(0);
    expect(exactMatch('Broncos', ['Denver Broncos', 'the broncos'])).toBe(1);
  });

  it('token F1 over the bag of tokens', () => {
    // pred: [denver, broncos, won] gold: [denver, broncos] → p = 2/3, r = 1 → f1 = 0.8
    expect(tokenF1('The Denver Broncos won', 'Denver Broncos')).toBeCloseTo(0.8, 12);
    // repeated tokens count once per occurrence in the reference
    expect(tokenF1('paris paris', 'paris')).toBeCloseTo((2 * 0.5 * 1) / 1.5, 12);
    expect(tokenF1('nothing shared', 'Denver')).toBe(0);
    expect(tokenF1('', '')).toBe(1);
    expect(tokenF1('a', 'Denver')).toBe(0);
  });
});

describe('ROUGE-L', () => {
  it('uses the longest common subsequence of tokens', () => {
    expect(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'b'])).toBe(3);
    // pred 6 tokens, ref 5 tokens, LCS "the cat on the mat" = 5 → p = 5/6, r = 1
    const p = 5 / 6;
    expect(rougeL('the cat sat on the mat', 'the cat on the mat')).toBeCloseTo((2 * p) / (p + 1), 12);
    expect(rougeL('completely different', 'the cat')).toBe(0);
  });
});

describe('answer relevance and citations', () => {
  it('strips citation markers', () => {
    expect(stripCitations('Paris [1] is the capital [2, 3].')).toBe('Paris is the capital.');
  });

  it('scores an on-topic answer above an off-topic one, within [0, 1]', () => {
    const q = 'How do I reset my router password?';
    const on = answerRelevance(q, 'To reset the router password, hold the reset button for ten seconds [1].');
    const off = answerRelevance(q, 'Bananas are rich in potassium.');
    expect(on).toBeGreaterThan(0.2);
    expect(off).toBeLessThan(0.05);
    expect(on).toBeLessThanOrEqual(1);
    expect(answerRelevance(q, q)).toBeCloseTo(1, 5);
    expect(answerRelevance(q, '')).toBe(0);
  });
});
