import { describe, expect, it } from 'vitest';
import { KeelError } from '../errors.ts';
import { casesFromBeir, parseDatasetJsonl } from './datasets.ts';

describe('dataset JSONL', () => {
  it('parses cases with optional fields, ids and graded gold ids', () => {
    const cases = parseDatasetJsonl(
      [
        '{"input": "What is Keel?", "reference": "A gateway.", "gold_ids": ["intro", "intro"], "tags": ["faq"]}',
        '',
        '{"_id": 7, "input": "Graded", "gold_ids": {"a": 2, "b": 0, "c": 1}, "metadata": {"lang": "en"}}',
        '{"id": "x", "input": "Promoted", "source_trace_id": "req_1"}',
      ].join('\n'),
    );
    expect(cases).toEqual([
      { input: 'What is Keel?', reference: 'A gateway.', goldIds: ['intro'], tags: ['faq'] },
      {
        externalId: '7',
        input: 'Graded',
        goldIds: ['a', 'c'],
        goldGrades: { a: 2, c: 1 },
        metadata: { lang: 'en' },
      },
      { externalId: 'x', input: 'Promoted', sourceTraceId: 'req_1' },
    ]);
  });

  it('rejects a file with bad lines, naming each line and problem', () => {
    let err: unknown;
    try {
      parseDatasetJsonl(
        [
          '{"input": "ok"}',
          '{"input": ""}',
          'not json',
          '{"input": "x", "refrence": "typo"}',
          '{"input": "y", "gold_ids": "d1"}',
        ].join('\n'),
        'qa.jsonl',
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeelError);
    const msg = (err as KeelError).message;
    expect((err as KeelError).code).toBe('invalid_request');
    expect(msg).toMatch(/^qa\.jsonl: 4 invalid line\(s\):/);
    expect(msg).toContain('line 2: input: input must be a non-empty string');
    expect(msg).toContain('line 3: not valid JSON');
    expect(msg).toMatch(/line 4: .*refrence/);
    expect(msg).toMatch(/line 5: gold_ids: /);
    expect(() => parseDatasetJsonl('\n\n')).toThrow(/no cases/);
  });
});

describe('BEIR layout', () => {
  it('builds cases from queries and qrels, skipping unjudged queries', () => {
    const queries = [
      '{"_id": "1", "text": "first"}',
      '{"_id": "2", "text": "unjudged"}',
      '{"_id": "3", "text": "graded"}',
    ].join('\n');
    const qrels = [
      'query-id\tcorpus-id\tscore',
      '1\tD1\t1',
      '1\tD2\t1',
      '3\tD9\t2',
      '3\tD8\t1',
      '3\tD7\t0',
    ].join('\n');
    expect(casesFromBeir(queries, qrels)).toEqual([
      { externalId: '1', input: 'first', goldIds: ['D1', 'D2'] },
      { externalId: '3', input: 'graded', goldIds: ['D9', 'D8'], goldGrades: { D9: 2, D8: 1 } },
    ]);
  });
});
