import type { AiService, ChatTarget } from '../ai/service.ts';
import { estimateUsage } from '../ai/usage.ts';
import type { KeelConfig } from '../config/schema.ts';
import { KeelError } from '../errors.ts';
import { collect } from '../providers/collect.ts';
import type { Db } from '../store/db.ts';
import { type DatasetVersion, getDataset, getDatasetCases } from '../store/queries/eval.ts';
import { costOf } from '../telemetry/cost.ts';
import { PriceTable } from '../telemetry/prices.ts';
import { NO_RECORDER, RequestTrace } from '../telemetry/tracing.ts';
import type { Span } from '../telemetry/types.ts';
import { createLlmJudge, type Judge } from './judge.ts';
import {
  type AskFn,
  type AskResult,
  type ConsistencyOptions,
  type Progress,
  type RunReport,
  runEval,
} from './runner.ts';

/**
 * Runs an eval dataset through an app in this process, through the same AI service the gateway
 * uses (retrieval, prompt, provider, guards), without HTTP and without production traces or usage
 * entries: eval traffic must not show up in the dashboards it is meant to judge.
 */

export interface EvalRunRequest {
  tenantId: string;
  dataset: string;
  /** Default: the latest version. */
  version?: number | undefined;
  /** An app, or a model name (then there is no retrieval to score). */
  app: string;
  concurrency?: number | undefined;
  /** Cut-off of hit@k and recall@k (default 5). */
  k?: number | undefined;
  /**
   * Chunks retrieved per case (default: the app's `topK`, at least 10 so nDCG@10 sees ten ranks).
   * MAP over a benchmark wants a deep list (`1000`, as trec_eval).
   */
  depth?: number | undefined;
  /** Measure consistency across input variations and repeats. */
  variations?: boolean | ConsistencyOptions | undefined;
  /** A model reference (`openai/gpt-4o-mini`, an alias) to grade each case with LLM-as-judge metrics. */
  judge?: string | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  /** Store the run (default true). */
  store?: boolean | undefined;
}

export interface EvalRunOutcome extends RunReport {
  dataset: Pick<DatasetVersion, 'id' | 'name' | 'version'>;
  app: string;
}

export interface EvalService {
  run(req: EvalRunRequest): Promise<EvalRunOutcome>;
  /** One question through the app, as a run asks it (for tools and tests). */
  ask(opts: {
    tenantId: string;
    app: string;
    input: string;
    depth?: number;
    signal?: AbortSignal;
  }): Promise<AskResult>;
}

export interface EvalServiceDeps {
  db: Db;
  ai: AiService;
  config: Pick<KeelConfig, 'prices' | 'providers'>;
}

const MAX_DEPTH = 1_000;

function retrievedDocumentIds(spans: readonly Span[]): string[] {
  const r = spans.find((s) => s.name === 'retrieve');
  return (r?.events ?? [])
    .filter((e) => e.name === 'chunk' && typeof e.attributes.document_id === 'string')
    .map((e) => e.attributes.document_id as string);
}

/** The guard's groundedness score, when an output guard ran the check and recorded it. */
function guardGroundedness(spans: readonly Span[]): number | undefined {
  for (const s of spans) {
    for (const key of ['grounding.score', 'grounding_score', 'groundedness']) {
      const v = s.attributes?.[key];
      if (typeof v === 'number' && Number.isFinite(v)) return v;
    }
  }
  return undefined;
}

export function createEvalService(deps: EvalServiceDeps): EvalService {
  const baseUrls: Record<string, string> = {};
  for (const [id, p] of Object.entries(deps.config.providers)) {
    if ('baseUrl' in p && typeof p.baseUrl === 'string') baseUrls[id] = p.baseUrl;
  }
  const prices = new PriceTable({ overrides: deps.config.prices, baseUrls });

  const targetFor = (app: string, depth: number | undefined): ChatTarget => {
    const t = deps.ai.resolveChat(app);
    if (t.kind !== 'app') return t;
    const retrievalDepth = Math.min(MAX_DEPTH, Math.max(1, Math.floor(depth ?? Math.max(t.app.topK, 10))));
    return { ...t, app: { ...t.app, retrievalDepth } };
  };

  const askWith =
    (tenantId: string, target: ChatTarget): AskFn =>
    async (input, ctx) => {
      const t0 = performance.now();
      const trace = new RequestTrace(NO_RECORDER, t0);
      const run = await deps.ai.startChat(target, {
        tenantId,
        messages: [{ role: 'user', content: input }],
        params: {},
        signal: ctx.signal,
        stream: false,
        t0,
        trace,
      });
      const c = await collect(run.parts);
      const latencyMs = performance.now() - t0;
      const usage = c.usage ?? estimateUsage(run.messages, c.text);
      const price = prices.lookup(run.providerId, run.upstreamModel);
      const spans = [...run.stages, ...trace.spans];
      const out: AskResult = {
        answer: c.text,
        retrievedIds: retrievedDocumentIds(spans),
        latencyMs,
        costUsd: costOf(usage, price.known ? price.price : null),
        contexts: [...run.sources].sort((a, b) => a.index - b.index).map((s) => s.text),
      };
      const g = guardGroundedness(spans);
      if (g !== undefined) out.groundedness = g;
      return out;
    };

  const judgeFor = (ref: string): Judge => {
    const t = deps.ai.resolveChat(ref);
    if (t.kind === 'app') {
      throw new KeelError('invalid_request', `the judge must be a model, not the app '${ref}'`, {
        param: 'judge',
      });
    }
    return createLlmJudge({ provider: t.target.provider, model: t.target.model });
  };

  return {
    async run(req) {
      const dataset = await getDataset(deps.db, {
        tenantId: req.tenantId,
        name: req.dataset,
        version: req.version,
      });
      if (!dataset) {
        const v = req.version === undefined ? '' : ` version ${req.version}`;
        throw new KeelError('not_found', `No eval dataset '${req.dataset}'${v}`, { param: 'dataset' });
      }
      const target = targetFor(req.app, req.depth);
      const judge = req.judge ? judgeFor(req.judge) : undefined;
      const cases = (await getDatasetCases(deps.db, dataset.id)).map((c) => ({
        id: c.id,
        input: c.input,
        reference: c.reference,
        goldIds: c.goldIds,
        goldGrades: c.goldGrades,
        tags: c.tags,
      }));
      const consistency =
        req.variations === true ? {} : req.variations === false ? undefined : req.variations;
      const config: Record<string, unknown> = {
        target: target.kind === 'app' ? { app: target.app } : { model: target.name },
        depth: target.kind === 'app' ? target.app.retrievalDepth : null,
        concurrency: req.concurrency ?? 4,
      };
      const report = await runEval({
        cases,
        ask: askWith(req.tenantId, target),
        k: req.k,
        concurrency: req.concurrency,
        consistency,
        judge,
        onProgress: req.onProgress,
        signal: req.signal,
        store:
          req.store === false
            ? undefined
            : { db: deps.db, tenantId: req.tenantId, dataset, app: req.app, config },
      });
      return {
        ...report,
        dataset: { id: dataset.id, name: dataset.name, version: dataset.version },
        app: req.app,
      };
    },

    ask(opts) {
      const target = targetFor(opts.app, opts.depth);
      return askWith(opts.tenantId, target)(opts.input, {
        signal: opts.signal ?? new AbortController().signal,
        caseIndex: 0,
      });
    },
  };
}
