import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BreakerSnapshot, createBreakers } from '../src/ai/router/breaker.ts';
import { RouteError } from '../src/ai/router/errors.ts';
import { createRoutes } from '../src/ai/router/index.ts';
import type { Router } from '../src/ai/router/router.ts';
import { type AttemptReport, type RouterClock, seededRandom } from '../src/ai/router/types.ts';
import { ConfigSchema, type KeelConfig } from '../src/config/schema.ts';
import { collect } from '../src/providers/collect.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
} from '../src/providers/openai-compatible.ts';
import type { ChatProvider, ChatRequest, StreamPart } from '../src/providers/types.ts';
import { countChatTokens, countTextTokens } from '../src/telemetry/cost.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

/**
 * The router over real OpenAI-protocol peers with scripted faults. Backoff sleeps go through an
 * injected clock that records the wait and returns at once, so nothing here depends on timing
 * except the hang cases, which use short real timeouts.
 */

let a: OpenAIUpstream;
let b: OpenAIUpstream;
let providers: Map<string, ChatProvider>;
let sleeps: number[];
let breakerNow: number;

const clock: RouterClock = {
  now: () => performance.now(),
  sleep: async (ms, signal) => {
    sleeps.push(ms);
    if (signal?.aborted) throw signal.reason;
  },
  timer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  random: seededRandom(1),
};

function providerCfg(url: string): OpenAICompatibleConfig {
  const raw = { type: 'openai-compatible', baseUrl: url, timeouts: { firstByteMs: 3_000, totalMs: 10_000 } };
  return ConfigSchema.parse({ providers: { x: raw } }).providers.x as OpenAICompatibleConfig;
}

function setup(routes: Record<string, unknown>, breakers: Record<string, unknown> = {}) {
  const config: KeelConfig = ConfigSchema.parse({
    providers: {
      a: { type: 'openai-compatible', baseUrl: a.url, region: 'eu' },
      b: { type: 'openai-compatible', baseUrl: b.url, region: 'us' },
      quiet: { type: 'openai-compatible', baseUrl: a.url },
    },
    routes,
    breakers: { consecutiveFailures: 3, cooldownMs: 10_000, ...breakers },
  });
  const reg = createBreakers({ ...config.breakers, now: () => breakerNow });
  const routers = createRoutes(config, providers, reg, { clock });
  return { routers, breakers: reg, r: (name: string) => routers.get(name)! };
}

const req = (content = 'hello'): ChatRequest => ({ model: 'ignored', messages: [{ role: 'user', content }] });

interface Outcome {
  parts: StreamPart[];
  text: string;
  attempts: AttemptReport[];
  error: RouteError | undefined;
}

async function run(router: Router, r = req(), signal?: AbortSignal): Promise<Outcome> {
  const parts: StreamPart[] = [];
  const attempts: AttemptReport[] = [];
  let error: RouteError | undefined;
  try {
    for await (const p of router.stream(r, { signal, onAttempt: (x) => attempts.push(x) })) parts.push(p);
  } catch (e) {
    expect(e).toBeInstanceOf(RouteError);
    error = e as RouteError;
  }
  const text = parts.flatMap((p) => (p.type === 'text-delta' ? [p.text] : [])).join('');
  return { parts, text, attempts, error };
}

const summary = (o: Outcome) =>
  o.attempts.map((x) => `${x.target}#${x.attempt}:${x.outcome}${x.error ? `:${x.error.code}` : ''}`);

beforeAll(async () => {
  a = await startOpenAIUpstream({ chunks: 3 });
  b = await startOpenAIUpstream({ chunks: 3, content: 'answer from b' });
  providers = new Map<string, ChatProvider>([
    ['a', createOpenAICompatibleProvider('a', providerCfg(a.url))],
    ['b', createOpenAICompatibleProvider('b', providerCfg(b.url))],
    ['quiet', createOpenAICompatibleProvider('quiet', providerCfg(a.url), { includeUsage: false })],
  ]);
});
afterAll(async () => {
  for (const p of providers.values()) await p.close?.();
  await a.close();
  await b.close();
});
beforeEach(() => {
  a.script(undefined);
  b.script(undefined);
  a.requests.length = 0;
  b.requests.length = 0;
  sleeps = [];
  breakerNow = 1_000_000;
});

