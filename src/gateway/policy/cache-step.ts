import type { FastifyReply } from 'fastify';
import type { AnswerCache, CachePlan } from '../../ai/cache/index.ts';
import type { KeelConfig } from '../../config/schema.ts';
import type { RequestAccount } from '../accounting.ts';
import { bypassesCache } from './chat-input.ts';
import type { Admission, AdmitChatInput } from './engine.ts';
import { embedderQualifies } from './residency.ts';
import type { ResolvedPolicy } from './types.ts';

/**
 * What a request may read from and write to the answer caches: none when it bypasses them, and none
 * when the input guardrails redacted something (the answer depends on values that stay in the request).
 */
export function planCache(
  cache: AnswerCache,
  config: KeelConfig,
  acct: RequestAccount,
  pol: ResolvedPolicy,
  app: string | null,
  input: AdmitChatInput,
): CachePlan | undefined {
  if (!cache.applies(app) || input.uncacheable || bypassesCache(input.headers)) return undefined;
  const semanticAllowed = !pol.regions || embedderQualifies(config, cache.embedderRef, pol.regions);
  const p = acct.principal;
  return cache.plan({
    tenantId: p.tenantId,
    owner:
      config.cache.scope === 'user'
        ? JSON.stringify([p.userLabel || `key:${p.keyId ?? 'local'}`, input.params.user ?? null])
        : undefined,
    model: acct.model,
    app,
    messages: input.messages,
    params: input.params,
    semanticAllowed,
  });
}

/** Looks the request up; sets `x-keel-cache` and the trace's `cache` attribute. A failing cache is a miss. */
export async function lookupCache(
  cache: AnswerCache,
  warn: (msg: string, err?: unknown) => void,
  acct: RequestAccount,
  reply: FastifyReply,
  plan: CachePlan,
  signal: AbortSignal,
): Promise<Admission | undefined> {
  let found: Awaited<ReturnType<AnswerCache['lookup']>>;
  try {
    found = await cache.lookup(plan, signal);
  } catch (e) {
    // A cache that cannot answer is a miss, not a failed request.
    warn('cache lookup failed', e);
    found = { outcome: 'miss', answer: undefined };
  }
  reply.header('x-keel-cache', found.outcome);
  acct.attributes.cache = found.outcome;
  if (found.similarity !== undefined) acct.attributes.cache_similarity = Number(found.similarity.toFixed(4));
  if (!found.answer || found.outcome === 'miss') return undefined;
  return { kind: 'cached', answer: found.answer, outcome: found.outcome };
}
