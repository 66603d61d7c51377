import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBreakers } from '../src/ai/router/breaker.ts';
import { RouteError } from '../src/ai/router/errors.ts';
import { createRoutes } from '../src/ai/router/index.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { ProviderError } from '../src/errors.ts';
import { type AnthropicConfig, createAnthropicProvider } from '../src/providers/anthropic.ts';
import { collect } from '../src/providers/collect.ts';
import type { ChatProvider, ChatRequest, StreamPart } from '../src/providers/types.ts';
import { type AnthropicUpstream, startAnthropicUpstream } from './peers/anthropic-upstream.ts';

const KEY = 'sk-ant-test-0123456789-secret';
let up: AnthropicUpstream;
let provider: ChatProvider;

const cfg = (extra: Record<string, unknown> = {}): AnthropicConfig =>
  ConfigSchema.parse({ providers: { c: { type: 'anthropic', baseUrl: up.url, apiKey: KEY, ...extra } } })
    .providers.c as AnthropicConfig;

const req = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'claude-test',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'developer', content: 'Use English.' },
    { role: 'user', content: 'hello there' },
  ],
  ...extra,
});

async function parts(
  r: ChatRequest,
  opts: Parameters<ChatProvider['stream']>[1] = {},
): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const p of provider.stream(r, opts)) out.push(p);
  return out;
}

async function failure(r: ChatRequest = req()): Promise<ProviderError> {
  try {
    await parts(r);
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderError);
    return e as ProviderError;
  }
  throw new Error('expected a failure');
}

const lastBody = () => up.requests[up.requests.length - 1]!.body as Record<string, unknown>;

beforeAll(async () => {
  up = await startAnthropicUpstream({ apiKey: KEY, chunks: 3 });
  provider = createAnthropicProvider('claude', cfg({ timeouts: { firstByteMs: 2_000 } }));
});
afterAll(async () => {
  await provider.close?.();
  await up.close();
});
beforeEach(() => {
  up.script(undefined);
  up.requests.length = 0;
});

describe('anthropic chat', () => {
  it('streams text with start, finish and usage, and sends a valid Messages request', async () => {
    const out = await parts(req({ temperature: 1.7, stop: 'END', user: 'u-1', max_tokens: 77 }));
    expect(out[0]).toMatchObject({
      type: 'start',
      model: 'claude-test',
      id: expect.stringMatching(/^msg_test_/),
    });
    const text = out.flatMap((p) => (p.type === 'text-delta' ? [p.text] : [])).join('');
    expect(text).toBe('You said: hello there');
    expect(out.filter((p) => p.type === 'text-delta').length).toBe(3);
    expect(out.at(-2)).toEqual({ type: 'finish', finishReason: 'stop' });
    expect(out.at(-1)).toEqual({
      type: 'usage',
      usage: { promptTokens: 6, completionTokens: 3, totalTokens: 9 },
    });

    const r = up.requests[0]!;
    expect(r.path).toBe('/v1/messages');
    expect(r.headers['x-api-key']).toBe(KEY);
    expect(r.headers['anthropic-version']).toBe('2023-06-01');
    expect(r.headers.authorization).toBeUndefined();
    expect(r.body).toEqual({
      model: 'claude-test',
      max_tokens: 77,
      system: 'Be brief.\n\nUse English.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
      temperature: 1,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      stream: true,
    });
  });

  it('uses the configured max_tokens default, and answers non-streamed calls from the JSON message', async () => {
    const out = await parts(req(), { streamUpstream: false });
    expect(lastBody()).toMatchObject({ max_tokens: 4_096, stream: false });
    const c = await collect(
      (async function* () {
        yield* out;
      })(),
    );
    expect(c).toMatchObject({
      text: 'You said: hello there',
      finishReason: 'stop',
      usage: { promptTokens: 6, completionTokens: 3 },
    });
  });

  it('maps cache reads and writes into prompt tokens', async () => {
    up.script([{ kind: 'reply', text: 'ok', chunks: 1, cacheCreationTokens: 100, cacheReadTokens: 2_000 }]);
    const c = await collect(provider.stream(req()));
    expect(c.usage).toEqual({
      promptTokens: 6 + 100 + 2_000,
      completionTokens: 1,
      totalTokens: 2_107,
      cachedPromptTokens: 2_000,
      cacheWritePromptTokens: 100,
    });
  });

  it('translates tools both ways: definitions, choice, calls, results, and streamed tool_use', async () => {
    up.script([
      {
        kind: 'reply',
        text: 'Let me check.',
        toolUses: [
          { id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'c' } },
          { id: 'toolu_2', name: 'get_time', input: { tz: 'CET' } },
        ],
      },
    ]);
    const conversation: ChatRequest = {
      model: 'claude-test',
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'toolu_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'toolu_b', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_a', content: '18C' },
        { role: 'tool', tool_call_id: 'toolu_b', content: [{ type: 'text', text: '14:00' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'And tomorrow?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
        { type: 'function', function: { name: 'get_time' } },
      ],
      tool_choice: 'required',
      extra: { parallel_tool_calls: false },
    };
    const out = await parts(conversation);
    const body = lastBody();
    expect(body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
      },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_b', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_a', content: '18C' },
          { type: 'tool_result', tool_use_id: 'toolu_b', content: '14:00' },
          { type: 'text', text: 'And tomorrow?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        ],
      },
    ]);
    const deltas = out.filter((p) => p.type === 'tool-call-delta').map((p) => p.toolCall);
    expect(deltas[0]).toEqual({ index: 0, id: 'toolu_1', name: 'get_weather', argumentsDelta: '' });
    expect(deltas.every((d) => d.index === 0 || d.index === 1)).toBe(true);
    const c = await collect(
      (async function* () {
        yield* out;
      })(),
    );
    expect(c.text).toBe('Let me check.');
    expect(c.finishReason).toBe('tool_calls');
    expect(c.toolCalls).toEqual([
      {
        id: 'toolu_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
      },
      { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
    ]);
  });

  it('maps a named tool_choice, and asks for JSON when response_format wants it', async () => {
    await parts(
      req({
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        tool_choice: { type: 'function', function: { name: 'f' } },
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { type: 'object', required: ['a'] } },
        },
      }),
    );
    expect(lastBody().tool_choice).toEqual({ type: 'tool', name: 'f' });
    expect(lastBody().system).toContain('{"type":"object","required":["a"]}');
  });

  it('rejects what Anthropic cannot take before calling it', async () => {
    const e = await failure(
      req({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }),
    );
    expect(e.code).toBe('upstream_bad_request');
    expect(up.requests).toHaveLength(0);
  });
});

