import type { CacheConfig } from '../../config/schema.ts';
import type { ChatMessage, EmbeddingProvider } from '../../providers/types.ts';
import type { SharedState } from '../../state/types.ts';
import type { ChatParams } from '../pipeline.ts';
import { contentText } from '../prompt.ts';
import { ExactCache } from './exact.ts';
import { answerParams, canonicalJson, exactKey, normaliseMessage, sha256 } from './key.ts';
import { SemanticCache } from './semantic.ts';
import type { CachedAnswer, CacheOutcome } from './types.ts';

export type { CachedAnswer, CacheOutcome } from './types.ts';

/** The caches' own settings (`cache.scope` is applied by the caller, through `CacheRequest.owner`). */
export type AnswerCacheConfig = Pick<CacheConfig, 'exact' | 'semantic'>;

/** What one request may read from and write to the caches; made once per request. */
export interface CachePlan {
  /** The key space: the tenant id, or the tenant and owner (see `CacheRequest.owner`). */
  tenantId: string;
  exactKey: string | undefined;
  semantic:
    | { cache: SemanticCache; indexKey: string; question: string; q: Int8Array | undefined }
    | undefined;
}

export interface CacheRequest {
  tenantId: string;
  /** Within the tenant, whose answers these are (`cache.scope: user`); absent: the whole tenant's. */
  owner?: string | undefined;
  /** The name the client asked for (app, alias or model). */
  model: string;
  /** The app's name when `model` selects one. */
  app: string | null;
  messages: readonly ChatMessage[];
  params: ChatParams;
  /** False when the semantic embedder may not see this request (data residency). */
  semanticAllowed: boolean;
}

export interface CacheLookup {
  outcome: CacheOutcome;
  answer: CachedAnswer | undefined;
  similarity?: number;
}

/**
 * The answer caches, both in SharedState and both scoped by tenant: the exact cache (when enabled,
 * for every request) and the semantic cache (for the apps that opt in).
 */
export class AnswerCache {
  readonly #exact: ExactCache | undefined;
  readonly #config: AnswerCacheConfig;
  readonly #state: SharedState;
  readonly #embedder: (ref: string) => EmbeddingProvider;
  readonly #embedderRef: string;
  readonly #semantic = new Map<string, SemanticCache>();

  constructor(
    state: SharedState,
    config: AnswerCacheConfig,
    embedderRef: string,
    embedder: (ref: string) => EmbeddingProvider,
  ) {
    this.#state = state;
    this.#config = config;
    this.#embedder = embedder;
    this.#embedderRef = config.semantic.embedder ?? embedderRef;
    this.#exact = config.exact.enabled ? new ExactCache(state, config.exact) : undefined;
  }

  /** The semantic cache's embedder reference (for data-residency checks). */
  get embedderRef(): string {
    return this.#embedderRef;
  }

  /** Whether any cache could apply to requests for `app` (or plain models when null). */
  applies(app: string | null): boolean {
    return this.#exact !== undefined || (app !== null && Object.hasOwn(this.#config.semantic.apps, app));
  }

  plan(r: CacheRequest): CachePlan | undefined {
    // One stored choice per answer: requests for several can neither be served nor stored.
    const n = r.params.extra?.n;
    if (typeof n === 'number' && n > 1) return undefined;
    // Every key of the plan lives under this space: the tenant, or one owner within it.
    const space = r.owner === undefined ? r.tenantId : `${r.tenantId}:u${sha256(r.owner).slice(0, 32)}`;
    const exact = this.#exact ? exactKey(space, r.model, r.messages, r.params) : undefined;
    let semantic: CachePlan['semantic'];
    const cfg = r.app !== null && r.semanticAllowed ? this.#config.semantic.apps[r.app] : undefined;
    const last = r.messages.at(-1);
    if (cfg && r.app !== null && last?.role === 'user') {
      const question = contentText(last.content).trim();
      if (question) {
        let cache = this.#semantic.get(r.app);
        if (!cache) {
          cache = new SemanticCache(this.#state, this.#embedder(this.#embedderRef), cfg);
          this.#semantic.set(r.app, cache);
        }
        const context = canonicalJson({
          app: r.app,
          model: r.model,
          params: answerParams(r.params),
          history: r.messages.slice(0, -1).map(normaliseMessage),
        });
        semantic = { cache, indexKey: `cs:i:${space}:${sha256(context)}`, question, q: undefined };
      }
    }
    if (!exact && !semantic) return undefined;
    return { tenantId: space, exactKey: exact, semantic };
  }

  async lookup(plan: CachePlan, signal?: AbortSignal): Promise<CacheLookup> {
    if (plan.exactKey && this.#exact) {
      const answer = await this.#exact.get(plan.exactKey);
      if (answer) return { outcome: 'hit', answer };
    }
    const s = plan.semantic;
    if (s) {
      s.q = await s.cache.embed(s.question, signal);
      const m = await s.cache.lookup(plan.tenantId, s.indexKey, s.q);
      if (m.answer) return { outcome: 'semantic-hit', answer: m.answer, similarity: m.similarity };
      return { outcome: 'miss', answer: undefined, similarity: m.similarity };
    }
    return { outcome: 'miss', answer: undefined };
  }

  /** Stores a finished answer under every key the plan names. */
  async store(plan: CachePlan, answer: CachedAnswer): Promise<void> {
    const writes: Promise<void>[] = [];
    if (plan.exactKey && this.#exact) writes.push(this.#exact.set(plan.exactKey, answer));
    const s = plan.semantic;
    if (s)
      writes.push(
        (async () =>
          s.cache.store(plan.tenantId, s.indexKey, s.q ?? (await s.cache.embed(s.question)), answer))(),
      );
    await Promise.all(writes);
  }
}
