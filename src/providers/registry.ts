import type { KeelConfig } from '../config/schema.ts';
import { KeelError } from '../errors.ts';
import { createAnthropicProvider } from './anthropic.ts';
import { createExtractiveProvider } from './extractive.ts';
import { HashingEmbedder } from './hashing.ts';
import { createLlamaCppProvider } from './llama-cpp.ts';
import { createOnnxEmbedder } from './onnx-embeddings.ts';
import type { OpenAICompatibleProvider } from './openai-compatible.ts';
import { createAzureOpenAIProvider, createConfiguredOpenAIProvider } from './openai-variants.ts';
import type { ChatProvider, EmbeddingProvider } from './types.ts';

/**
 * Builds every provider instance the config names, plus the built-ins `extractive` (chat) and
 * `hashing` (embeddings), and resolves model references to `{provider, model}`. Adding a provider
 * type means one factory file and one `case` here.
 */

export interface ResolvedModel {
  /** Provider instance id (a key of `Providers.chat`). */
  provider: string;
  /** The model name the provider is asked for. */
  model: string;
}

export interface Providers {
  /** Chat providers by instance id. */
  readonly chat: Map<string, ChatProvider>;
  /** Fixed embedders by instance id (`hashing` and other hashing-type providers). */
  readonly embedding: Map<string, EmbeddingProvider>;
  /** OpenAI-compatible providers by id, for `/v1/models` and embeddings over them. */
  readonly openai: Map<string, OpenAICompatibleProvider>;
  /** An embedder for `hashing`, a hashing provider id, a `models` alias, or `<provider>/<model>`; cached. */
  embedder(ref: string): EmbeddingProvider;
  /** Releases every pooled connection. */
  closeAll(): Promise<void>;
}

export const BUILTIN_CHAT = 'extractive';
export const BUILTIN_EMBEDDER = 'hashing';

export function buildProviders(config: KeelConfig): Providers {
  const chat = new Map<string, ChatProvider>();
  const embedding = new Map<string, EmbeddingProvider>();
  const openai = new Map<string, OpenAICompatibleProvider>();
  for (const [id, p] of Object.entries(config.providers)) {
    switch (p.type) {
      case 'openai-compatible': {
        // Plain adapter unless a preset / auth style / unsupported-parameter list asks for more.
        const provider = createConfiguredOpenAIProvider(id, p);
        chat.set(id, provider);
        openai.set(id, provider);
        break;
      }
      case 'azure-openai': {
        const provider = createAzureOpenAIProvider(id, p);
        chat.set(id, provider);
        openai.set(id, provider);
        break;
      }
      case 'anthropic':
        chat.set(id, createAnthropicProvider(id, p));
        break;
      case 'llama-cpp': {
        // One GGUF file serves chat or embeddings (whichever the model is); nothing loads until used.
        const local = createLlamaCppProvider(id, p);
        chat.set(id, local);
        embedding.set(id, local);
        break;
      }
      case 'onnx-embeddings':
        embedding.set(id, createOnnxEmbedder(id, p));
        break;
      case 'extractive':
        chat.set(id, createExtractiveProvider(id));
        break;
      case 'hashing':
        embedding.set(id, new HashingEmbedder({ id, dimensions: p.dimensions }));
        break;
    }
  }
  if (!chat.has(BUILTIN_CHAT)) chat.set(BUILTIN_CHAT, createExtractiveProvider(BUILTIN_CHAT));
  if (!embedding.has(BUILTIN_EMBEDDER)) embedding.set(BUILTIN_EMBEDDER, new HashingEmbedder());

  const cache = new Map<string, EmbeddingProvider>();
  const embedder = (ref: string): EmbeddingProvider => {
    const hit = cache.get(ref) ?? embedding.get(ref);
    if (hit) return hit;
    const alias = config.models[ref];
    const slash = ref.indexOf('/');
    const providerId = alias?.provider ?? (slash > 0 ? ref.slice(0, slash) : ref);
    const model = alias?.model ?? (slash > 0 ? ref.slice(slash + 1) : '');
    const fixed = embedding.get(providerId);
    const remote = openai.get(providerId);
    let e: EmbeddingProvider;
    if (fixed) e = fixed;
    else if (remote && model) e = remote.embeddings(model);
    else {
      throw new KeelError(
        'model_not_found',
        `No embedding model '${ref}': use 'hashing' or '<provider>/<model>'`,
        {
          param: 'model',
        },
      );
    }
    cache.set(ref, e);
    return e;
  };

  return {
    chat,
    embedding,
    openai,
    embedder,
    async closeAll() {
      const closing: Promise<void>[] = [];
      for (const p of chat.values()) if (p.close) closing.push(p.close());
      for (const p of embedding.values()) if (p.close) closing.push(p.close());
      await Promise.allSettled(closing);
    },
  };
}

function knownChatProvider(id: string, config: KeelConfig): boolean {
  if (id === BUILTIN_CHAT) return true;
  const p = config.providers[id];
  return p !== undefined && p.type !== 'hashing' && p.type !== 'onnx-embeddings';
}

/**
 * Resolves a request's model reference: `extractive`, a key of `models`, `<provider>/<model>`, or,
 * when `passthroughProvider` is set, anything else unchanged on that provider. Apps are resolved
 * before this by the caller. Unknown references are `model_not_found` (404).
 */
export function resolveModel(ref: string, config: KeelConfig): ResolvedModel {
  if (ref === BUILTIN_CHAT) return { provider: BUILTIN_CHAT, model: BUILTIN_CHAT };
  const alias = config.models[ref];
  if (alias) {
    if (!knownChatProvider(alias.provider, config)) {
      throw new KeelError(
        'model_not_found',
        `Model '${ref}' points at unknown provider '${alias.provider}'`,
        {
          param: 'model',
        },
      );
    }
    return { provider: alias.provider, model: alias.model };
  }
  const slash = ref.indexOf('/');
  if (slash > 0 && slash < ref.length - 1) {
    const provider = ref.slice(0, slash);
    if (knownChatProvider(provider, config)) return { provider, model: ref.slice(slash + 1) };
  }
  if (config.passthroughProvider !== undefined && knownChatProvider(config.passthroughProvider, config)) {
    return { provider: config.passthroughProvider, model: ref };
  }
  throw new KeelError(
    'model_not_found',
    `The model '${ref}' does not exist or you do not have access to it`,
    {
      param: 'model',
    },
  );
}
