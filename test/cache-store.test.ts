import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExactCache } from '../src/ai/cache/exact.ts';
import { AnswerCache } from '../src/ai/cache/index.ts';
import { exactKey } from '../src/ai/cache/key.ts';
import { cosineQ, quantise, SemanticCache } from '../src/ai/cache/semantic.ts';
import type { CachedAnswer } from '../src/ai/cache/types.ts';
import { HashingEmbedder } from '../src/providers/hashing.ts';
import { eventually, type StateHandle, stateCases } from './helpers/state.ts';

const answer = (text: string): CachedAnswer => ({
  v: 1,
  text,
  finishReason: 'stop',
  promptTokens: 3,
  completionTokens: 4,
  app: null,
  provider: 'openai',
  model: 'gpt-test',
  at: Date.now(),
});
const user = (content: string) => [{ role: 'user' as const, content }];

describe('exact cache keys', () => {
  it('ignore key order, surrounding whitespace, streaming and the end-user tag, but not parameters or tenants', () => {
    const base = exactKey('ten_a', 'gpt-test', user('Hi there'), { temperature: 0, extra: {} });
    expect(
      exactKey('ten_a', 'gpt-test', user('  Hi there \n'), {
        extra: { stream_options: { include_usage: true } },
        temperature: 0,
        user: 'u1',
      }),
    ).toBe(base);
    expect(exactKey('ten_a', 'gpt-test', user('Hi there'), { temperature: 0.5, extra: {} })).not.toBe(base);
    expect(exactKey('ten_a', 'gpt-test', user('Hi there'), { temperature: 0, extra: { n: 1 } })).not.toBe(
      base,
    );
    expect(exactKey('ten_b', 'gpt-test', user('Hi there'), { temperature: 0, extra: {} })).not.toBe(base);
    expect(exactKey('ten_a', 'other', user('Hi there'), { temperature: 0, extra: {} })).not.toBe(base);
    expect(base.startsWith('cx:ten_a:')).toBe(true);
  });
});

describe.each(stateCases)('answer caches on $name', (c) => {
  let h: StateHandle;
  beforeEach(async () => {
    if (!c.skip) h = await c.open();
  });
  afterEach(async () => {
    if (!c.skip) await h.close();
  });

  it.skipIf(c.skip)('an exact entry is shared by replicas and expires after its TTL', async () => {
    const cache = new ExactCache(h.state, { ttlMs: 150, maxEntryBytes: 10_000 });
    const peer = new ExactCache(await h.peer(), { ttlMs: 150, maxEntryBytes: 10_000 });
    await cache.set('cx:t:1', answer('forty-two'));
    expect((await peer.get('cx:t:1'))?.text).toBe('forty-two');
    expect(await eventually(async () => (await cache.get('cx:t:1')) === undefined, 100, 20)).toBe(true);
    // Oversized answers are not stored at all.
    await cache.set('cx:t:2', answer('x'.repeat(20_000)));
    expect(await cache.get('cx:t:2')).toBeUndefined();
  });

  it.skipIf(c.skip)(
    'a semantic entry matches similar questions above the threshold, per index, and expires',
    async () => {
      const sem = new SemanticCache(h.state, new HashingEmbedder(), {
        threshold: 0.8,
        ttlMs: 200,
        maxEntries: 2,
      });
      const q1 = await sem.embed('How do I rotate my API key?');
      await sem.store('ten_a', 'cs:i:ten_a:x', q1, answer('Use keel keys rotate.'));
      const near = await sem.lookup('ten_a', 'cs:i:ten_a:x', await sem.embed('how do i rotate my api key'));
      expect(near.answer?.text).toBe('Use keel keys rotate.');
      expect(near.similarity).toBeGreaterThan(0.8);
      const far = await sem.lookup(
        'ten_a',
        'cs:i:ten_a:x',
        await sem.embed('What is the capital of France?'),
      );
      expect(far.answer).toBeUndefined();
      expect((await sem.lookup('ten_b', 'cs:i:ten_b:x', q1)).answer).toBeUndefined();
      expect(
        await eventually(
          async () => (await sem.lookup('ten_a', 'cs:i:ten_a:x', q1)).answer === undefined,
          100,
          20,
        ),
      ).toBe(true);
    },
  );

  it.skipIf(c.skip)('keeps at most maxEntries questions per index, dropping the oldest', async () => {
    const sem = new SemanticCache(h.state, new HashingEmbedder(), {
      threshold: 0.95,
      ttlMs: 60_000,
      maxEntries: 2,
    });
    const qs = ['alpha beta gamma', 'delta epsilon zeta', 'eta theta iota'];
    for (const q of qs) await sem.store('t', 'cs:i:t:y', await sem.embed(q), answer(q));
    expect((await sem.lookup('t', 'cs:i:t:y', await sem.embed(qs[0]!))).answer).toBeUndefined();
    expect((await sem.lookup('t', 'cs:i:t:y', await sem.embed(qs[2]!))).answer?.text).toBe(qs[2]);
  });

  it.skipIf(c.skip)('plans nothing for requests that cannot share an answer', () => {
    const cache = new AnswerCache(
      h.state,
      { exact: { enabled: true, ttlMs: 1000, maxEntryBytes: 1000 }, semantic: { apps: {} } },
      'hashing',
      () => new HashingEmbedder(),
    );
    const req = { tenantId: 't', model: 'm', app: null, messages: user('q'), semanticAllowed: true };
    expect(cache.plan({ ...req, params: { extra: { n: 3 } } })).toBeUndefined();
    expect(cache.plan({ ...req, params: { extra: {} } })?.exactKey).toMatch(/^cx:t:/);
  });
});

describe('int8 vectors', () => {
  it('keep cosine similarity within a hundredth', () => {
    const a = [0.1, -0.4, 0.35, 0.8, -0.05];
    const b = [0.12, -0.38, 0.3, 0.82, 0.01];
    const exact = a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
    expect(Math.abs(cosineQ(quantise(a), quantise(b)) - exact)).toBeLessThan(0.01);
  });
});
