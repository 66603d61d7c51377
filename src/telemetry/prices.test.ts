import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../config/schema.ts';
import { PriceTable, toTokenPrice } from './prices.ts';

// Expected rates are the published USD per 1M tokens in @pydantic/genai-prices 0.1.8 (pinned).
describe('PriceTable', () => {
  const table = new PriceTable({
    overrides: {
      'vllm/*': { input: 0, output: 0 },
      'vllm/big-model': { input: 0.5, output: 1.5 },
      'openai/gpt-4o-mini': { input: 0.1, cachedInput: 0.05, output: 0.4 },
    },
    baseUrls: { oai: 'https://api.openai.com/v1', local: 'http://127.0.0.1:8000/v1' },
  });

  it('prices public models from the bundled table, dated snapshots included', () => {
    expect(table.lookup('openai', 'gpt-4o')).toEqual({
      known: true,
      price: { input: 2.5, cachedInput: 1.25, output: 10 },
      source: 'genai-prices',
      matched: 'gpt-4o',
    });
    expect(table.lookup('openai', 'gpt-4o-2024-08-06')).toMatchObject({ known: true, matched: 'gpt-4o' });
    expect(table.lookup('groq', 'llama-3.1-8b-instant')).toMatchObject({
      price: { input: 0.05, output: 0.08 },
    });
  });

  it('keeps long-context tiers', () => {
    expect(table.lookup('anthropic', 'claude-sonnet-4-5').price).toEqual({
      input: 3,
      cachedInput: 0.3,
      output: 15,
      tiers: [{ above: 200_000, input: 6, cachedInput: 0.6, output: 22.5 }],
    });
  });

  it('recognises a provider by its base URL', () => {
    expect(table.lookup('oai', 'gpt-4.1')).toMatchObject({ known: true, price: { input: 2, output: 8 } });
  });

  it('lets config override, exact model before provider wildcard', () => {
    expect(table.lookup('openai', 'gpt-4o-mini')).toMatchObject({ source: 'config', price: { input: 0.1 } });
    expect(table.lookup('vllm', 'big-model')).toMatchObject({
      source: 'config',
      price: { input: 0.5, output: 1.5 },
    });
    expect(table.lookup('vllm', 'anything')).toMatchObject({
      source: 'config',
      price: { input: 0, output: 0 },
    });
  });

  it("prices Keel's built-in providers at zero", () => {
    expect(table.lookup('extractive', 'extractive')).toMatchObject({ known: true, source: 'builtin' });
  });

  it('reports unknown prices with the config key to set, never throws', () => {
    const local = table.lookup('local', 'llama3');
    expect(local).toMatchObject({ known: false, price: null });
    if (!local.known) expect(local.reason).toContain('prices["local/llama3"]');
    expect(table.lookup('openai', 'no-such-model-xyz')).toMatchObject({ known: false, price: null });
  });
});

describe('prices from config', () => {
  it('accepts the validated `prices` section as overrides', () => {
    const config = ConfigSchema.parse({
      prices: { 'ollama/*': { input: 0, output: 0 }, 'vllm/qwen': { input: 0.2, output: 0.6 } },
    });
    const table = new PriceTable({ overrides: config.prices });
    expect(table.lookup('ollama', 'llama3')).toMatchObject({ known: true, source: 'config' });
    expect(table.lookup('vllm', 'qwen').price).toEqual({ input: 0.2, output: 0.6 });
    expect(() => ConfigSchema.parse({ prices: { 'no-slash': { input: 1, output: 1 } } })).toThrow(/provider/);
    expect(() => ConfigSchema.parse({ prices: { 'a/b': { input: -1, output: 1 } } })).toThrow();
  });
});

describe('toTokenPrice', () => {
  it('turns per-field tiers into whole-price tiers', () => {
    const p = toTokenPrice({
      input_mtok: { base: 1, tiers: [{ start: 1000, price: 2 }] } as never,
      output_mtok: {
        base: 4,
        tiers: [
          { start: 1000, price: 5 },
          { start: 5000, price: 6 },
        ],
      } as never,
    });
    expect(p).toEqual({
      input: 1,
      output: 4,
      tiers: [
        { above: 1000, input: 2, output: 5 },
        { above: 5000, input: 2, output: 6 },
      ],
    });
  });
});
