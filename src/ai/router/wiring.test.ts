import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.ts';
import type { ChatProvider } from '../../providers/types.ts';
import type { BreakerState } from './breaker.ts';
import { bindBreakerGauge, createRouting, isRouter } from './wiring.ts';

const provider = (id: string): ChatProvider => ({
  id,
  async *stream() {
    yield { type: 'text-delta', text: 'hi' };
  },
});

function routing() {
  const config = ConfigSchema.parse({
    providers: {
      a: { type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' },
      b: { type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' },
    },
    routes: {
      inner: { targets: [{ provider: 'b', model: 'm2' }] },
      outer: { targets: [{ provider: 'a', model: 'm1' }, { route: 'inner' }] },
    },
    breakers: { consecutiveFailures: 1, cooldownMs: 60_000 },
  });
  return createRouting(
    config,
    new Map([
      ['a', provider('a')],
      ['b', provider('b')],
    ]),
  );
}

describe('createRouting', () => {
  it('builds every route and a breaker for every target before any call', () => {
    const r = routing();
    expect([...r.routes.keys()].sort()).toEqual(['inner', 'outer']);
    expect(r.breakers.snapshot().map((s) => [s.target, s.state])).toEqual([
      ['a/m1', 'closed'],
      ['b/m2', 'closed'],
    ]);
    expect(isRouter(r.routes.get('outer')!)).toBe(true);
    expect(isRouter(provider('a'))).toBe(false);
  });

  it('mirrors breaker states into a gauge: the current ones, then every change until stopped', () => {
    const r = routing();
    const seen: [string, BreakerState][] = [];
    const stop = bindBreakerGauge(r.breakers, { setBreakerState: (t, s) => seen.push([t, s]) });
    expect(seen).toEqual([
      ['a/m1', 'closed'],
      ['b/m2', 'closed'],
    ]);
    r.breakers.get('a/m1').acquire()!.failure();
    expect(seen.at(-1)).toEqual(['a/m1', 'open']);
    stop();
    r.breakers.get('b/m2').acquire()!.failure();
    expect(seen).toHaveLength(3);
  });

  it('a throwing listener does not break the call that moved the breaker', () => {
    const r = routing();
    r.breakers.watch(() => {
      throw new Error('broken gauge');
    });
    expect(() => r.breakers.get('a/m1').acquire()!.failure()).not.toThrow();
    expect(r.breakers.get('a/m1').current()).toBe('open');
  });
});
