import { describe, expect, it } from 'vitest';
import { SSE_DONE, type SseEvent, SseParser, sseComment, sseData, sseEvent } from './sse.ts';

const enc = new TextEncoder();

function parseAll(chunks: (string | Uint8Array)[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) p.push(typeof c === 'string' ? enc.encode(c) : c, out);
  return out;
}

/** Every way of cutting `s` into two reads must parse like the whole. */
function everySplit(s: string): SseEvent[][] {
  const bytes = enc.encode(s);
  const results: SseEvent[][] = [];
  for (let i = 0; i <= bytes.length; i++) results.push(parseAll([bytes.subarray(0, i), bytes.subarray(i)]));
  return results;
}

describe('SseParser', () => {
  it('parses OpenAI-style data events and [DONE]', () => {
    const ev = parseAll(['data: {"a":1}\n\ndata: {"b":2}\n\n', 'data: [DONE]\n\n']);
    expect(ev.map((e) => e.data)).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
    expect(ev[0]).toEqual({ data: '{"a":1}', event: undefined, id: undefined, retry: undefined });
  });

  it('handles CRLF, CR and LF line ends, including a CRLF split across reads', () => {
    const s = 'data: one\r\n\r\ndata: two\r\rdata: three\n\n';
    for (const ev of everySplit(s)) expect(ev.map((e) => e.data)).toEqual(['one', 'two', 'three']);
  });

  it('joins multi-line data with \\n and reads event, id and retry fields', () => {
    const s = 'event: delta\nid: 7\nretry: 1500\ndata: line 1\ndata:line 2\ndata\n\n';
    for (const ev of everySplit(s)) {
      expect(ev).toEqual([{ data: 'line 1\nline 2\n', event: 'delta', id: '7', retry: 1500 }]);
    }
  });

  it('ignores comments, unknown fields, and blank-line runs without data', () => {
    const ev = parseAll([': ping\n\n', 'foo: bar\n\n\n', ':\ndata: x\n\n']);
    expect(ev.map((e) => e.data)).toEqual(['x']);
  });

  it('keeps multi-byte characters split between reads intact', () => {
    const bytes = enc.encode('data: {"t":"héllo 🌊 naïve"}\n\n');
    for (let i = 0; i <= bytes.length; i++) {
      const ev = parseAll([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(ev.map((e) => e.data)).toEqual(['{"t":"héllo 🌊 naïve"}']);
    }
  });

  it('parses byte-by-byte delivery', () => {
    const s = 'data: {"x":[1,2]}\r\n\r\n: c\n\ndata: end\n\n';
    const out = parseAll([...enc.encode(s)].map((b) => new Uint8Array([b])));
    expect(out.map((e) => e.data)).toEqual(['{"x":[1,2]}', 'end']);
  });

  it('strips a leading BOM and only one space after the colon', () => {
    const ev = parseAll(['\uFEFFdata:  two spaces\n\n']);
    expect(ev[0]!.data).toBe(' two spaces');
  });

  it('reports a dangling unterminated event at end()', () => {
    const p = new SseParser();
    const out: SseEvent[] = [];
    p.push(enc.encode('data: {"partial"'), out);
    expect(out).toHaveLength(0);
    expect(p.end()).toBe(true);
    const q = new SseParser();
    q.push('data: ok\n\n', out);
    expect(q.end()).toBe(false);
  });

  it('keeps the field state of an event split across many reads', () => {
    const ev = parseAll(['event: a', 'bc\nda', 'ta: 1', '\ndata: 2\n', '\n']);
    expect(ev).toEqual([{ data: '1\n2', event: 'abc', id: undefined, retry: undefined }]);
  });
});

describe('SSE writers', () => {
  it('round-trip through the parser', () => {
    const text = sseData('{"a":1}') + sseComment('keep\nalive') + sseEvent('error', 'x\ny') + SSE_DONE;
    const ev = parseAll([text]);
    expect(ev.map((e) => [e.event, e.data])).toEqual([
      [undefined, '{"a":1}'],
      ['error', 'x\ny'],
      [undefined, '[DONE]'],
    ]);
  });
});
