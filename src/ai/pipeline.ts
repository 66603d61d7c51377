import { KeelError } from '../errors.ts';
import type { ChatMessage, ChatProvider, ChatRequest, Source, StreamPart } from '../providers/types.ts';
import type { RetrievalHit, RetrieveOptions } from '../rag/types.ts';
import type { ResolvedApp } from './apps.ts';
import { buildMessages, packSources, retrievalQuery } from './prompt.ts';

/** Generation parameters a client may set; everything of a `ChatRequest` but what the pipeline decides. */
export type ChatParams = Omit<ChatRequest, 'model' | 'messages' | 'sources'>;

export type RetrieveFn = (opts: RetrieveOptions) => Promise<RetrievalHit[]>;

/** One stage's timing, for the request's trace. */
export interface StageTiming {
  name: string;
  startMs: number;
  durationMs: number;
  attributes?: Record<string, string | number | boolean | null>;
  /** List items of the stage: one `chunk` event per retrieved chunk (ids, rank and score; never text). */
  events?: { name: string; attributes: Record<string, string | number | boolean | null> }[];
}

/** A started chat: where it goes, what the model was given, and its output stream. */
export interface ChatRun {
  app: string | null;
  providerId: string;
  upstreamModel: string;
  /**
   * The parts carry the upstream's own wire JSON in `raw`, which the gateway may forward byte for
   * byte (pass-through and aliases; never apps, whose answers get Keel's ids and citations).
   */
  forwardRaw: boolean;
  /** The numbered sources in the prompt (apps only); `[n]` in the answer refers to `index`. */
  sources: Source[];
  /** The messages sent to the model (for token estimates when the upstream reports none). */
  messages: ChatMessage[];
  parts: AsyncIterable<StreamPart>;
  stages: StageTiming[];
}

export interface AppRunInput {
  app: ResolvedApp;
  provider: ChatProvider;
  upstreamModel: string;
  tenantId: string;
  messages: ChatMessage[];
  params: ChatParams;
  signal: AbortSignal;
  stream: boolean;
  /** `performance.now()` at the request's start, so stage times line up with the trace. */
  t0: number;
  /** Makes the model call (routes, structured output, attempt spans); default `provider.stream`. */
  call?: ((req: ChatRequest) => AsyncIterable<StreamPart>) | undefined;
  /** Guardrails: screens retrieved chunks before packing (injected ones are dropped). */
  screenHits?: ((hits: RetrievalHit[]) => Promise<RetrievalHit[]>) | undefined;
  /** Guardrails: the query to retrieve with, when not the (redacted) latest user message. */
  retrievalQuery?: string | undefined;
}

/**
 * An app's answer: retrieve from the app's collections (in the caller's tenant), pack the hits into
 * a numbered-source prompt within the app's token budget, and stream the app's model over it. The
 * sources also travel structured in `ChatRequest.sources`, which is all the extractive answerer reads.
 */
export async function runApp(retrieve: RetrieveFn, input: AppRunInput): Promise<ChatRun> {
  const { app, t0 } = input;
  const stages: StageTiming[] = [];
  const query = input.retrievalQuery ?? retrievalQuery(input.messages);

  let hits: RetrievalHit[] = [];
  const r0 = performance.now();
  let missing = false;
  if (query.trim() && app.collections.length > 0) {
    try {
      hits = await retrieve({
        tenantId: input.tenantId,
        collections: app.collections,
        query,
        topK: Math.max(app.topK, app.retrievalDepth ?? 0),
      });
    } catch (e) {
      // A tenant that has not ingested into the app's collections yet simply has no documents:
      // the answer says nothing was found instead of failing the request.
      if (!(e instanceof KeelError && e.code === 'not_found')) throw e;
      missing = true;
    }
  }
  stages.push({
    name: 'retrieve',
    startMs: r0 - t0,
    durationMs: performance.now() - r0,
    attributes: {
      hits: hits.length,
      collections: app.collections.join(','),
      missing_collection: missing,
    },
    events: hits.map((h, i) => ({
      name: 'chunk',
      attributes: {
        rank: i + 1,
        chunk_id: h.chunkId,
        document_id: h.externalId,
        collection: h.collection,
        score: Math.round(h.score * 1e6) / 1e6,
        fts_rank: h.ftsRank ?? null,
        vector_rank: h.vectorRank ?? null,
      },
    })),
  });

  // Deeper hits were for the retrieval span (an eval's metrics); the answer sees the app's topK.
  if (hits.length > app.topK) hits = hits.slice(0, app.topK);
  if (input.screenHits && hits.length > 0) hits = await input.screenHits(hits);

  const p0 = performance.now();
  const sources = packSources(hits, app.contextTokens);
  const messages = buildMessages(app.systemPrompt, sources, input.messages);
  stages.push({
    name: 'prompt',
    startMs: p0 - t0,
    durationMs: performance.now() - p0,
    attributes: { sources: sources.length },
  });

  const req: ChatRequest = { ...input.params, model: input.upstreamModel, messages, sources };
  const parts = input.call
    ? input.call(req)
    : input.provider.stream(req, { signal: input.signal, streamUpstream: input.stream });
  return {
    app: app.name,
    providerId: input.provider.id,
    upstreamModel: input.upstreamModel,
    forwardRaw: false,
    sources,
    messages,
    parts,
    stages,
  };
}
