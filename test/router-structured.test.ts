import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBreakers } from '../src/ai/router/breaker.ts';
import { createRoutes } from '../src/ai/router/index.ts';
import { structuredFormat, validateStructured, withStructuredOutput } from '../src/ai/structured.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { KeelError } from '../src/errors.ts';
import { collect } from '../src/providers/collect.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
  type OpenAICompatibleProvider,
} from '../src/providers/openai-compatible.ts';
import type { ChatRequest, StreamPart } from '../src/providers/types.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, temp: { type: 'number' } },
  required: ['city', 'temp'],
  additionalProperties: false,
};

const req = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'Weather in Oslo as JSON' }],
  response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } },
  ...extra,
});

let up: OpenAIUpstream;
let provider: OpenAICompatibleProvider;

beforeAll(async () => {
  up = await startOpenAIUpstream({ chunks: 2 });
  const cfg = ConfigSchema.parse({ providers: { p: { type: 'openai-compatible', baseUrl: up.url } } })
    .providers.p;
  provider = createOpenAICompatibleProvider('p', cfg as OpenAICompatibleConfig);
});
afterAll(async () => {
  await provider.close();
  await up.close();
});
beforeEach(() => {
  up.script(undefined);
  up.requests.length = 0;
});

const call = (r: ChatRequest) => provider.stream(r);

describe('validateStructured', () => {
  const fmt = structuredFormat(req().response_format)!;

  it('accepts matching JSON, also inside a code fence', () => {
    expect(validateStructured('{"city":"Oslo","temp":3}', fmt)).toMatchObject({
      ok: true,
      value: { city: 'Oslo', temp: 3 },
    });
    expect(validateStructured('```json\n{"city":"Oslo","temp":3}\n```', fmt)).toMatchObject({
      ok: true,
      text: '{"city":"Oslo","temp":3}',
    });
  });

  it('says what is wrong', () => {
    expect(validateStructured('Sure! {"city":', fmt)).toMatchObject({
      ok: false,
      error: expect.stringContaining('not valid JSON'),
    });
    const r = validateStructured('{"city":"Oslo","temp":"cold","x":1}', fmt);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain("schema 'weather'");
    expect(!r.ok && r.error).toContain('reply/temp must be number');
    expect(!r.ok && r.error).toContain('must NOT have additional properties');
    expect(validateStructured('[1]', { kind: 'json_object' })).toMatchObject({ ok: false });
  });
});

describe('withStructuredOutput over the OpenAI peer', () => {
  it('passes a valid answer through untouched (raw bytes included)', async () => {
    up.script([{ kind: 'reply', content: '{"city":"Oslo","temp":3}' }]);
    const direct: StreamPart[] = [];
    for await (const p of withStructuredOutput(call, req())) direct.push(p);
    expect(direct.filter((p) => p.raw !== undefined).length).toBeGreaterThan(2);
    expect(up.requests).toHaveLength(1);
    expect((up.requests[0]!.body as { response_format: unknown }).response_format).toEqual(
      req().response_format,
    );
  });

  it('repairs once: re-asks with the validation error, then returns the good answer with summed usage', async () => {
    up.script([
      { kind: 'reply', content: '{"city":"Oslo","temp":"cold"}' },
      { kind: 'reply', content: '{"city":"Oslo","temp":-2}' },
    ]);
    const repairs: string[] = [];
    const c = await collect(withStructuredOutput(call, req(), { onRepair: (e) => repairs.push(e) }));
    expect(JSON.parse(c.text)).toEqual({ city: 'Oslo', temp: -2 });
    expect(up.requests).toHaveLength(2);
    const second = up.requests[1]!.body as { messages: { role: string; content: string }[] };
    expect(second.messages.slice(1)).toEqual([
      { role: 'assistant', content: '{"city":"Oslo","temp":"cold"}' },
      { role: 'user', content: expect.stringContaining('reply/temp must be number') },
    ]);
    expect(repairs).toHaveLength(1);
    // Both calls are charged (the peer counts prompt words and one token per chunk).
    const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
    const secondPrompt = second.messages.reduce((n, m) => n + words(m.content), 0);
    expect(c.usage).toEqual({
      promptTokens: 5 + secondPrompt,
      completionTokens: 4,
      totalTokens: 5 + secondPrompt + 4,
    });
  });

  it('unwraps a fenced answer into bare JSON', async () => {
    up.script([{ kind: 'reply', content: '```json\n{"city":"Oslo","temp":3}\n```' }]);
    const parts: StreamPart[] = [];
    for await (const p of withStructuredOutput(call, req())) parts.push(p);
    expect(parts.filter((p) => p.type === 'text-delta')).toEqual([
      { type: 'text-delta', text: '{"city":"Oslo","temp":3}' },
    ]);
    expect(parts.every((p) => p.raw === undefined)).toBe(true);
  });

  it('fails clearly when the model never produces valid JSON, after exactly one repair', async () => {
    up.script(() => ({ kind: 'reply', content: 'I think it is cold in Oslo.' }));
    const err = await collect(withStructuredOutput(call, req())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeelError);
    expect(err).toMatchObject({ code: 'output_invalid', status: 502, param: 'response_format' });
    expect((err as Error).message).toContain('after 2 attempt(s): the reply is not valid JSON');
    expect(up.requests).toHaveLength(2);
  });

  it('json_object is checked for an object; tool calls and plain requests pass through', async () => {
    up.script([{ kind: 'reply', content: '{"ok":true}' }]);
    const c = await collect(withStructuredOutput(call, req({ response_format: { type: 'json_object' } })));
    expect(c.text).toBe('{"ok":true}');

    up.script([{ kind: 'reply', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"q":"oslo"}' }] }]);
    const t = await collect(withStructuredOutput(call, req()));
    expect(t.toolCalls[0]!.function.name).toBe('lookup');

    const plain = req({ response_format: undefined });
    const c2 = await collect(withStructuredOutput(call, plain));
    expect(c2.text).toBe('You said: Weather in Oslo as JSON');
    expect(up.requests).toHaveLength(3);
  });

  it('rejects an uncompilable schema as the client’s error', () => {
    expect(() =>
      withStructuredOutput(
        call,
        req({
          response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nonsense' } } },
        }),
      ),
    ).toThrow(expect.objectContaining({ code: 'invalid_request', param: 'response_format' }));
  });

  it('works over a route: the repair goes through the router too', async () => {
    const config = ConfigSchema.parse({
      providers: { p: { type: 'openai-compatible', baseUrl: up.url } },
      routes: { r: { targets: [{ provider: 'p', model: 'gpt-test' }] } },
    });
    const router = createRoutes(config, new Map([['p', provider]]), createBreakers(config.breakers)).get(
      'r',
    )!;
    up.script([
      { kind: 'status', status: 503 },
      { kind: 'reply', content: 'nope' },
      { kind: 'reply', content: '{"city":"Oslo","temp":1}' },
    ]);
    const c = await collect(withStructuredOutput((r) => router.stream(r), req()));
    expect(JSON.parse(c.text)).toEqual({ city: 'Oslo', temp: 1 });
    expect(up.requests).toHaveLength(3);
  });
});
