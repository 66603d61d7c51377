import { describe, expect, it } from 'vitest';
import { httpError, parseErrorBody, parseRetryAfter, scrub, transportError } from './openai-errors.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250.4', 'retry-after': '3' }, now)).toBe(250);
    expect(parseRetryAfter({ 'retry-after': '3' }, now)).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:10 GMT' }, now)).toBe(10_000);
  });
  it('ignores junk and clamps past dates to 0', () => {
    expect(parseRetryAfter({}, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after-ms': 'soon', 'retry-after': 'later' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 00:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': '-4' }, now)).toBeUndefined();
  });
});

describe('error bodies', () => {
  it('reads the shapes servers send', () => {
    expect(parseErrorBody('{"error":{"message":"bad","code":"x","type":"t"}}')).toEqual({
      message: 'bad',
      code: 'x',
      type: 't',
    });
    expect(parseErrorBody('{"error":"plain"}').message).toBe('plain');
    expect(parseErrorBody('{"message":"top","code":400}')).toMatchObject({ message: 'top', code: '400' });
    expect(parseErrorBody('<html>\n  Bad   gateway</html>').message).toBe('<html> Bad gateway</html>');
  });

  it('scrubs secrets wherever they appear', () => {
    expect(scrub('key sk-abcdef123 and sk-abcdef123', ['sk-abcdef123'])).toBe('key *** and ***');
    const e = httpError('p', 401, {}, '{"error":{"message":"Incorrect API key provided: sk-abcdef123"}}', [
      'sk-abcdef123',
    ]);
    expect(e.message).not.toContain('sk-abcdef123');
    expect(e.code).toBe('upstream_auth');
  });

  it('keeps 503 retry hints and treats unlisted 4xx as bad requests', () => {
    expect(httpError('p', 503, { 'retry-after': '1' }, '', []).retryAfterMs).toBe(1000);
    expect(httpError('p', 409, {}, '', []).code).toBe('upstream_bad_request');
  });
});

describe('transportError', () => {
  const ctx = { provider: 'p', abortedBy: undefined, timeouts: { connectMs: 1, firstByteMs: 2, totalMs: 3 } };
  it('classifies undici and socket codes', () => {
    expect(transportError({ code: 'UND_ERR_CONNECT_TIMEOUT' }, ctx).code).toBe('upstream_timeout');
    expect(transportError({ code: 'UND_ERR_HEADERS_TIMEOUT' }, ctx).code).toBe('upstream_timeout');
    expect(transportError({ code: 'UND_ERR_BODY_TIMEOUT' }, ctx).code).toBe('upstream_timeout');
    expect(transportError({ code: 'ECONNRESET' }, ctx).code).toBe('upstream_network');
    expect(transportError({ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' }, ctx).code).toBe(
      'upstream_protocol',
    );
  });
  it('names who aborted', () => {
    expect(transportError(new Error('x'), { ...ctx, abortedBy: 'caller' }).code).toBe('aborted');
    expect(transportError(new Error('x'), { ...ctx, abortedBy: 'total-timeout' }).code).toBe(
      'upstream_timeout',
    );
  });
});
