import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProviderSchema } from '../src/config/schema.ts';
import { ProviderError } from '../src/errors.ts';
import { collect } from '../src/providers/collect.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
  type OpenAICompatibleProvider,
} from '../src/providers/openai-compatible.ts';
import type { CallOptions, ChatRequest, StreamPart } from '../src/providers/types.ts';
import { fakeEmbedding, type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const KEY = 'sk-test-0123456789abcdef-secret';

function config(baseUrl: string, extra: Record<string, unknown> = {}): OpenAICompatibleConfig {
  return ProviderSchema.parse({
    type: 'openai-compatible',
    baseUrl,
    apiKey: KEY,
    ...extra,
  }) as OpenAICompatibleConfig;
}

const req = (content = 'hello there', extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-test',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content },
  ],
  ...extra,
});

async function parts(p: OpenAICompatibleProvider, r: ChatRequest, opts?: CallOptions): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of p.stream(r, opts)) out.push(part);
  return out;
}

async function failure(
  p: OpenAICompatibleProvider,
  r: ChatRequest = req(),
  opts?: CallOptions,
): Promise<ProviderError> {
  try {
    await parts(p, r, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderError);
    return e as ProviderError;
  }
  throw new Error('expected the call to fail');
}

let up: OpenAIUpstream;
let provider: OpenAICompatibleProvider;

beforeAll(async () => {
  up = await startOpenAIUpstream({ apiKey: KEY, chunks: 4 });
  provider = createOpenAICompatibleProvider('up', config(up.url, { timeouts: { firstByteMs: 2_000 } }));
});
afterAll(async () => {
  await provider.close();
  await up.close();
});
beforeEach(() => {
  up.script(undefined);
  up.requests.length = 0;
});

describe('openai-compatible chat', () => {
  it('streams parts with usage, and raw event JSON on the last part of each event', async () => {
    const out = await parts(
      provider,
      req('hello there', { temperature: 0.2, extra: { logit_bias: { '42': 1 }, foo: 'bar' } }),
    );
    expect(out[0]).toMatchObject({ type: 'start', id: 'chatcmpl-test-1', model: 'gpt-test' });
    const text = out.flatMap((p) => (p.type === 'text-delta' ? [p.text] : [])).join('');
    expect(text).toBe('You said: hello there');
    expect(out.filter((p) => p.type === 'finish')).toEqual([
      expect.objectContaining({ finishReason: 'stop' }),
    ]);
    const usage = out.find((p) => p.type === 'usage');
    expect(usage).toMatchObject({ usage: { promptTokens: 4, completionTokens: 4, totalTokens: 8 } });

    // 1 role event + 4 content events + finish + usage; each forwards verbatim exactly once.
    const raws = out.flatMap((p) => (p.raw === undefined ? [] : [p.raw]));
    expect(raws).toHaveLength(7);
    for (const raw of raws) expect(JSON.parse(raw).object).toBe('chat.completion.chunk');
    expect(JSON.parse(raws[6]!).usage.total_tokens).toBe(8);

    const sent = up.requests[0]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers.accept).toBe('text/event-stream');
    expect(sent.body).toMatchObject({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      logit_bias: { '42': 1 },
      foo: 'bar',
    });
    expect((sent.body as { messages: unknown[] }).messages).toHaveLength(2);
  });

  it('makes a non-streaming upstream call that yields the same parts, raw = the whole body', async () => {
    const out = await parts(provider, req('non stream'), { streamUpstream: false });
    expect(up.requests[0]!.body).toMatchObject({ stream: false });
    expect((up.requests[0]!.body as Record<string, unknown>).stream_options).toBeUndefined();
    const c = await collect(
      (async function* () {
        yield* out;
      })(),
    );
    expect(c).toMatchObject({
      text: 'You said: non stream',
      finishReason: 'stop',
      usage: { promptTokens: 4 },
    });
    const last = out[out.length - 1]!;
    expect(last.type).toBe('usage');
    expect(JSON.parse(last.raw!).object).toBe('chat.completion');
  });

  it('reuses the keep-alive connection across calls', async () => {
    for (let i = 0; i < 3; i++) {
      await parts(provider, req());
      await parts(provider, req(), { streamUpstream: false });
    }
    expect(up.requests).toHaveLength(6);
    // undici may keep a second socket warm while the first one drains; never one per request.
    expect(new Set(up.requests.map((r) => r.remotePort)).size).toBeLessThanOrEqual(2);
  });

  it('assembles streamed tool calls', async () => {
    up.script({
      kind: 'reply',
      toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"keel docs"}' }],
    });
    const c = await collect(provider.stream(req()));
    expect(c.finishReason).toBe('tool_calls');
    expect(c.toolCalls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"keel docs"}' } },
    ]);
  });

  it('reports a content_filter finish as a finish, not an error', async () => {
    up.script({ kind: 'reply', content: 'partial', finishReason: 'content_filter' });
    expect((await collect(provider.stream(req()))).finishReason).toBe('content_filter');
  });

  it('accepts a JSON answer to a streaming request', async () => {
    const body = {
      id: 'x1',
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: 'plain json' }, finish_reason: 'stop' }],
    };
    up.script({ kind: 'status', status: 200, body });
    expect((await collect(provider.stream(req()))).text).toBe('plain json');
  });

  it('applies the slow drip when within the timeouts', async () => {
    up.script({ kind: 'drip', intervalMs: 5 });
    expect((await collect(provider.stream(req('drip')))).text).toBe('You said: drip');
  });
});

