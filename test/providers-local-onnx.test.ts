import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config/schema.ts';
import { KeelError } from '../src/errors.ts';
import {
  createOnnxEmbedder,
  type OnnxEmbedder,
  type OnnxEmbeddingsConfig,
} from '../src/providers/onnx-embeddings.ts';

/** Local ONNX embeddings (transformers.js) on the tiny BERT in ../shared/models, against vectors computed independently. */

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const FOLDER = `${MODELS}tiny-bert-onnx`;
const HAVE_MODELS = existsSync(`${FOLDER}/config.json`);

const cfg = (raw: Record<string, unknown>): OnnxEmbeddingsConfig =>
  ConfigSchema.parse({ providers: { o: { type: 'onnx-embeddings', ...raw } } }).providers
    .o as OnnxEmbeddingsConfig;

interface Expected {
  dimension: number;
  cases: { text: string; tokenIds: number[]; embedding: number[] }[];
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

describe('onnx-embeddings errors', () => {
  it('names the missing package and how to install it', async () => {
    const e = createOnnxEmbedder('o', cfg({ path: FOLDER }), {
      load: () =>
        Promise.reject(Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' })),
    });
    const err = await e.embed(['x']).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(KeelError);
    expect((err as Error).message).toContain(
      'ONNXRUNTIME_NODE_INSTALL=skip npm install @huggingface/transformers',
    );
  });

  it('rejects a folder that holds no model, without trying a download', async () => {
    const e = createOnnxEmbedder('o', cfg({ path: '/nonexistent/model' }));
    await expect(e.embed(['x'])).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringContaining('/nonexistent/model'),
    });
  });
});

describe.skipIf(!HAVE_MODELS)(`onnx-embeddings on tiny-bert-onnx (fixtures in ${MODELS})`, () => {
  let e: OnnxEmbedder;
  let expected: Expected;

  beforeAll(() => {
    expected = JSON.parse(readFileSync(`${MODELS}tiny-bert-wpm.expected.json`, 'utf8')) as Expected;
    e = createOnnxEmbedder('onnx', cfg({ path: FOLDER }));
  });
  afterAll(async () => {
    await e.close();
  });

  it('matches the expected vectors one by one and as a padded batch', async () => {
    expect(e.dimensions).toBeUndefined();
    const batch = await e.embed(expected.cases.map((c) => c.text));
    expect(e.dimensions).toBe(expected.dimension);
    expect(e.model).toBe('tiny-bert-onnx');
    batch.vectors.forEach((v, i) => {
      expect(v).toHaveLength(expected.dimension);
      expect(cosine(v, expected.cases[i]!.embedding)).toBeGreaterThan(0.9999);
    });
    const single = await e.embed([expected.cases[2]!.text]);
    expect(cosine(single.vectors[0]!, batch.vectors[2]!)).toBeGreaterThan(0.99999);
    // Token counts come from the model's own tokenizer ([CLS] and [SEP] included).
    expect(single.usage.promptTokens).toBe(expected.cases[2]!.tokenIds.length);
    expect(await e.embed([])).toEqual({ vectors: [], usage: { promptTokens: 0, totalTokens: 0 } });
  });
});