const FALLBACK = {
  main: {
    targets: [
      { provider: 'a', model: 'gpt-a' },
      { provider: 'b', model: 'gpt-b' },
    ],
    retries: { max: 2, baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 5_000 },
  },
};

describe('retries before the first byte', () => {
  it('retries a 429 after exactly its Retry-After, then answers from the same target', async () => {
    const { r } = setup(FALLBACK);
    a.script([{ kind: 'status', status: 429, headers: { 'retry-after': '2' } }]);
    const o = await run(r('main'));
    expect(o.error).toBeUndefined();
    expect(o.text).toBe('You said: hello');
    expect(sleeps).toEqual([2_000]);
    expect(summary(o)).toEqual(['a/gpt-a#0:error:upstream_rate_limited', 'a/gpt-a#1:ok']);
    expect(o.attempts[1]).toMatchObject({ delayMs: 2_000, provider: 'a', model: 'gpt-a', region: 'eu' });
    expect(o.attempts[1]!.ttftMs).toBeGreaterThanOrEqual(0);
    expect(o.attempts[1]!.usage).toMatchObject({ promptTokens: 1, completionTokens: 3 });
    expect(a.requests.map((x) => (x.body as { model: string }).model)).toEqual(['gpt-a', 'gpt-a']);
    expect(b.requests).toHaveLength(0);
  });

  it('prefers retry-after-ms, and skips to the next target when the wait asked for is over the cap', async () => {
    const { r } = setup(FALLBACK);
    a.script([
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '150', 'retry-after': '9' } },
      { kind: 'status', status: 429, headers: { 'retry-after': '60' } },
    ]);
    const o = await run(r('main'));
    expect(o.text).toBe('answer from b');
    expect(sleeps).toEqual([150]);
    expect(summary(o)).toEqual([
      'a/gpt-a#0:error:upstream_rate_limited',
      'a/gpt-a#1:error:upstream_rate_limited',
      'b/gpt-b#0:ok',
    ]);
  });

  it('backs off with jitter on 5xx, network resets, malformed SSE and truncated JSON, then falls back', async () => {
    const { r } = setup(FALLBACK);
    a.script([
      { kind: 'status', status: 500 },
      { kind: 'reset-before-headers' },
      { kind: 'malformed-sse', afterChunks: 1 },
    ]);
    const o = await run(r('main'));
    expect(o.text).toBe('answer from b');
    expect(summary(o)).toEqual([
      'a/gpt-a#0:error:upstream_5xx',
      'a/gpt-a#1:error:upstream_network',
      'a/gpt-a#2:error:upstream_protocol',
      'b/gpt-b#0:ok',
    ]);
    // Full jitter: a uniform wait under 100 ms, then under 200 ms (a wait of 0 is not slept).
    expect(o.attempts[1]!.delayMs).toBeLessThan(100);
    expect(o.attempts[2]!.delayMs).toBeLessThan(200);
    expect(sleeps).toEqual([o.attempts[1]!.delayMs, o.attempts[2]!.delayMs].filter((d) => d! > 0));
    // Non-streaming upstream calls follow the same rules.
    b.script([{ kind: 'truncated-json' }]);
    const parts: StreamPart[] = [];
    const attempts: AttemptReport[] = [];
    const rb = setup({ only: { targets: [{ provider: 'b', model: 'm' }] } }).r('only');
    for await (const p of rb.stream(req(), { streamUpstream: false, onAttempt: (x) => attempts.push(x) }))
      parts.push(p);
    expect(attempts.map((x) => x.outcome)).toEqual(['error', 'ok']);
    expect(attempts[0]!.error?.code).toBe('upstream_protocol');
    expect(parts.find((p) => p.type === 'text-delta')).toMatchObject({ text: 'answer from b' });
  });

  it('never retries 400/404; 400 ends the route, while 401/404 fall back without retrying', async () => {
    const { r } = setup(FALLBACK);
    a.script([{ kind: 'status', status: 400, message: 'context too long' }]);
    const bad = await run(r('main'));
    expect(bad.error).toMatchObject({ code: 'upstream_bad_request', status: 400, afterFirstByte: false });
    expect(bad.error!.message).toContain('context too long');
    expect(bad.error!.attempts).toHaveLength(1);
    expect(b.requests).toHaveLength(0);

    a.script([{ kind: 'status', status: 401 }]);
    b.script([{ kind: 'status', status: 404 }]);
    const o = await run(r('main'));
    expect(summary(o)).toEqual(['a/gpt-a#0:error:upstream_auth', 'b/gpt-b#0:error:upstream_not_found']);
    expect(o.error).toMatchObject({ code: 'upstream_not_found', status: 404, afterFirstByte: false });
    expect(o.error!.message).toBe("Route 'main' failed after 2 attempt(s): " + o.attempts[1]!.error!.message);
    expect(sleeps).toEqual([]);
  });

  it('times out a target that hangs before the first token, then falls back', async () => {
    const { r } = setup({
      main: {
        targets: [
          { provider: 'a', model: 'gpt-a', timeouts: { firstByteMs: 150 } },
          { provider: 'b', model: 'gpt-b' },
        ],
        retries: { max: 0 },
      },
    });
    a.script([{ kind: 'hang' }]);
    const o = await run(r('main'));
    expect(o.text).toBe('answer from b');
    expect(summary(o)).toEqual(['a/gpt-a#0:error:upstream_timeout', 'b/gpt-b#0:ok']);
    expect(o.attempts[0]!.error!.message).toContain('sent no content within 150 ms');
    await expect(a.requests[0]!.settled).resolves.toBe('aborted');
  });

  it('gives one clear error carrying every attempt when all targets fail', async () => {
    const { r } = setup(FALLBACK);
    a.script({ kind: 'status', status: 503 });
    a.script(() => ({ kind: 'status', status: 503 }));
    b.script(() => ({ kind: 'status', status: 502 }));
    const o = await run(r('main'));
    expect(o.parts).toEqual([]);
    expect(o.error).toMatchObject({
      code: 'upstream_5xx',
      status: 502,
      afterFirstByte: false,
      route: 'main',
    });
    expect(o.error!.attempts.map((x) => x.target)).toEqual([
      'a/gpt-a',
      'a/gpt-a',
      'a/gpt-a',
      'b/gpt-b',
      'b/gpt-b',
      'b/gpt-b',
    ]);
    expect(o.attempts).toEqual(o.error!.attempts);
  });
});

