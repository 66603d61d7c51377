import { describe, expect, it } from 'vitest';
import type { ChatMessage, ToolDefinition } from '../providers/types.ts';
import {
  costOf,
  countChatTokens,
  countTextTokens,
  maxTokensWithin,
  microsToUsd,
  usdToMicros,
  worstCaseCost,
} from './cost.ts';
import type { TokenPrice } from './prices.ts';

const MINI: TokenPrice = { input: 0.15, cachedInput: 0.075, output: 0.6 };
const TIERED: TokenPrice = {
  input: 3,
  cachedInput: 0.3,
  output: 15,
  tiers: [{ above: 200_000, input: 6, cachedInput: 0.6, output: 22.5 }],
};

describe('costOf', () => {
  it('bills uncached, cached and output tokens at their rates', () => {
    // (600 x 0.15 + 400 x 0.075 + 100 x 0.6) / 1e6 = (90 + 30 + 60) / 1e6
    expect(costOf({ promptTokens: 1000, cachedPromptTokens: 400, completionTokens: 100 }, MINI)).toBeCloseTo(
      0.00018,
      12,
    );
    // cachedInput defaults to input
    expect(
      costOf({ promptTokens: 10, cachedPromptTokens: 10, completionTokens: 0 }, { input: 1, output: 2 }),
    ).toBeCloseTo(0.00001, 12);
  });

  it('switches to the long-context tier only past its threshold', () => {
    // (200000 x 3 + 1000 x 15) / 1e6
    expect(costOf({ promptTokens: 200_000, completionTokens: 1000 }, TIERED)).toBeCloseTo(0.615, 10);
    // (250000 x 6 + 1000 x 22.5) / 1e6
    expect(costOf({ promptTokens: 250_000, completionTokens: 1000 }, TIERED)).toBeCloseTo(1.5225, 10);
  });

  it('is 0 for an unknown price', () => {
    expect(costOf({ promptTokens: 1000, completionTokens: 1000 }, null)).toBe(0);
  });
});

describe('worst case and clamping', () => {
  it('worstCaseCost charges every prompt token uncached plus max_tokens', () => {
    // (1000 x 0.15 + 500 x 0.6) / 1e6
    expect(worstCaseCost(1000, 500, MINI)).toBeCloseTo(0.00045, 12);
  });

  it('maxTokensWithin finds the largest max_tokens that fits', () => {
    // (0.001 - 1000 x 0.15 / 1e6) x 1e6 / 0.6 = 1416.67
    expect(maxTokensWithin(0.001, 1000, MINI)).toBe(1416);
    expect(worstCaseCost(1000, 1416, MINI)).toBeLessThanOrEqual(0.001);
    expect(worstCaseCost(1000, 1417, MINI)).toBeGreaterThan(0.001);
    expect(maxTokensWithin(0.0001, 1000, MINI)).toBe(0); // the prompt alone is over
    expect(maxTokensWithin(1, 10, { input: 1, output: 0 })).toBe(Number.POSITIVE_INFINITY);
  });

  it('converts USD to integer micro-USD without float noise', () => {
    expect(usdToMicros(0.00015, 'up')).toBe(150);
    expect(usdToMicros(0.0001501, 'up')).toBe(151);
    expect(usdToMicros(0.0000004)).toBe(0);
    expect(usdToMicros(1.5225)).toBe(1_522_500);
    expect(microsToUsd(1_522_500)).toBe(1.5225);
  });
});

describe('countChatTokens', () => {
  // OpenAI cookbook "How to count tokens with tiktoken": the API reports 124 prompt tokens for
  // gpt-4o / gpt-4o-mini and 129 for gpt-4 / gpt-3.5-turbo for this conversation.
  const cookbook: ChatMessage[] = [
    {
      role: 'system',
      content:
        'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
    },
    { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
    {
      role: 'system',
      name: 'example_assistant',
      content: 'Things working well together will increase revenue.',
    },
    {
      role: 'system',
      name: 'example_user',
      content:
        "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
      role: 'system',
      name: 'example_assistant',
      content: "Let's talk later when we're less busy about how to do better.",
    },
    {
      role: 'user',
      content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
  ];

  it("matches the API's counts for OpenAI models", () => {
    expect(countChatTokens(cookbook, { model: 'gpt-4o' })).toBe(124);
    expect(countChatTokens(cookbook)).toBe(124);
    expect(countChatTokens(cookbook, { model: 'gpt-4-0613' })).toBe(129);
    expect(countChatTokens(cookbook, { model: 'openai/gpt-3.5-turbo' })).toBe(129);
    // 3 per message + "user" (1) + "hello world" (2) + 3 to prime the reply
    expect(countChatTokens([{ role: 'user', content: 'hello world' }])).toBe(9);
  });

  it('counts text parts and images', () => {
    const parts: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'hello world' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
      ],
    };
    expect(countChatTokens([parts])).toBe(9 + 85);
  });

  it('counts tool definitions and a forced tool choice as the model sees them', () => {
    const hello: ChatMessage[] = [{ role: 'user', content: 'hello' }];
    const tool = (fn: ToolDefinition['function']): ToolDefinition => ({ type: 'function', function: fn });
    const foo = tool({ name: 'foo', parameters: { type: 'object', properties: {} } });
    // Token counts reported by the API (gpt-tokenizer's function-calling fixtures).
    expect(countChatTokens(hello, { tools: [foo] })).toBe(31);
    expect(countChatTokens(hello, { tools: [foo], toolChoice: 'none' })).toBe(32);
    expect(
      countChatTokens(hello, { tools: [foo], toolChoice: { type: 'function', function: { name: 'foo' } } }),
    ).toBe(36);
    const bingBong = tool({
      name: 'bing_bong',
      description: 'Do a bing bong',
      parameters: {
        type: 'object',
        properties: { foo: { type: 'string' }, bar: { type: 'number', description: 'A number' } },
      },
    });
    expect(countChatTokens(hello, { tools: [bingBong] })).toBe(52);
  });

  it('never throws on odd input: special-token text, malformed schemas, tool calls', () => {
    expect(countTextTokens('<|endoftext|>')).toBeGreaterThan(1);
    const weird = [{ type: 'function', function: { name: 'x', parameters: { properties: { a: null } } } }];
    expect(countChatTokens([{ role: 'user', content: 'hi' }], { tools: weird as never })).toBeGreaterThan(8);
    const call: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      ],
    };
    const withCall = countChatTokens([{ role: 'user', content: 'hi' }, call]);
    expect(withCall).toBeGreaterThan(
      countChatTokens([
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: '' },
      ]),
    );
  });
});
