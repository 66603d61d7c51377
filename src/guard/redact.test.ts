import { describe, expect, it } from 'vitest';
import { RedactionSession } from './redact.ts';

describe('RedactionSession', () => {
  it('gives the same value the same placeholder and numbers types separately', () => {
    const s = new RedactionSession();
    expect(s.placeholder('PERSON', 'Ada Lovelace')).toBe('<PERSON_1>');
    expect(s.placeholder('EMAIL', 'ada@example.com')).toBe('<EMAIL_1>');
    expect(s.placeholder('PERSON', 'Alan Turing')).toBe('<PERSON_2>');
    expect(s.placeholder('PERSON', 'Ada Lovelace')).toBe('<PERSON_1>');
    expect(s.placeholder('EMAIL', 'ADA@example.com')).toBe('<EMAIL_1>');
    expect(s.size).toBe(3);
    expect(s.summary()).toEqual({ PERSON: 2, EMAIL: 1 });
  });

  it('restores placeholders and leaves unknown ones alone', () => {
    const s = new RedactionSession();
    s.placeholder('PERSON', 'Ada');
    expect(s.restore('Hello <PERSON_1>, meet <PERSON_9> and a < b.')).toBe(
      'Hello Ada, meet <PERSON_9> and a < b.',
    );
  });

  it('restores placeholders split across stream chunks at every split point', () => {
    const s = new RedactionSession();
    const a = s.placeholder('PERSON', 'Ada Lovelace');
    const b = s.placeholder('EMAIL', 'ada@example.com');
    const answer = `Dear ${a}, we wrote to ${b}<${a}> about a<b and x < y.`;
    const expected = 'Dear Ada Lovelace, we wrote to ada@example.com<Ada Lovelace> about a<b and x < y.';
    for (let i = 0; i <= answer.length; i++) {
      for (const j of [i, Math.min(answer.length, i + 3), Math.min(answer.length, i + 11)]) {
        const r = s.createStreamRestorer();
        const out =
          r.push(answer.slice(0, i)) + r.push(answer.slice(i, j)) + r.push(answer.slice(j)) + r.flush();
        expect(out).toBe(expected);
      }
    }
  });

  it('restores a stream delivered one character at a time', () => {
    const s = new RedactionSession();
    const ph = s.placeholder('PHONE', '+49 30 1234567');
    const r = s.createStreamRestorer();
    let out = '';
    for (const ch of `Call ${ph} now`) out += r.push(ch);
    expect(out + r.flush()).toBe('Call +49 30 1234567 now');
  });

  it('holds back only what could still become a placeholder', () => {
    const s = new RedactionSession();
    s.placeholder('PERSON', 'Ada');
    const r = s.createStreamRestorer();
    expect(r.push('a <b> tag and <PER')).toBe('a <b> tag and ');
    expect(r.push('SON_1> done <x')).toBe('Ada done <x');
    expect(r.flush()).toBe('');
  });

  it('passes chunks through untouched when nothing was redacted', () => {
    const r = new RedactionSession().createStreamRestorer();
    expect(r.push('<PERSON_1')).toBe('<PERSON_1');
    expect(r.flush()).toBe('');
  });
});
