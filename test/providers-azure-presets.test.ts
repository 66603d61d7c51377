import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config/schema.ts';
import { ProviderError } from '../src/errors.ts';
import { collect } from '../src/providers/collect.ts';
import type { OpenAICompatibleConfig } from '../src/providers/openai-compatible.ts';
import {
  type AzureOpenAIConfig,
  createAzureOpenAIProvider,
  createConfiguredOpenAIProvider,
  dropParams,
} from '../src/providers/openai-variants.ts';
import { OPENAI_PRESETS } from '../src/providers/presets.ts';
import { buildProviders, resolveModel } from '../src/providers/registry.ts';
import type { ChatRequest } from '../src/providers/types.ts';
import { fakeEmbedding, type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const KEY = 'azure-key-0123456789abcdef';
let up: OpenAIUpstream;

const provider = (raw: Record<string, unknown>) => ConfigSchema.parse({ providers: { p: raw } }).providers.p;
const req = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'hi azure' }],
  ...extra,
});

beforeAll(async () => {
  up = await startOpenAIUpstream({ apiKey: KEY, chunks: 2 });
});
afterAll(async () => {
  await up.close();
});
beforeEach(() => {
  up.script(undefined);
  up.requests.length = 0;
});

describe('azure-openai', () => {
  const azure = (extra: Record<string, unknown> = {}) =>
    createAzureOpenAIProvider(
      'az',
      provider({
        type: 'azure-openai',
        endpoint: `http://127.0.0.1:${up.port}/`,
        apiKey: KEY,
        deployments: { 'gpt-4o': 'prod-4o' },
        ...extra,
      }) as AzureOpenAIConfig,
    );

  it('calls the deployment path with api-version and the api-key header', async () => {
    const p = azure();
    const c = await collect(p.stream(req({ temperature: 0.3 })));
    expect(c.text).toBe('You said: hi azure');
    expect(c.usage).toMatchObject({ promptTokens: 2, completionTokens: 2 });
    const r = up.requests[0]!;
    expect(r.path).toBe('/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21');
    expect(r.headers['api-key']).toBe(KEY);
    expect(r.headers.authorization).toBeUndefined();
    expect(r.body).toMatchObject({ temperature: 0.3, stream: true, stream_options: { include_usage: true } });
    // An unmapped model is the deployment name itself; non-streamed calls work the same way.
    const other = await collect(p.stream(req({ model: 'my-deploy' }), { streamUpstream: false }));
    expect(other.text).toBe('You said: hi azure');
    expect(up.requests[1]!.path).toBe(
      '/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21',
    );
    expect(await p.listModels()).toEqual(['gpt-4o']);
    await p.close();
  });

  it('embeds through the deployment', async () => {
    const p = azure({ apiVersion: '2025-01-01-preview' });
    const e = await p.embeddings('text-embedding-3-small').embed(['alpha', 'beta']);
    expect(e.vectors).toEqual([fakeEmbedding('alpha', 8), fakeEmbedding('beta', 8)]);
    expect(up.requests[0]!.path).toBe(
      '/openai/deployments/text-embedding-3-small/embeddings?api-version=2025-01-01-preview',
    );
    await p.close();
  });

  it('maps a rejected key to upstream_auth without echoing it', async () => {
    const p = azure({ apiKey: 'wrong-key-0123456789' });
    const err = await collect(p.stream(req())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'upstream_auth', upstreamStatus: 401 });
    expect((err as Error).message).not.toContain('wrong-key-0123456789');
    await p.close();
  });

  it('validates its config', () => {
    expect(() => provider({ type: 'azure-openai', endpoint: 'x' })).toThrow();
    expect(() =>
      provider({
        type: 'azure-openai',
        endpoint: 'https://r.openai.azure.com',
        deploymentPath: '/no-placeholder',
      }),
    ).toThrow();
  });
});

