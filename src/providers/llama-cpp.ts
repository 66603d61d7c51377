import type {
  ChatHistoryItem,
  Llama,
  LlamaContext,
  LlamaEmbeddingContext,
  LlamaGrammar,
  LlamaModel,
} from 'node-llama-cpp';
import type { ProviderConfig } from '../config/schema.ts';
import { KeelError, ProviderError } from '../errors.ts';
import {
  importNodeLlamaCpp,
  type ModuleLoader,
  missingPackageError,
  type NodeLlamaCpp,
  PushQueue,
  SequencePool,
  sharedLlama,
} from './llama-cpp-runtime.ts';
import type {
  CallOptions,
  ChatMessage,
  ChatProvider,
  ChatRequest,
  EmbeddingProvider,
  EmbeddingResult,
  FinishReason,
  StreamPart,
} from './types.ts';

/**
 * A local GGUF model through node-llama-cpp: chat with streaming, cancellation and JSON-schema
 * constrained output (a grammar built from `response_format.json_schema`), and embeddings (the
 * mean-pooled vector, L2-normalised). Nothing loads until the first call; the model is shared by
 * chat and embeddings.
 */

export type LlamaCppConfig = Extract<ProviderConfig, { type: 'llama-cpp' }>;

export interface LlamaCppProvider extends ChatProvider, EmbeddingProvider {
  readonly id: string;
  /** Known once the model has loaded. */
  readonly dimensions: number | undefined;
  close(): Promise<void>;
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

/** OpenAI messages → node-llama-cpp chat history, ending with the (empty) turn to generate. */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const out: ChatHistoryItem[] = [];
  for (const m of messages) {
    const text = textOf(m.content);
    if (m.role === 'system' || m.role === 'developer') out.push({ type: 'system', text });
    else if (m.role === 'assistant') out.push({ type: 'model', response: text ? [text] : [] });
    else if (m.role === 'tool')
      out.push({ type: 'user', text: `Tool result (${m.tool_call_id ?? 'tool'}): ${text}` });
    else out.push({ type: 'user', text });
  }
  out.push({ type: 'model', response: [] });
  return out;
}

function finishReason(stop: string): FinishReason {
  return stop === 'maxTokens' ? 'length' : 'stop';
}

export function l2normalize(v: readonly number[]): number[] {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  return v.map((x) => x / norm);
}

class LlamaCpp implements LlamaCppProvider {
  private llama: Promise<Llama> | undefined;
  private mod: Promise<NodeLlamaCpp> | undefined;
  private modelP: Promise<LlamaModel> | undefined;
  private chat: Promise<{ context: LlamaContext; pool: SequencePool }> | undefined;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  private embedQueue: Promise<unknown> = Promise.resolve();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private loaded: LlamaModel | undefined;
  private closing: Promise<void> | undefined;
  /** The model file, which is also the model name reported in responses. */
  readonly model: string;

  constructor(
    readonly id: string,
    private readonly cfg: LlamaCppConfig,
    private readonly load: ModuleLoader,
  ) {
    this.model = cfg.modelPath;
  }

  get dimensions(): number | undefined {
    return this.loaded?.embeddingVectorSize;
  }

  private backend(): Promise<Llama> {
    this.llama ??= sharedLlama(this.load, { gpu: this.cfg.gpu, threads: this.cfg.threads });
    return this.llama;
  }

  private module(): Promise<NodeLlamaCpp> {
    this.mod ??= this.load().catch((e: unknown) => {
      this.mod = undefined;
      throw missingPackageError(e);
    });
    return this.mod;
  }

