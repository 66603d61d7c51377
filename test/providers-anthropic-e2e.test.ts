import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startKeel, type TestKeel } from './helpers/keel.ts';
import { type AnthropicUpstream, startAnthropicUpstream } from './peers/anthropic-upstream.ts';

/** The official OpenAI client against Keel, with an Anthropic-protocol upstream behind it. */

const KEY = 'sk-ant-e2e-0123456789-secret';
let up: AnthropicUpstream;
let keel: TestKeel;
let client: OpenAI;

beforeAll(async () => {
  up = await startAnthropicUpstream({ apiKey: KEY, chunks: 3 });
  keel = await startKeel({
    configure: (c) => {
      c.providers.claude = {
        type: 'anthropic',
        baseUrl: up.url,
        apiKey: KEY,
        version: '2023-06-01',
        betas: [],
        headers: {},
        timeouts: { connectMs: 2_000, firstByteMs: 5_000, totalMs: 10_000 },
        connections: 8,
        maxTokens: 256,
      };
    },
  });
  client = new OpenAI({ baseURL: keel.baseURL, apiKey: keel.adminKey, maxRetries: 0 });
});
afterAll(async () => {
  await keel?.close();
  await up?.close();
});
beforeEach(() => {
  up.script(undefined);
  up.requests.length = 0;
});

describe('openai client → Keel → Anthropic', () => {
  it('streams chat completion chunks translated from Anthropic events, with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude/claude-test',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello from openai' },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('You said: hello from openai');
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    expect(up.requests[0]!.body).toMatchObject({
      model: 'claude-test',
      system: 'Be brief.',
      max_tokens: 256,
      stream: true,
    });
  });

  it('returns tool calls in OpenAI shape, streamed and not', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    up.script([
      {
        kind: 'reply',
        text: '',
        toolUses: [{ id: 'toolu_9', name: 'get_weather', input: { city: 'Oslo' } }],
      },
      {
        kind: 'reply',
        text: '',
        toolUses: [{ id: 'toolu_10', name: 'get_weather', input: { city: 'Bergen' } }],
      },
    ]);
    const res = await client.chat.completions.create({
      model: 'claude/claude-test',
      messages: [{ role: 'user', content: 'weather?' }],
      tools,
      tool_choice: 'auto',
    });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(res.choices[0]!.message.tool_calls).toEqual([
      { id: 'toolu_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
    ]);
    expect(up.requests[0]!.body.tool_choice).toEqual({ type: 'auto' });

    const stream = await client.chat.completions.create({
      model: 'claude/claude-test',
      messages: [
        { role: 'user', content: 'weather?' },
        res.choices[0]!.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'toolu_9', content: '3C' },
      ],
      tools,
      stream: true,
    });
    const args: string[] = [];
    let name = '';
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (tc.function?.name) name = tc.function.name;
        if (tc.function?.arguments) args.push(tc.function.arguments);
      }
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args.join(''))).toEqual({ city: 'Bergen' });
    // The tool result reached Anthropic as a tool_result block answering the previous tool_use.
    expect((up.requests[1]!.body.messages as unknown[]).at(-1)).toEqual({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: '3C' }],
    });
  });

  it('maps an overloaded Anthropic to an upstream error the client can read', async () => {
    up.script([{ kind: 'status', status: 529 }]);
    const err = await client.chat.completions
      .create({ model: 'claude/claude-test', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_5xx');
  });
});
