import type { KeelConfig } from '../config/schema.ts';
import { KeelError } from '../errors.ts';
import type { ChatMessage, ChatProvider, ChatRequest, EmbeddingProvider, Usage } from '../providers/types.ts';
import type { RetrievalHit } from '../rag/types.ts';
import type { SpanRecorder } from '../telemetry/tracing.ts';
import { listApps, type ResolvedApp, resolveApp } from './apps.ts';
import { type ChatParams, type ChatRun, type RetrieveFn, runApp } from './pipeline.ts';
import { callModel } from './router/call.ts';
import type { Router } from './router/router.ts';
import { isRouter } from './router/wiring.ts';
import { checkSchema, structuredFormat } from './structured.ts';

/** A chat model reference resolved to a provider instance and the model name it expects. */
export interface ModelTarget {
  provider: ChatProvider;
  model: string;
}

export interface EmbedderTarget {
  provider: EmbeddingProvider;
  model: string;
}

/** What a client's `model` selects. A route's target is its `Router` (a `ChatProvider`) and the route's name. */
export type ChatTarget =
  | { kind: 'app'; name: string; app: ResolvedApp; target: ModelTarget }
  | { kind: 'model'; name: string; target: ModelTarget; forwardRaw: boolean; passthrough: boolean };

export interface ChatInput {
  tenantId: string;
  messages: ChatMessage[];
  params: ChatParams;
  signal: AbortSignal;
  /** Whether the client streams; a non-streaming pass-through makes a non-streaming upstream call. */
  stream: boolean;
  /** `performance.now()` at the request's start. */
  t0: number;
  /** The request's trace, for stages to add spans to (src/telemetry/tracing.ts). */
  trace?: SpanRecorder | undefined;
  /** Data residency: a route uses only its targets in these regions. */
  regions?: readonly string[] | undefined;
  /** Guardrails (src/ai/guards): screens retrieved chunks before they are packed into the prompt. */
  screenHits?: ((hits: RetrievalHit[]) => Promise<RetrievalHit[]>) | undefined;
  /** Guardrails: retrieve with this query instead of the (redacted) latest user message. */
  retrievalQuery?: string | undefined;
  /** The input guardrails already ran on `messages` (`AiService.screenChat`): not run again. */
  screened?: ScreenedChat | undefined;
}

/** What the input guardrails made of a conversation (`AiService.screenChat`). */
export interface ScreenedChat {
  /** The conversation as the model will see it (PII replaced by placeholders). */
  readonly messages: ChatMessage[];
  /**
   * Something in it was redacted: its answer depends on values that must not leave this request,
   * so it is neither looked up in nor stored in an answer cache.
   */
  readonly redacted: boolean;
}

export interface ModelInfo {
  id: string;
  kind: 'app' | 'alias' | 'route' | 'model';
  ownedBy: string;
  description?: string;
}

/** The AI layer as the gateway uses it; it knows nothing about HTTP. */
export interface AiService {
  /** Throws 404 `model_not_found` (param `model`) for names that select nothing. */
  resolveChat(model: string): ChatTarget;
  startChat(target: ChatTarget, input: ChatInput): Promise<ChatRun>;
  /**
   * Runs the target's input guardrails now, so that limits and caches see their verdict: a block
   * throws, and `startChat` given the result as `screened` does not run them again. Absent when the
   * service has no guardrails.
   */
  screenChat?(
    target: ChatTarget,
    input: {
      messages: ChatMessage[];
      trace?: SpanRecorder | undefined;
      /** Awaited first when input scanners will run (not for a target without any): may throw. */
      beforeScan?: (() => Promise<void>) | undefined;
    },
  ): Promise<ScreenedChat>;
  resolveEmbedder(model: string): EmbedderTarget;
  /**
   * Apps, aliases and built-in models a client can name, then the pass-through upstream's own
   * models when it lists them (best effort: an upstream that fails to answer is left out).
   */
  models(): Promise<ModelInfo[]>;
}

export interface AiServiceDeps {
  config: KeelConfig;
  /** `<provider>/<model>`, an alias of `models`, or `extractive`; undefined when unknown. */
  resolveChatModel(ref: string): ModelTarget | undefined;
  resolveEmbedder(ref: string): EmbedderTarget | undefined;
  /** The provider that takes models nobody else claims (`config.passthroughProvider`). */
  passthrough: ChatProvider | undefined;
  /** The pass-through upstream's model ids (cached by the caller); absent when it cannot list them. */
  listPassthroughModels?: (() => Promise<string[]>) | undefined;
  retrieve: RetrieveFn;
  /** Model routes by public name (`config.routes`), checked before aliases and providers. */
  routes?: ReadonlyMap<string, Router> | undefined;
  /** USD of a route attempt's usage, for its trace span. */
  attemptCost?: ((provider: string, model: string, usage: Usage) => number) | undefined;
}

// Only OpenAI-compatible upstreams emit their wire JSON in `StreamPart.raw`.
const RAW_TYPES = new Set(['openai-compatible', 'azure-openai']);
const TARGET_CACHE_MAX = 1_000;