describe('after the first byte', () => {
  it.each([
    ['reset-mid-stream', 'upstream_network'],
    ['error-event', 'upstream_5xx'],
    ['eof-mid-stream', 'upstream_protocol'],
    ['malformed-sse', 'upstream_protocol'],
  ] as const)('%s: no retry, no fallback, a terminal error marked afterFirstByte', async (kind, code) => {
    const { r } = setup(FALLBACK);
    a.script([{ kind, afterChunks: 2 }]);
    const o = await run(r('main'));
    expect(o.text.length).toBeGreaterThan(0);
    expect(o.error).toMatchObject({ code, afterFirstByte: true, retryable: false });
    expect(o.error!.usage).toMatchObject({ estimated: true, completionTokens: expect.any(Number) });
    expect(summary(o)).toEqual([`a/gpt-a#0:error:${code}`]);
    expect(o.attempts[0]!.afterFirstByte).toBe(true);
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(0);
  });

  it('holds back the start and role parts until content, so nothing leaks from a failed attempt', async () => {
    const { r } = setup(FALLBACK);
    a.script([{ kind: 'reset-mid-stream', afterChunks: 1 }]);
    const o = await run(r('main'));
    expect(o.error).toBeUndefined();
    expect(summary(o)).toEqual(['a/gpt-a#0:error:upstream_network', 'a/gpt-a#1:ok']);
    const starts = o.parts.filter((p) => p.type === 'start');
    expect(starts).toHaveLength(1);
    // The first request's start part never came out; only the retry's.
    expect(a.requests).toHaveLength(2);
    const lastRaw = o.parts.findLast((p) => p.raw !== undefined)!.raw!;
    expect(starts[0]).toMatchObject({ id: (JSON.parse(lastRaw) as { id: string }).id });
    expect(o.text).toBe('You said: hello');
  });

  it('a target over its total time is cut off mid-stream: a terminal timeout, the upstream call cancelled', async () => {
    const { r } = setup({
      main: {
        targets: [
          { provider: 'a', model: 'gpt-a', timeouts: { totalMs: 300 } },
          { provider: 'b', model: 'gpt-b' },
        ],
      },
    });
    a.script([{ kind: 'stall', afterChunks: 2 }]);
    const o = await run(r('main'));
    expect(o.text.length).toBeGreaterThan(0);
    expect(o.error).toMatchObject({ code: 'upstream_timeout', afterFirstByte: true });
    expect(o.error!.message).toContain('did not finish within 300 ms');
    await expect(a.requests[0]!.settled).resolves.toBe('aborted');
    expect(b.requests).toHaveLength(0);
  });

  it('a slow drip is not a failure', async () => {
    const { r } = setup(FALLBACK);
    a.script([{ kind: 'drip', intervalMs: 5 }]);
    const o = await run(r('main'));
    expect(o.text).toBe('You said: hello');
    expect(summary(o)).toEqual(['a/gpt-a#0:ok']);
  });
});