describe('presets', () => {
  it('fill base URL, auth style and unsupported parameters; written settings win', () => {
    const ollama = provider({ type: 'openai-compatible', preset: 'ollama' }) as OpenAICompatibleConfig;
    expect(ollama).toMatchObject({
      baseUrl: OPENAI_PRESETS.ollama.baseUrl,
      auth: 'none',
      unsupportedParams: [...OPENAI_PRESETS.ollama.unsupportedParams],
    });
    const vllm = provider({
      type: 'openai-compatible',
      preset: 'vllm',
      baseUrl: 'http://gpu-box:9000/v1',
      unsupportedParams: [],
    });
    expect(vllm).toMatchObject({ baseUrl: 'http://gpu-box:9000/v1', auth: 'bearer', unsupportedParams: [] });
    expect(() => provider({ type: 'openai-compatible', preset: 'nonesuch' })).toThrow(/preset/);
    expect(() => provider({ type: 'openai-compatible' })).toThrow();
  });

  it('a preset provider drops the parameters its server rejects and sends no key when auth is none', async () => {
    const cfg = provider({
      type: 'openai-compatible',
      preset: 'ollama',
      baseUrl: up.url,
      apiKey: KEY,
    }) as OpenAICompatibleConfig;
    const p = createConfiguredOpenAIProvider('ollama', cfg);
    // The peer wants a key, so with auth none it must answer 401: proof no key was sent.
    await expect(collect(p.stream(req()))).rejects.toMatchObject({ code: 'upstream_auth' });
    expect(up.requests[0]!.headers.authorization).toBeUndefined();
    await p.close();

    const open = createConfiguredOpenAIProvider(
      'ollama',
      provider({
        type: 'openai-compatible',
        preset: 'ollama',
        baseUrl: up.url,
        auth: 'bearer',
        apiKey: KEY,
      }) as OpenAICompatibleConfig,
    );
    const c = await collect(
      open.stream(req({ user: 'u1', seed: 3, extra: { logit_bias: { 1: 2 }, n: 1, top_k: 5 } })),
    );
    expect(c.text).toBe('You said: hi azure');
    const body = up.requests[1]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ seed: 3, top_k: 5 });
    for (const k of ['user', 'logit_bias', 'n']) expect(body, k).not.toHaveProperty(k);
    await open.close();
  });

  it('a custom server is a few lines of config: base URL, x-api-key header, its unsupported list', async () => {
    const cfg = provider({
      type: 'openai-compatible',
      baseUrl: up.url,
      apiKey: KEY,
      auth: 'x-api-key',
      unsupportedParams: ['seed'],
      includeUsage: false,
    }) as OpenAICompatibleConfig;
    const p = createConfiguredOpenAIProvider('custom', cfg);
    await collect(p.stream(req({ seed: 1 }))).catch(() => undefined);
    const r = up.requests[0]!;
    expect(r.headers['x-api-key']).toBe(KEY);
    expect(r.headers.authorization).toBeUndefined();
    expect(r.body).not.toHaveProperty('seed');
    expect(r.body).not.toHaveProperty('stream_options');
    await p.close();
  });

  it('dropParams leaves requests without dropped parameters untouched', () => {
    const r = req({ temperature: 1 });
    expect(dropParams(r, new Set(['seed', 'logprobs']))).toBe(r);
    expect(
      dropParams(req({ seed: 2, extra: { logprobs: true, x: 1 } }), new Set(['seed', 'logprobs'])),
    ).toEqual(req({ extra: { x: 1 } }));
  });
});

describe('registry', () => {
  it('builds every provider type, each in the maps it serves', async () => {
    const config = ConfigSchema.parse({
      providers: {
        groq: { type: 'openai-compatible', preset: 'groq', apiKey: 'k' },
        az: { type: 'azure-openai', endpoint: 'https://r.openai.azure.com', apiKey: 'k' },
        claude: { type: 'anthropic', apiKey: 'k' },
        gguf: { type: 'llama-cpp', modelPath: '/models/x.gguf' },
        onnx: { type: 'onnx-embeddings', path: '/models/bert' },
      },
    });
    const p = buildProviders(config);
    expect([...p.chat.keys()].sort()).toEqual(['az', 'claude', 'extractive', 'gguf', 'groq']);
    expect([...p.openai.keys()].sort()).toEqual(['az', 'groq']);
    expect([...p.embedding.keys()].sort()).toEqual(['gguf', 'hashing', 'onnx']);
    expect(p.embedder('onnx').model).toBe('bert');
    expect(p.openai.get('groq')!.baseUrl).toBe(OPENAI_PRESETS.groq.baseUrl);
    expect(resolveModel('claude/claude-sonnet-4-5', config)).toEqual({
      provider: 'claude',
      model: 'claude-sonnet-4-5',
    });
    expect(() => resolveModel('onnx/x', config)).toThrow(/does not exist/);
    await p.closeAll();
  });
});