export function createAiService(deps: AiServiceDeps): AiService {
  const { config } = deps;
  // A route forwards bytes only when whichever target serves speaks OpenAI's wire format.
  const forwardsRaw = (p: ChatProvider): boolean =>
    isRouter(p)
      ? p.leaves().every((l) => forwardsRaw(l.provider))
      : RAW_TYPES.has(config.providers[p.id]?.type ?? '');
  const resolveModelRef = (ref: string): ModelTarget | undefined => {
    const route = deps.routes?.get(ref);
    return route ? { provider: route, model: ref } : deps.resolveChatModel(ref);
  };
  // Config is fixed for the process, so a name resolves the same way every time; the cache keeps
  // resolution off the per-request path (bounded: pass-through names are client-chosen).
  const cache = new Map<string, ChatTarget>();

  const resolveUncached = (name: string): ChatTarget => {
    const app = resolveApp(config, name);
    if (app) {
      const target = resolveModelRef(app.model);
      if (!target) {
        throw new KeelError(
          'config_invalid',
          `App '${name}' uses model '${app.model}', which no provider serves`,
        );
      }
      return { kind: 'app', name, app, target };
    }
    const direct = resolveModelRef(name);
    if (direct)
      return {
        kind: 'model',
        name,
        target: direct,
        forwardRaw: forwardsRaw(direct.provider),
        passthrough: false,
      };
    if (deps.passthrough) {
      const target = { provider: deps.passthrough, model: name };
      return { kind: 'model', name, target, forwardRaw: forwardsRaw(deps.passthrough), passthrough: true };
    }
    throw new KeelError(
      'model_not_found',
      `The model '${name}' does not exist (no app, alias or provider model)`,
      {
        param: 'model',
      },
    );
  };

  return {
    resolveChat(name) {
      let t = cache.get(name);
      if (t === undefined) {
        t = resolveUncached(name);
        if (cache.size >= TARGET_CACHE_MAX) cache.clear();
        cache.set(name, t);
      }
      return t;
    },

    async startChat(t, input) {
      const structured = structuredFormat(input.params.response_format);
      // A schema that cannot compile is the client's error: refused before retrieval or any call.
      if (structured) checkSchema(structured);
      let run: ChatRun | undefined;
      const call = (provider: ChatProvider) => (req: ChatRequest) =>
        callModel(provider, req, {
          signal: input.signal,
          streamUpstream: input.stream,
          trace: input.trace,
          regions: input.regions,
          cost: deps.attemptCost,
          // The ledger charges the route target that answered, not the route.
          onServed: (providerId, model) => {
            if (run === undefined) return;
            run.providerId = providerId;
            run.upstreamModel = model;
          },
        });
      if (t.kind === 'app') {
        run = await runApp(deps.retrieve, {
          app: t.app,
          provider: t.target.provider,
          upstreamModel: t.target.model,
          tenantId: input.tenantId,
          messages: input.messages,
          params: input.params,
          signal: input.signal,
          stream: input.stream,
          t0: input.t0,
          call: call(t.target.provider),
          screenHits: input.screenHits,
          retrievalQuery: input.retrievalQuery,
        });
        return run;
      }
      const { provider, model } = t.target;
      run = {
        app: null,
        providerId: provider.id,
        upstreamModel: model,
        // Validated JSON may be rewritten (fences stripped, usage summed over a repair).
        forwardRaw: t.forwardRaw && structured === undefined,
        sources: [],
        messages: input.messages,
        parts: call(provider)({ ...input.params, model, messages: input.messages }),
        stages: [],
      };
      return run;
    },

    resolveEmbedder(name) {
      const t = deps.resolveEmbedder(name);
      if (!t) {
        throw new KeelError('model_not_found', `The embedding model '${name}' does not exist`, {
          param: 'model',
        });
      }
      return t;
    },

    async models() {
      const out: ModelInfo[] = listApps(config).map((a) => ({
        id: a.name,
        kind: 'app',
        ownedBy: 'keel',
        description: a.description,
      }));
      for (const [alias, m] of Object.entries(config.models)) {
        out.push({ id: alias, kind: 'alias', ownedBy: m.provider });
      }
      for (const name of deps.routes?.keys() ?? []) out.push({ id: name, kind: 'route', ownedBy: 'keel' });
      for (const [id, p] of Object.entries(config.providers)) {
        if (p.type === 'extractive') out.push({ id, kind: 'model', ownedBy: 'keel' });
      }
      if (!out.some((m) => m.id === 'extractive'))
        out.push({ id: 'extractive', kind: 'model', ownedBy: 'keel' });
      if (deps.passthrough && deps.listPassthroughModels) {
        const known = new Set(out.map((m) => m.id));
        const ownedBy = deps.passthrough.id;
        const upstream = await deps.listPassthroughModels().catch(() => [] as string[]);
        for (const id of upstream) if (!known.has(id)) out.push({ id, kind: 'model', ownedBy });
      }
      return out;
    },
  };
}
