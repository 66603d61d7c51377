import { AnswerCache } from '../../ai/cache/index.ts';
import type { KeelConfig } from '../../config/schema.ts';
import type { EmbeddingProvider } from '../../providers/types.ts';
import type { SharedState } from '../../state/types.ts';
import type { Db } from '../../store/db.ts';
import { PolicyEngine } from './engine.ts';
import { Pricing } from './pricing.ts';

export { sendCachedAnswer } from './cache-reply.ts';
export type { Admission, AdmitChatInput } from './engine.ts';
export { PolicyEngine } from './engine.ts';
export type { PolicyTicket } from './ticket.ts';
export { noticeJson, type StreamWatch } from './watch.ts';

export interface CreatePolicyOptions {
  config: KeelConfig;
  db: Db;
  state: SharedState;
  /** Resolves the semantic cache's embedder (`hashing`, `<provider>/<model>`). */
  embedder(ref: string): EmbeddingProvider;
  /** Shared with other users of prices (route attempt spans); made from config when absent. */
  pricing?: Pricing | undefined;
  warn(msg: string, err?: unknown): void;
}

/**
 * The gateway's limits, budgets, access rules and answer caches over one `SharedState`. Loads the
 * stored policies before returning; budget counters of named subjects are rebuilt from the ledger
 * in the background (and lazily, for every subject, whenever one is missing).
 */
export async function createPolicyEngine(o: CreatePolicyOptions): Promise<PolicyEngine> {
  const { config } = o;
  const caching = config.cache.exact.enabled || Object.keys(config.cache.semantic.apps).length > 0;
  const cache = caching ? new AnswerCache(o.state, config.cache, config.rag.embedder, o.embedder) : undefined;
  const engine = new PolicyEngine({
    config,
    db: o.db,
    state: o.state,
    pricing: o.pricing ?? new Pricing(config),
    cache,
    warn: o.warn,
  });
  await engine.start();
  engine.seedKnown().catch((e: unknown) => o.warn('rebuilding budget counters from the ledger failed', e));
  return engine;
}