describe('anthropic errors', () => {
  it('529 overloaded is a retryable 5xx with its retry hint', async () => {
    up.script([{ kind: 'status', status: 529, message: 'Overloaded', headers: { 'retry-after': '3' } }]);
    const e = await failure();
    expect(e).toMatchObject({
      code: 'upstream_5xx',
      retryable: true,
      retryAfterMs: 3_000,
      upstreamStatus: 529,
    });
    expect(e.message).toContain('overloaded');
  });

  it('rate_limit_error carries retry-after; auth errors never show the key', async () => {
    up.script([
      { kind: 'status', status: 429, headers: { 'retry-after': '7' } },
      { kind: 'status', status: 401, message: `invalid x-api-key ${KEY}` },
      { kind: 'status', status: 400, message: 'messages: roles must alternate' },
    ]);
    expect(await failure()).toMatchObject({
      code: 'upstream_rate_limited',
      retryable: true,
      retryAfterMs: 7_000,
    });
    const auth = await failure();
    expect(auth).toMatchObject({ code: 'upstream_auth', retryable: false });
    expect(auth.message).not.toContain(KEY);
    expect(await failure()).toMatchObject({ code: 'upstream_bad_request', retryable: false });
  });

  it.each([
    [{ kind: 'error-event', errorType: 'overloaded_error' }, 'upstream_5xx', true],
    [{ kind: 'error-event', errorType: 'rate_limit_error' }, 'upstream_rate_limited', true],
    [{ kind: 'error-event', errorType: 'invalid_request_error' }, 'upstream_bad_request', false],
    [{ kind: 'eof-mid-stream' }, 'upstream_protocol', true],
    [{ kind: 'malformed-sse' }, 'upstream_protocol', true],
    [{ kind: 'reset-mid-stream' }, 'upstream_network', true],
  ] as const)('mid-stream %o → %s', async (fault, code, retryable) => {
    up.script([fault]);
    const e = await failure();
    expect(e).toMatchObject({ code, retryable });
  });

  it('a hung upstream times out', async () => {
    const p = createAnthropicProvider('slow', cfg({ timeouts: { firstByteMs: 150 } }));
    up.script([{ kind: 'hang' }]);
    await expect(collect(p.stream(req()))).rejects.toMatchObject({ code: 'upstream_timeout' });
    await p.close?.();
  });
});

describe('anthropic behind a route', () => {
  it('retries an overloaded Anthropic target, and ends in-band once content went out', async () => {
    const config = ConfigSchema.parse({
      providers: { claude: { type: 'anthropic', baseUrl: up.url, apiKey: KEY } },
      routes: {
        r: { targets: [{ provider: 'claude', model: 'claude-test' }], retries: { max: 2, baseDelayMs: 1 } },
      },
    });
    const routers = createRoutes(config, new Map([['claude', provider]]), createBreakers(config.breakers));
    up.script([{ kind: 'status', status: 529 }]);
    const c = await collect(routers.get('r')!.stream(req()));
    expect(c.text).toBe('You said: hello there');
    expect(up.requests).toHaveLength(2);

    up.script([{ kind: 'error-event', afterEvents: 4 }]);
    const seen: StreamPart[] = [];
    let err: unknown;
    try {
      for await (const p of routers.get('r')!.stream(req())) seen.push(p);
    } catch (e) {
      err = e;
    }
    expect(seen.some((p) => p.type === 'text-delta' && p.text.length > 0)).toBe(true);
    expect(err).toBeInstanceOf(RouteError);
    expect(err).toMatchObject({ afterFirstByte: true, code: 'upstream_5xx' });
    expect(up.requests).toHaveLength(3);
  });
});
