import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FeatureExtractionPipeline } from '@huggingface/transformers';
import type { ProviderConfig } from '../config/schema.ts';
import { KeelError, ProviderError } from '../errors.ts';
import type { EmbeddingProvider, EmbeddingResult } from './types.ts';

/**
 * Local ONNX embeddings through transformers.js (`@huggingface/transformers`, an optional
 * dependency) from a model folder on disk. Remote loading is switched off: a model that is not in
 * the folder is an error, never a download. Loaded on first use.
 */

export type OnnxEmbeddingsConfig = Extract<ProviderConfig, { type: 'onnx-embeddings' }>;
export type Transformers = typeof import('@huggingface/transformers');
export type TransformersLoader = () => Promise<Transformers>;

export interface OnnxEmbedder extends EmbeddingProvider {
  close(): Promise<void>;
}

export const importTransformers: TransformersLoader = () => import('@huggingface/transformers');

export function missingTransformersError(cause: unknown): KeelError {
  return new KeelError(
    'config_invalid',
    'Local ONNX embeddings need the optional package @huggingface/transformers; install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install @huggingface/transformers`',
    { cause },
  );
}

class Onnx implements OnnxEmbedder {
  private pipe: Promise<FeatureExtractionPipeline> | undefined;
  private dims: number | undefined;
  readonly model: string;
  private readonly folder: string;

  constructor(
    readonly id: string,
    private readonly cfg: OnnxEmbeddingsConfig,
    private readonly load: TransformersLoader,
  ) {
    this.folder = path.resolve(cfg.path);
    this.model = path.basename(this.folder);
  }

  get dimensions(): number | undefined {
    return this.dims;
  }

  private pipeline(): Promise<FeatureExtractionPipeline> {
    this.pipe ??= (async () => {
      let t: Transformers;
      try {
        t = await this.load();
      } catch (e) {
        throw missingTransformersError(e);
      }
      if (!existsSync(path.join(this.folder, 'config.json'))) {
        throw new KeelError(
          'config_invalid',
          `No ONNX model folder at ${this.folder} (expected config.json, tokenizer.json, onnx/)`,
        );
      }
      t.env.allowRemoteModels = false;
      t.env.allowLocalModels = true;
      // An absolute path is not a hub id, so transformers.js reads the folder as is.
      return (await t.pipeline('feature-extraction', this.folder, {
        dtype: this.cfg.dtype,
        device: 'cpu',
        local_files_only: true,
        session_options: { intraOpNumThreads: this.cfg.threads, interOpNumThreads: 1 },
      })) as FeatureExtractionPipeline;
    })();
    this.pipe.catch(() => (this.pipe = undefined));
    return this.pipe;
  }

  async embed(input: string[]): Promise<EmbeddingResult> {
    if (input.length === 0) return { vectors: [], usage: { promptTokens: 0, totalTokens: 0 } };
    const fe = await this.pipeline();
    const out = await fe(input, { pooling: this.cfg.pooling, normalize: this.cfg.normalize });
    if (out.dims.length !== 2 || out.dims[0] !== input.length) {
      throw new ProviderError(
        'upstream_protocol',
        `${this.id} produced [${out.dims.join(', ')}], not one vector per input; set pooling`,
        {
          provider: this.id,
          retryable: false,
        },
      );
    }
    const vectors = out.tolist() as number[][];
    this.dims = out.dims[1];
    let tokens = 0;
    for (const text of input) tokens += fe.tokenizer.encode(text).length;
    return { vectors, usage: { promptTokens: tokens, totalTokens: tokens } };
  }

  async close(): Promise<void> {
    const p = this.pipe;
    this.pipe = undefined;
    const fe = await p?.catch(() => undefined);
    await fe?.dispose();
  }
}

export function createOnnxEmbedder(
  id: string,
  cfg: OnnxEmbeddingsConfig,
  opts: { load?: TransformersLoader } = {},
): OnnxEmbedder {
  return new Onnx(id, cfg, opts.load ?? importTransformers);
}
