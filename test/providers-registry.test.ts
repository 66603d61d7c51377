import { describe, expect, it } from 'vitest';
import { ConfigSchema, type KeelConfig } from '../src/config/schema.ts';
import { KeelError } from '../src/errors.ts';
import { collect } from '../src/providers/collect.ts';
import { buildProviders, resolveModel } from '../src/providers/registry.ts';
import { startOpenAIUpstream } from './peers/openai-upstream.ts';

const cfg = (raw: Record<string, unknown>): KeelConfig => ConfigSchema.parse(raw);

describe('resolveModel', () => {
  const config = cfg({
    providers: {
      up: { type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' },
      hash2: { type: 'hashing' },
    },
    models: { fast: { provider: 'up', model: 'gpt-4o-mini' }, broken: { provider: 'nope', model: 'x' } },
  });

  it('resolves extractive, aliases and <provider>/<model> (model names may contain slashes)', () => {
    expect(resolveModel('extractive', config)).toEqual({ provider: 'extractive', model: 'extractive' });
    expect(resolveModel('fast', config)).toEqual({ provider: 'up', model: 'gpt-4o-mini' });
    expect(resolveModel('up/meta-llama/Llama-3-8B', config)).toEqual({
      provider: 'up',
      model: 'meta-llama/Llama-3-8B',
    });
    expect(resolveModel('extractive/anything', config)).toEqual({
      provider: 'extractive',
      model: 'anything',
    });
  });

  it('rejects unknown models, embedder-only providers and dangling aliases with model_not_found', () => {
    for (const ref of ['gpt-4o', 'other/gpt-4o', 'hash2/x', 'up/', 'broken']) {
      let err: unknown;
      try {
        resolveModel(ref, config);
      } catch (e) {
        err = e;
      }
      expect(err, ref).toBeInstanceOf(KeelError);
      expect((err as KeelError).code).toBe('model_not_found');
      expect((err as KeelError).status).toBe(404);
    }
  });

  it('sends anything else to the pass-through provider when one is set', () => {
    const pt = cfg({ ...config, passthroughProvider: 'up' });
    expect(resolveModel('gpt-4o', pt)).toEqual({ provider: 'up', model: 'gpt-4o' });
    expect(resolveModel('fast', pt)).toEqual({ provider: 'up', model: 'gpt-4o-mini' });
  });
});

describe('buildProviders', () => {
  it('builds built-ins and configured providers, and embedders by reference', async () => {
    const up = await startOpenAIUpstream({ embeddingDimensions: 4 });
    const providers = buildProviders(
      cfg({
        providers: {
          up: { type: 'openai-compatible', baseUrl: up.url },
          hashing: { type: 'hashing', dimensions: 64 },
          small: { type: 'hashing', dimensions: 16 },
        },
        models: { emb: { provider: 'up', model: 'text-embedding-test' } },
      }),
    );
    try {
      expect([...providers.chat.keys()].sort()).toEqual(['extractive', 'up']);
      expect(providers.embedder('hashing').dimensions).toBe(64);
      expect(providers.embedder('small').dimensions).toBe(16);
      expect((await providers.embedder('small').embed(['a b c'])).vectors[0]).toHaveLength(16);
      const remote = providers.embedder('up/text-embedding-test');
      expect(providers.embedder('up/text-embedding-test')).toBe(remote);
      expect((await remote.embed(['x'])).vectors[0]).toHaveLength(4);
      expect(providers.embedder('emb').model).toBe('text-embedding-test');
      expect(() => providers.embedder('nope/x')).toThrow(KeelError);

      const chat = providers.chat.get('up')!;
      const res = await collect(
        chat.stream({ model: 'gpt-test', messages: [{ role: 'user', content: 'ping' }] }),
      );
      expect(res.text).toBe('You said: ping');
    } finally {
      await providers.closeAll();
      await up.close();
    }
  });

  it('always has extractive and a 512-dimension hashing embedder', () => {
    const providers = buildProviders(cfg({}));
    expect(providers.chat.get('extractive')?.id).toBe('extractive');
    expect(providers.embedder('hashing').dimensions).toBe(512);
  });
});
