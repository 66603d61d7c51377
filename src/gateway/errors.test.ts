import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toHttpError, zodParam } from './errors.ts';

describe('gateway errors', () => {
  it('names fields the way OpenAI does', () => {
    expect(zodParam(['messages', 0, 'content'])).toBe('messages[0].content');
    expect(zodParam(['tools', 1, 'function', 'name'])).toBe('tools[1].function.name');
    expect(zodParam([])).toBeNull();
  });

  it('maps zod errors to 400 with the param, and unknown errors to a 500 without details', () => {
    const r = z.object({ a: z.array(z.number()) }).safeParse({ a: [1, 'x'] });
    const e = toHttpError(r.error);
    expect(e).toMatchObject({ status: 400, code: 'invalid_request', param: 'a[1]' });
    const internal = toHttpError(new Error('secret detail'));
    expect(internal.status).toBe(500);
    expect(JSON.stringify(internal.toJSON())).not.toContain('secret detail');
  });
});