describe('openai-compatible error mapping', () => {
  it('429 with retry-after-ms takes precedence over retry-after', async () => {
    up.script({ kind: 'status', status: 429, headers: { 'retry-after-ms': '1500', 'retry-after': '9' } });
    const e = await failure(provider);
    expect(e).toMatchObject({
      code: 'upstream_rate_limited',
      retryable: true,
      retryAfterMs: 1500,
      upstreamStatus: 429,
    });
  });

  it('429 with retry-after seconds or an HTTP date', async () => {
    up.script({ kind: 'status', status: 429, headers: { 'retry-after': '2' } });
    expect((await failure(provider)).retryAfterMs).toBe(2000);
    up.script({
      kind: 'status',
      status: 429,
      headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() },
    });
    const ms = (await failure(provider)).retryAfterMs!;
    expect(ms).toBeGreaterThan(50_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });

  it('429 insufficient_quota is not retryable', async () => {
    up.script({
      kind: 'status',
      status: 429,
      body: { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
    });
    expect(await failure(provider)).toMatchObject({ code: 'upstream_rate_limited', retryable: false });
  });

  it('401 maps to upstream_auth and never echoes the key', async () => {
    up.script({
      kind: 'status',
      status: 401,
      message: `Incorrect API key provided: ${KEY}. You can find your API key at ...`,
    });
    const e = await failure(provider);
    expect(e.code).toBe('upstream_auth');
    expect(e.retryable).toBe(false);
    expect(e.message).not.toContain(KEY);
    expect(JSON.stringify(e.toJSON())).not.toContain(KEY);
  });

  it('a wrong key reaching the peer is upstream_auth', async () => {
    const bad = createOpenAICompatibleProvider(
      'bad',
      config(up.url, { apiKey: 'sk-wrong-key-000000000000' }),
    );
    try {
      expect((await failure(bad)).code).toBe('upstream_auth');
    } finally {
      await bad.close();
    }
  });

  it.each([
    [400, 'upstream_bad_request', false],
    [422, 'upstream_bad_request', false],
    [403, 'upstream_auth', false],
    [404, 'upstream_not_found', false],
    [408, 'upstream_timeout', true],
    [500, 'upstream_5xx', true],
    [503, 'upstream_5xx', true],
  ])('HTTP %i maps to %s', async (status, code, retryable) => {
    up.script({ kind: 'status', status, message: `upstream says ${status}` });
    const e = await failure(provider);
    expect(e).toMatchObject({ code, retryable, upstreamStatus: status, provider: 'up' });
    expect(e.message).toContain(`upstream says ${status}`);
  });

  it('an Azure-style content filter 400 is content_filtered', async () => {
    up.script({
      kind: 'status',
      status: 400,
      body: { error: { message: 'filtered', code: 'content_filter' } },
    });
    expect((await failure(provider)).code).toBe('content_filtered');
  });

  it('a hang with no bytes times out at first byte (per-call override)', async () => {
    up.script({ kind: 'hang' });
    const e = await failure(provider, req(), { timeouts: { firstByteMs: 150 } });
    expect(e.code).toBe('upstream_timeout');
    expect(await up.requests[0]!.settled).toBe('aborted');
  });

  it('a stream that stalls after headers times out', async () => {
    up.script({ kind: 'stall', afterChunks: 1 });
    expect((await failure(provider, req(), { timeouts: { firstByteMs: 150 } })).code).toBe(
      'upstream_timeout',
    );
  });

  it('the total deadline ends a slow drip', async () => {
    up.script({ kind: 'drip', intervalMs: 100 });
    expect((await failure(provider, req(), { timeouts: { totalMs: 150 } })).code).toBe('upstream_timeout');
  });

  it('reset before headers is upstream_network', async () => {
    up.script({ kind: 'reset-before-headers' });
    expect(await failure(provider)).toMatchObject({ code: 'upstream_network', retryable: true });
  });

  it('reset mid-stream is upstream_network after the first parts arrived', async () => {
    up.script({ kind: 'reset-mid-stream', afterChunks: 2 });
    const seen: StreamPart[] = [];
    let err: unknown;
    try {
      for await (const p of provider.stream(req())) seen.push(p);
    } catch (e) {
      err = e;
    }
    expect(seen.some((p) => p.type === 'text-delta' && p.text.length > 0)).toBe(true);
    expect(err).toMatchObject({ code: 'upstream_network' });
  });

  it('connection refused is upstream_network', async () => {
    const dead = await startOpenAIUpstream();
    const url = dead.url;
    await dead.close();
    const p = createOpenAICompatibleProvider('dead', config(url));
    try {
      expect((await failure(p)).code).toBe('upstream_network');
    } finally {
      await p.close();
    }
  });

  it.each([
    ['malformed-sse', { kind: 'malformed-sse' }],
    ['eof-mid-stream', { kind: 'eof-mid-stream', afterChunks: 3 }],
  ] as const)('%s is upstream_protocol', async (_name, fault) => {
    up.script(fault);
    expect((await failure(provider)).code).toBe('upstream_protocol');
  });

  it('truncated JSON is upstream_protocol', async () => {
    up.script({ kind: 'truncated-json' });
    expect((await failure(provider, req(), { streamUpstream: false })).code).toBe('upstream_protocol');
  });

  it('an in-band error event is upstream_5xx', async () => {
    up.script({ kind: 'error-event', afterChunks: 2 });
    expect((await failure(provider)).code).toBe('upstream_5xx');
  });
});

describe('openai-compatible cancellation', () => {
  it('aborting mid-stream cancels the upstream request at once', async () => {
    up.script({ kind: 'drip', intervalMs: 50 });
    const ac = new AbortController();
    const it = provider.stream(req(), { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'start' });
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: 'aborted' });
    expect(await up.requests[0]!.settled).toBe('aborted');
  });

  it('aborting before headers cancels a hung request', async () => {
    up.script({ kind: 'hang' });
    const ac = new AbortController();
    const pending = failure(provider, req(), { signal: ac.signal });
    while (up.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect((await pending).code).toBe('aborted');
    expect(await up.requests[0]!.settled).toBe('aborted');
  });

  it('an already-aborted signal sends nothing', async () => {
    const e = await failure(provider, req(), { signal: AbortSignal.abort() });
    expect(e.code).toBe('aborted');
    expect(up.requests).toHaveLength(0);
  });

  it('a consumer that stops iterating releases the upstream', async () => {
    up.script({ kind: 'drip', intervalMs: 50 });
    for await (const p of provider.stream(req())) if (p.type === 'start') break;
    expect(await up.requests[0]!.settled).toBe('aborted');
  });
});