  private loadModel(): Promise<LlamaModel> {
    this.modelP ??= (async () => {
      const llama = await this.backend();
      try {
        const m = await llama.loadModel({
          modelPath: this.cfg.modelPath,
          gpuLayers: this.cfg.gpu ? 'auto' : 0,
        });
        this.loaded = m;
        return m;
      } catch (e) {
        throw new KeelError(
          'config_invalid',
          `Cannot load the GGUF model at ${this.cfg.modelPath}: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
    })();
    this.modelP.catch(() => (this.modelP = undefined));
    return this.modelP;
  }

  private chatContext(): Promise<{ context: LlamaContext; pool: SequencePool }> {
    this.chat ??= (async () => {
      const model = await this.loadModel();
      const context = await model.createContext({
        contextSize: this.cfg.contextSize,
        threads: this.cfg.threads,
        sequences: this.cfg.parallel,
      });
      const seqs = Array.from({ length: this.cfg.parallel }, () => context.getSequence());
      return { context, pool: new SequencePool(seqs) };
    })();
    this.chat.catch(() => (this.chat = undefined));
    return this.chat;
  }

  private grammar(req: ChatRequest): Promise<LlamaGrammar> | undefined {
    const rf = req.response_format;
    const schema = rf?.type === 'json_schema' ? rf.json_schema?.schema : undefined;
    if (schema === undefined && rf?.type !== 'json_object') return undefined;
    const key = schema === undefined ? 'json' : JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (g === undefined) {
      g = this.backend().then(async (llama) => {
        try {
          // The schema is client input typed loosely; the grammar builder checks what it supports.
          return schema === undefined
            ? await llama.getGrammarFor('json')
            : await llama.createGrammarForJsonSchema(
                schema as Parameters<Llama['createGrammarForJsonSchema']>[0],
              );
        } catch (e) {
          throw new ProviderError(
            'upstream_bad_request',
            `${this.id} cannot constrain output to this JSON schema: ${(e as Error).message}`,
            {
              provider: this.id,
            },
          );
        }
      });
      g.catch(() => this.grammars.delete(key));
      this.grammars.set(key, g);
    }
    return g;
  }

  async *stream(req: ChatRequest, opts: CallOptions = {}): AsyncGenerator<StreamPart> {
    if (req.tools && req.tools.length > 0) {
      throw new ProviderError('upstream_bad_request', `Local model ${this.id} does not support tools`, {
        provider: this.id,
      });
    }
    const grammarP = this.grammar(req);
    const { pool } = await this.chatContext();
    const grammar = grammarP ? await grammarP : undefined;
    const mod = await this.module();
    const seq = await pool.acquire(opts.signal).catch(() => {
      throw new ProviderError('aborted', `Request to ${this.id} was cancelled`, { provider: this.id });
    });
    const chat = new mod.LlamaChat({ contextSequence: seq });
    const history = toChatHistory(req.messages);
    const prompt = chat.chatWrapper
      .generateContextState({ chatHistory: history })
      .contextText.tokenize(chat.model.tokenizer).length;
    const ctl = new AbortController();
    const onCaller = () => ctl.abort();
    if (opts.signal?.aborted) ctl.abort();
    else opts.signal?.addEventListener('abort', onCaller, { once: true });
    const queue = new PushQueue<string>();
    let completion = 0;
    const stop = req.stop === undefined ? undefined : Array.isArray(req.stop) ? req.stop : [req.stop];
    const generation = chat
      .generateResponse(history, {
        onTextChunk: (t) => queue.push(t),
        onToken: (tokens) => {
          completion += tokens.length;
        },
        signal: ctl.signal,
        stopOnAbortSignal: true,
        maxTokens: req.max_tokens ?? this.cfg.maxTokens,
        temperature: req.temperature,
        topP: req.top_p,
        seed: req.seed,
        grammar,
        customStopTriggers: stop,
      })
      .then(
        (r) => {
          queue.end();
          return r.metadata.stopReason as string;
        },
        (e: unknown) => {
          queue.end(e);
          return 'error';
        },
      )
      // The sequence goes back only once generation has really stopped.
      .finally(() => {
        chat.dispose({ disposeSequence: false });
        pool.release(seq);
      });
    try {
      yield { type: 'start', model: this.cfg.modelPath, created: Math.floor(Date.now() / 1000) };
      try {
        for await (const text of queue.drain()) if (text) yield { type: 'text-delta', text };
      } catch (e) {
        if (opts.signal?.aborted)
          throw new ProviderError('aborted', `Request to ${this.id} was cancelled`, { provider: this.id });
        throw new ProviderError(
          'upstream_protocol',
          `Local model ${this.id} failed: ${(e as Error).message}`,
          {
            provider: this.id,
            retryable: false,
            cause: e,
          },
        );
      }
      const reason = await generation;
      if (opts.signal?.aborted)
        throw new ProviderError('aborted', `Request to ${this.id} was cancelled`, { provider: this.id });
      yield { type: 'finish', finishReason: finishReason(reason) };
      yield {
        type: 'usage',
        usage: { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion },
      };
    } finally {
      opts.signal?.removeEventListener('abort', onCaller);
      // A consumer that stops reading stops the generation.
      ctl.abort();
    }
  }

  private embeddingContext(): Promise<LlamaEmbeddingContext> {
    this.embedding ??= (async () => {
      const model = await this.loadModel();
      return model.createEmbeddingContext({
        contextSize: Math.min(this.cfg.contextSize, model.trainContextSize),
        threads: this.cfg.threads,
      });
    })();
    this.embedding.catch(() => (this.embedding = undefined));
    return this.embedding;
  }

  embed(input: string[]): Promise<EmbeddingResult> {
    // One embedding context evaluates one text at a time; callers queue.
    const run = this.embedQueue.then(async () => {
      const ctx = await this.embeddingContext();
      const model = await this.loadModel();
      const vectors: number[][] = [];
      let tokens = 0;
      for (const text of input) {
        tokens += model.tokenize(text).length;
        const e = await ctx.getEmbeddingFor(text);
        vectors.push(l2normalize(e.vector));
      }
      return { vectors, usage: { promptTokens: tokens, totalTokens: tokens } };
    });
    this.embedQueue = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    // The registry lists a GGUF provider as chat and embedder, so close may come twice at once.
    this.closing ??= this.release().finally(() => (this.closing = undefined));
    return this.closing;
  }

  private async release(): Promise<void> {
    const settle = async <T>(p: Promise<T> | undefined) => (p ? p.catch(() => undefined) : undefined);
    const chat = await settle(this.chat);
    const emb = await settle(this.embedding);
    const model = await settle(this.modelP);
    this.chat = this.embedding = this.modelP = undefined;
    this.grammars.clear();
    await chat?.context.dispose();
    await emb?.dispose();
    await model?.dispose();
  }
}

export function createLlamaCppProvider(
  id: string,
  cfg: LlamaCppConfig,
  opts: { load?: ModuleLoader } = {},
): LlamaCppProvider {
  return new LlamaCpp(id, cfg, opts.load ?? importNodeLlamaCpp);
}