describe('circuit breakers', () => {
  it('open after consecutive failures, are skipped while open, and close after a good probe', async () => {
    const { r, breakers } = setup({
      main: {
        targets: [
          { provider: 'a', model: 'gpt-a' },
          { provider: 'b', model: 'gpt-b' },
        ],
        retries: { max: 0 },
      },
    });
    a.script(() => ({ kind: 'status', status: 500 }));
    for (let i = 0; i < 3; i++) expect((await run(r('main'))).text).toBe('answer from b');
    const snap = (t: string) => breakers.snapshot().find((s: BreakerSnapshot) => s.target === t)!;
    expect(snap('a/gpt-a')).toMatchObject({ state: 'open', opens: 1 });
    expect(a.requests).toHaveLength(3);

    const skipped = await run(r('main'));
    expect(summary(skipped)).toEqual(['a/gpt-a#0:skipped', 'b/gpt-b#0:ok']);
    expect(a.requests).toHaveLength(3);

    a.script(undefined); // a heals
    breakerNow += 10_000;
    const probe = await run(r('main'));
    expect(summary(probe)).toEqual(['a/gpt-a#0:ok']);
    expect(snap('a/gpt-a')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('every target open: one 503-style error with a retry hint, no upstream call', async () => {
    const { r } = setup(
      { main: { targets: [{ provider: 'a', model: 'gpt-a' }], retries: { max: 0 } } },
      { consecutiveFailures: 1 },
    );
    a.script(() => ({ kind: 'status', status: 503 }));
    await run(r('main'));
    const o = await run(r('main'));
    expect(o.error).toMatchObject({ code: 'unavailable', status: 503, retryAfterMs: 10_000 });
    expect(summary(o)).toEqual(['a/gpt-a#0:skipped']);
    expect(a.requests).toHaveLength(1);
  });

  it('bad requests and cancellations do not count against a target', async () => {
    const { r, breakers } = setup(
      { main: { targets: [{ provider: 'a', model: 'gpt-a' }], retries: { max: 0 } } },
      { consecutiveFailures: 1 },
    );
    a.script([{ kind: 'status', status: 400 }]);
    await run(r('main'));
    const ctl = new AbortController();
    ctl.abort();
    const o = await run(r('main'), req(), ctl.signal);
    expect(o.error).toMatchObject({ code: 'aborted' });
    expect(breakers.snapshot()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });
});

describe('weighted, nested and regional routes', () => {
  it('spreads load by weight (seeded) and falls back to the other target', async () => {
    const { r } = setup({
      lb: {
        strategy: 'weighted',
        targets: [
          { provider: 'a', model: 'gpt-a', weight: 3 },
          { provider: 'b', model: 'gpt-b', weight: 1 },
        ],
        retries: { max: 0 },
      },
    });
    for (let i = 0; i < 40; i++) await collect(r('lb').stream(req()));
    expect(a.requests.length + b.requests.length).toBe(40);
    expect(a.requests.length).toBeGreaterThan(b.requests.length);
    expect(b.requests.length).toBeGreaterThan(0);
    a.script(() => ({ kind: 'status', status: 500 }));
    b.requests.length = 0;
    for (let i = 0; i < 5; i++) expect((await collect(r('lb').stream(req()))).text).toBe('answer from b');
    expect(b.requests).toHaveLength(5);
  });

  it('nested routes: a sub-route does its own retries, then the parent falls back', async () => {
    const { r } = setup({
      inner: { targets: [{ provider: 'a', model: 'gpt-a' }], retries: { max: 1, baseDelayMs: 10 } },
      outer: { targets: [{ route: 'inner' }, { provider: 'b', model: 'gpt-b' }], retries: { max: 0 } },
    });
    a.script(() => ({ kind: 'status', status: 502 }));
    const o = await run(r('outer'));
    expect(o.text).toBe('answer from b');
    expect(o.attempts.map((x) => `${x.route}:${x.target}#${x.attempt}:${x.outcome}`)).toEqual([
      'inner:a/gpt-a#0:error',
      'inner:a/gpt-a#1:error',
      'outer:b/gpt-b#0:ok',
    ]);
    expect(
      r('outer')
        .leaves()
        .map((l) => l.key),
    ).toEqual(['a/gpt-a', 'b/gpt-b']);
  });

  it('keeps to the allowed regions', async () => {
    const { r } = setup(FALLBACK);
    const attempts: AttemptReport[] = [];
    const c = await collect(r('main').stream(req(), { regions: ['us'], onAttempt: (x) => attempts.push(x) }));
    expect(c.text).toBe('answer from b');
    expect(a.requests).toHaveLength(0);
    await expect(collect(r('main').stream(req(), { regions: ['apac'] }))).rejects.toMatchObject({
      code: 'unavailable',
      retryable: false,
    });
  });
});

describe('usage and cancellation', () => {
  it('estimates usage with the tokenizer when the upstream reports none', async () => {
    const { r } = setup({ q: { targets: [{ provider: 'quiet', model: 'gpt-4o-mini' }] } });
    const c = await collect(r('q').stream(req('count these words please')));
    expect(c.text).toBe('You said: count these words please');
    const completionTokens = countTextTokens('You said: count these words please', 'gpt-4o-mini');
    expect(c.usage).toEqual({
      promptTokens: countChatTokens(req('count these words please').messages, { model: 'gpt-4o-mini' }),
      completionTokens,
      totalTokens: c.usage!.promptTokens + completionTokens,
      estimated: true,
    });
    expect(completionTokens).toBe(7);
    expect((a.requests[0]!.body as { stream_options?: unknown }).stream_options).toBeUndefined();
  });

  it('a caller that stops reading cancels the upstream call and reports the attempt as aborted', async () => {
    const { r, breakers } = setup(FALLBACK);
    a.script([{ kind: 'drip', intervalMs: 20 }]);
    const attempts: AttemptReport[] = [];
    for await (const p of r('main').stream(req(), { onAttempt: (x) => attempts.push(x) })) {
      if (p.type === 'text-delta' && p.text) break;
    }
    expect(attempts.map((x) => x.outcome)).toEqual(['aborted']);
    await expect(a.requests[0]!.settled).resolves.toBe('aborted');
    expect(breakers.snapshot()[0]).toMatchObject({ state: 'closed', windowRequests: 0 });
  });

  it('a caller abort mid-backoff ends the route at once', async () => {
    const { r } = setup(FALLBACK);
    const ctl = new AbortController();
    a.script(() => {
      ctl.abort();
      return { kind: 'status', status: 500 };
    });
    const o = await run(r('main'), req(), ctl.signal);
    expect(o.error).toMatchObject({ code: 'aborted' });
    expect(b.requests).toHaveLength(0);
  });
});