describe('openai-compatible embeddings and models', () => {
  it('embeds a batch in input order with usage', async () => {
    const emb = provider.embeddings('text-embedding-test');
    expect(emb).toMatchObject({ id: 'up', model: 'text-embedding-test', dimensions: undefined });
    const res = await emb.embed(['alpha beta', 'gamma']);
    expect(res.vectors).toEqual([fakeEmbedding('alpha beta', 8), fakeEmbedding('gamma', 8)]);
    expect(res.usage).toEqual({ promptTokens: 3, totalTokens: 3 });
    expect(up.requests[0]!.body).toEqual({
      model: 'text-embedding-test',
      input: ['alpha beta', 'gamma'],
      encoding_format: 'float',
    });
  });

  it('sends nothing for an empty batch and maps errors', async () => {
    const emb = provider.embeddings('text-embedding-test');
    expect((await emb.embed([])).vectors).toEqual([]);
    expect(up.requests).toHaveLength(0);
    up.script({ kind: 'status', status: 503 });
    await expect(emb.embed(['x'])).rejects.toMatchObject({ code: 'upstream_5xx' });
  });

  it('lists upstream models', async () => {
    expect(await provider.listModels()).toEqual(['gpt-test', 'gpt-4o-mini', 'text-embedding-test']);
  });
});
