import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBreakers } from '../src/ai/router/breaker.ts';
import { createRoutes } from '../src/ai/router/index.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { KeelError, ProviderError } from '../src/errors.ts';
import { collect } from '../src/providers/collect.ts';
import {
  createLlamaCppProvider,
  type LlamaCppConfig,
  type LlamaCppProvider,
} from '../src/providers/llama-cpp.ts';
import { disposeLlamaBackends } from '../src/providers/llama-cpp-runtime.ts';
import type { ChatRequest, StreamPart } from '../src/providers/types.ts';

/**
 * Local GGUF models on the tiny fixtures in ../shared/models (see its README): a 260K-parameter
 * story model for generation mechanics, and a tiny BERT for embeddings against vectors computed
 * independently. One thread always: more than the free cores makes ggml spin.
 */

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const HAVE_MODELS = existsSync(`${MODELS}stories260K.gguf`);

const llamaCfg = (raw: Record<string, unknown>): LlamaCppConfig =>
  ConfigSchema.parse({ providers: { l: { type: 'llama-cpp', threads: 1, ...raw } } }).providers
    .l as LlamaCppConfig;

const prompt = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'stories',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  temperature: 0,
  max_tokens: 24,
  ...extra,
});

const textOf = (parts: StreamPart[]) =>
  parts.flatMap((p) => (p.type === 'text-delta' ? [p.text] : [])).join('');

describe('llama-cpp without the package', () => {
  it('fails with a clear error telling how to install it', async () => {
    const missing = () =>
      Promise.reject(
        Object.assign(new Error("Cannot find package 'node-llama-cpp'"), { code: 'ERR_MODULE_NOT_FOUND' }),
      );
    const p = createLlamaCppProvider('local', llamaCfg({ modelPath: '/nowhere.gguf' }), { load: missing });
    const err = await collect(p.stream(prompt())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeelError);
    expect(err).toMatchObject({ code: 'config_invalid' });
    expect((err as Error).message).toContain('npm install node-llama-cpp@3.21.1');
    await expect(p.embed(['x'])).rejects.toMatchObject({ code: 'config_invalid' });
  });
});

describe.skipIf(!HAVE_MODELS)(`llama-cpp on stories260K.gguf (fixtures in ${MODELS})`, () => {
  let p: LlamaCppProvider;

  beforeAll(() => {
    p = createLlamaCppProvider(
      'local',
      llamaCfg({ modelPath: `${MODELS}stories260K.gguf`, contextSize: 512 }),
    );
  });
  afterAll(async () => {
    await p.close();
  });

  it('loads lazily and streams a completion: start, text deltas, finish, usage', async () => {
    expect(p.dimensions).toBeUndefined();
    const parts: StreamPart[] = [];
    for await (const part of p.stream(prompt())) parts.push(part);
    expect(parts[0]).toMatchObject({ type: 'start', model: `${MODELS}stories260K.gguf` });
    const deltas = parts.filter((x) => x.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(textOf(parts).trim().length).toBeGreaterThan(0);
    expect(parts.at(-2)).toEqual({ type: 'finish', finishReason: 'length' });
    const usage = parts.at(-1);
    expect(usage).toMatchObject({ type: 'usage', usage: { completionTokens: 24 } });
    expect(usage?.type === 'usage' && usage.usage.promptTokens).toBeGreaterThan(3);
    // Greedy decoding is deterministic: the same request gives the same text.
    expect(textOf(await all(p.stream(prompt())))).toBe(textOf(parts));
  });

  it('cancels on abort, and the model serves the next request', async () => {
    const ctl = new AbortController();
    const seen: StreamPart[] = [];
    const err = await (async () => {
      for await (const part of p.stream(prompt({ max_tokens: 400 }), { signal: ctl.signal })) {
        seen.push(part);
        if (part.type === 'text-delta') ctl.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'aborted' });
    expect(seen.filter((x) => x.type === 'text-delta').length).toBeLessThan(20);

    // A consumer that just stops reading also stops the generation.
    for await (const part of p.stream(prompt({ max_tokens: 400 }))) if (part.type === 'text-delta') break;
    const next = await collect(p.stream(prompt({ max_tokens: 8 })));
    expect(next.finishReason).toBe('length');
    expect(next.usage?.completionTokens).toBe(8);
  });

  it('constrains output to a JSON schema', async () => {
    const schema = {
      type: 'object',
      properties: { mood: { enum: ['happy', 'sad'] }, done: { type: 'boolean' } },
      required: ['mood', 'done'],
    };
    const c = await collect(
      p.stream(
        prompt({
          max_tokens: 64,
          response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
        }),
      ),
    );
    const value = JSON.parse(c.text) as Record<string, unknown>;
    expect(['happy', 'sad']).toContain(value.mood);
    expect(typeof value.done).toBe('boolean');
    expect(c.finishReason).toBe('stop');
  });

  it('refuses tools clearly', async () => {
    const err = await collect(
      p.stream(prompt({ tools: [{ type: 'function', function: { name: 'f' } }] })),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'upstream_bad_request' });
  });

  it('serves a route target like any provider', async () => {
    const config = ConfigSchema.parse({
      providers: { local: { type: 'llama-cpp', modelPath: `${MODELS}stories260K.gguf` } },
      routes: { tiny: { targets: [{ provider: 'local', model: 'stories' }] } },
    });
    const router = createRoutes(config, new Map([['local', p]]), createBreakers(config.breakers)).get(
      'tiny',
    )!;
    const c = await collect(router.stream(prompt({ max_tokens: 6 })));
    expect(c.usage).toMatchObject({ completionTokens: 6 });
    expect(c.usage?.estimated).toBeUndefined();
  });
});

interface Expected {
  dimension: number;
  cases: { text: string; embedding: number[] }[];
}

const cosine = (a: readonly number[], b: readonly number[]) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
};

describe.skipIf(!HAVE_MODELS)('llama-cpp embeddings on tiny-bert-wpm.gguf', () => {
  let p: LlamaCppProvider;
  let expected: Expected;

  beforeAll(() => {
    expected = JSON.parse(readFileSync(`${MODELS}tiny-bert-wpm.expected.json`, 'utf8')) as Expected;
    p = createLlamaCppProvider(
      'bert',
      llamaCfg({ modelPath: `${MODELS}tiny-bert-wpm.gguf`, contextSize: 64 }),
    );
  });
  afterAll(async () => {
    await p.close();
    await disposeLlamaBackends();
  });

  it('matches the independently computed vectors (normalised mean, cosine > 0.9999)', async () => {
    const res = await p.embed(expected.cases.map((c) => c.text));
    expect(p.dimensions).toBe(expected.dimension);
    expect(res.vectors).toHaveLength(expected.cases.length);
    res.vectors.forEach((v, i) => {
      expect(v).toHaveLength(expected.dimension);
      expect(cosine(v, expected.cases[i]!.embedding)).toBeGreaterThan(0.9999);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    });
    expect(res.usage.promptTokens).toBeGreaterThan(expected.cases.length);
  });
});

async function all(it: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const p of it) out.push(p);
  return out;
}
