import { checkGrounding } from '../guard/grounding.ts';
import {
  createRun,
  finishRun,
  insertResults,
  type StoredResult,
  updateRunProgress,
} from '../store/queries/eval-runs.ts';
import { aggregateRun } from './aggregate.ts';
import { answerRelevance, exactMatch, rougeL, stripCitations, tokenF1 } from './answer.ts';
import { retrievalMetrics, toRelevance } from './retrieval.ts';
import type {
  AskResult,
  CaseResult,
  ConsistencyOptions,
  EvalCase,
  RunOptions,
  RunReport,
  VariationResult,
} from './types.ts';
import { consistency, makeVariations, type Observation, type VariationKind } from './variations.ts';

export type {
  AskContext,
  AskFn,
  AskResult,
  CaseResult,
  ConsistencyOptions,
  EvalCase,
  Progress,
  RunOptions,
  RunReport,
  RunStoreOptions,
  VariationResult,
} from './types.ts';

/**
 * Runs a dataset through an app and scores it. The app is reached through an injected `ask`
 * function (in process, over HTTP, or a fake), so the runner knows nothing about the gateway.
 */

const FLUSH_EVERY = 25;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function runEval(opts: RunOptions): Promise<RunReport> {
  const k = Math.max(1, Math.floor(opts.k ?? 5));
  const total = opts.cases.length;
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  if (opts.signal?.aborted) ctl.abort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const store = opts.store;
  const runId = store
    ? await createRun(store.db, {
        tenantId: store.tenantId,
        dataset: store.dataset,
        app: store.app,
        caseCount: total,
        config: {
          ...store.config,
          k,
          consistency: opts.consistency ?? null,
          judge: opts.judge?.model ?? null,
        },
      })
    : undefined;

  const results: CaseResult[] = [];
  let failed = 0;
  let pending: StoredResult[] = [];
  let writing: Promise<void> = Promise.resolve();
  const flush = () => {
    if (!store || !runId || pending.length === 0) return;
    const batch = pending;
    const done = results.length;
    pending = [];
    // One writer at a time, in order; a failed write fails the run at the end.
    writing = writing.then(async () => {
      await insertResults(store.db, runId, batch);
      await updateRunProgress(store.db, runId, done);
    });
  };

  try {
    let next = 0;
    const worker = async () => {
      while (!ctl.signal.aborted) {
        const i = next++;
        if (i >= total) return;
        const result = await runCase(opts, opts.cases[i] as EvalCase, i, k, ctl.signal);
        if (ctl.signal.aborted && result.error !== undefined) return; // cut off by the cancel: not a result
        results.push(result);
        if (result.error !== undefined) failed++;
        pending.push(toStored(result));
        if (pending.length >= FLUSH_EVERY) flush();
        opts.onProgress?.({ done: results.length, total, failed, result });
      }
    };
    const n = Math.max(1, Math.min(Math.floor(opts.concurrency ?? 4), total || 1));
    await Promise.all(Array.from({ length: n }, worker));
    flush();
    await writing;
    results.sort((a, b) => a.position - b.position);
    const status = ctl.signal.aborted ? 'cancelled' : 'completed';
    const metrics = aggregateRun(results);
    if (store && runId) await finishRun(store.db, runId, { status, metrics, completedCases: results.length });
    return { runId, status, metrics, results, total, failed };
  } catch (e) {
    if (store && runId) {
      await writing.catch(() => undefined);
      await finishRun(store.db, runId, {
        status: 'failed',
        metrics: {},
        completedCases: results.length,
        error: message(e),
      }).catch(() => undefined);
    }
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function runCase(
  opts: RunOptions,
  c: EvalCase,
  position: number,
  k: number,
  signal: AbortSignal,
): Promise<CaseResult> {
  const base: CaseResult = { position, caseId: c.id, input: c.input, retrievedIds: [], metrics: {} };
  let res: AskResult;
  try {
    res = await opts.ask(c.input, { signal, caseIndex: position });
  } catch (e) {
    return { ...base, error: message(e) };
  }
  const answer = stripCitations(res.answer);
  const metrics: Record<string, number> = {};
  if (c.goldIds && c.goldIds.length > 0) {
    Object.assign(metrics, retrievalMetrics(res.retrievedIds, toRelevance(c.goldGrades ?? c.goldIds), k));
  }
  if (c.reference !== undefined) {
    metrics.exact_match = exactMatch(answer, c.reference);
    metrics.token_f1 = tokenF1(answer, c.reference);
    metrics.rouge_l = rougeL(answer, c.reference);
  }
  metrics.answer_relevance = answerRelevance(c.input, answer);
  // The guard's own score when the app ran the check; otherwise the same check here, over the
  // contexts numbered as the app numbered its sources.
  const sources = res.contexts?.map((text, i) => ({ index: i + 1, text }));
  const grounded = res.groundedness ?? (sources ? checkGrounding(res.answer, sources).score : undefined);
  if (grounded !== undefined) metrics.groundedness = grounded;

  const out: CaseResult = {
    ...base,
    output: res.answer,
    retrievedIds: res.retrievedIds,
    metrics,
    latencyMs: res.latencyMs,
    costUsd: res.costUsd,
  };
  if (opts.consistency) {
    const { variations, observed } = await askVariations(opts, c.input, position, opts.consistency, signal);
    out.variations = variations;
    const cons = consistency({ answer: res.answer, retrievedIds: res.retrievedIds }, observed, k);
    if (cons) {
      metrics.consistency_retrieval = cons.retrieval;
      metrics.consistency_retrieval_agreement = cons.retrievalAgreement;
      metrics.consistency_answer = cons.answer;
      metrics.consistency_answer_agreement = cons.answerAgreement;
    }
  }
  if (opts.judge) {
    try {
      const j = await opts.judge.judge(
        { question: c.input, answer: res.answer, contexts: res.contexts ?? [], reference: c.reference },
        { signal },
      );
      out.judge = { prompt: j.prompt, verdict: { ...j.verdict } };
      Object.assign(metrics, j.metrics);
    } catch (e) {
      out.judge = { verdict: { error: message(e) } };
    }
  }
  return out;
}

async function askVariations(
  opts: RunOptions,
  input: string,
  position: number,
  c: ConsistencyOptions,
  signal: AbortSignal,
): Promise<{ variations: VariationResult[]; observed: Observation[] }> {
  const asks: { kind: VariationKind | 'repeat'; text: string }[] = makeVariations(input, {
    kinds: c.kinds,
    seed: c.seed,
  });
  for (let r = 0; r < Math.max(0, Math.floor(c.repeats ?? 1)); r++)
    asks.push({ kind: 'repeat', text: input });
  const variations: VariationResult[] = [];
  const observed: Observation[] = [];
  // Sequential within a case: the run's concurrency bounds the asks in flight.
  for (const v of asks) {
    if (signal.aborted) break;
    try {
      const r = await opts.ask(v.text, { signal, caseIndex: position, variation: v.kind });
      variations.push({ kind: v.kind, input: v.text, answer: r.answer, retrievedIds: r.retrievedIds });
      observed.push({ answer: r.answer, retrievedIds: r.retrievedIds });
    } catch (e) {
      variations.push({ kind: v.kind, input: v.text, error: message(e) });
    }
  }
  return { variations, observed };
}

function toStored(r: CaseResult): StoredResult {
  return {
    position: r.position,
    caseId: r.caseId,
    input: r.input,
    output: r.output,
    retrievedIds: r.retrievedIds,
    metrics: r.metrics,
    judgePrompt: r.judge?.prompt,
    judgeVerdict: r.judge?.verdict,
    variations: r.variations,
    latencyMs: r.latencyMs,
    costUsd: r.costUsd,
    error: r.error,
  };
}
