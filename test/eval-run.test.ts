import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerRelevance } from '../src/eval/answer.ts';
import { compareRuns, comparisonToJUnit, renderComparison } from '../src/eval/compare.ts';
import { importDatasetJsonl } from '../src/eval/datasets.ts';
import { type AskFn, type AskResult, type Progress, runEval } from '../src/eval/runner.ts';
import type { Db } from '../src/store/db.ts';
import { getDatasetCases } from '../src/store/queries/eval.ts';
import { getRun, getRunResults, listRuns } from '../src/store/queries/eval-runs.ts';
import { driverCases } from './helpers/stores.ts';

/**
 * An eval run over a small dataset with known answers: every aggregate is computed by hand here.
 * The app is a fake `ask` with fixed answers; the run is stored on both drivers.
 */

const DATASET = [
  { input: 'What is the capital of France?', reference: 'Paris', gold_ids: ['geo-fr'] },
  { input: 'Who wrote Hamlet?', reference: 'William Shakespeare', gold_ids: ['lit-1', 'lit-2'] },
  { input: 'Say hello' },
  { input: 'Break please' },
]
  .map((c) => JSON.stringify(c))
  .join('\n');

const ANSWERS: Record<string, AskResult> = {
  'What is the capital of France?': {
    answer: 'Paris [1].',
    retrievedIds: ['geo-fr', 'geo-de'],
    latencyMs: 100,
    costUsd: 0.01,
    contexts: ['Paris is the capital of France.', 'Berlin is the capital of Germany.'],
  },
  'Who wrote Hamlet?': {
    answer: 'Shakespeare wrote it',
    retrievedIds: ['x', 'lit-2', 'lit-2', 'lit-1'],
    latencyMs: 300,
    costUsd: 0.03,
    groundedness: 0.5,
  },
  'Say hello': { answer: 'Hello!', retrievedIds: [], latencyMs: 200, costUsd: 0.02 },
};

const goodAsk: AskFn = async (input) => {
  const a = ANSWERS[input];
  if (!a) throw new Error('upstream timed out');
  return a;
};

/** The same app after a bad change: France is now answered wrongly. */
const regressedAsk: AskFn = async (input, ctx) => {
  const a = await goodAsk(input, ctx);
  return input.includes('France') ? { ...a, answer: 'Lyon [1].', retrievedIds: ['geo-de', 'geo-fr'] } : a;
};

// Hand-computed expectations (k = 2).
const ndcgHamlet = (1 / Math.log2(3) + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3));
const f1Hamlet = (2 * (1 / 3) * (1 / 2)) / (1 / 3 + 1 / 2); // 1 shared token of 3 predicted, 2 reference
const EXPECTED: Record<string, number> = {
  'hit@2': 1,
  'recall@2': (1 + 1 / 2) / 2,
  mrr: (1 + 1 / 2) / 2,
  'ndcg@10': (1 + ndcgHamlet) / 2,
  map: (1 + (1 / 2 + 2 / 3) / 2) / 2,
  exact_match: (1 + 0) / 2,
  token_f1: (1 + f1Hamlet) / 2,
  rouge_l: (1 + f1Hamlet) / 2, // LCS 1 of 3 and 2 tokens: same as F1 here
  groundedness: (1 + 0.5) / 2, // France: its one sentence is in the context; Hamlet: the guard's 0.5
  answer_relevance:
    (answerRelevance('What is the capital of France?', 'Paris.') +
      answerRelevance('Who wrote Hamlet?', 'Shakespeare wrote it') +
      answerRelevance('Say hello', 'Hello!')) /
    3,
  latency_p50_ms: 200,
  latency_p95_ms: 200 + 0.9 * 100, // position 0.95 · 2 = 1.9 between 200 and 300
  latency_p99_ms: 200 + 0.98 * 100,
  latency_mean_ms: 200,
  cost_total_usd: 0.06,
  cost_mean_usd: 0.06 / 4,
  error_rate: 1 / 4,
};

function expectMetrics(actual: Record<string, number>, expected: Record<string, number>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) expect(actual[k], k).toBeCloseTo(v, 12);
}

describe.each(driverCases)('eval runs on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('scores a run exactly, stores it, and flags an injected regression', async () => {
    const { dataset } = await importDatasetJsonl(db, { tenantId: 'ten_default', name: 'qa', text: DATASET });
    const cases = await getDatasetCases(db, dataset.id);
    const progress: Progress[] = [];
    const store = { db, tenantId: 'ten_default', dataset, app: 'default', config: { model: 'extractive' } };
    const a = await runEval({
      cases,
      ask: goodAsk,
      k: 2,
      concurrency: 2,
      store,
      onProgress: (p) => progress.push(p),
    });
    expect(a.status).toBe('completed');
    expectMetrics(a.metrics, EXPECTED);
    expect(a).toMatchObject({ total: 4, failed: 1 });
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4]);
    expect(progress.at(-1)).toMatchObject({ total: 4, failed: 1 });

    // Per case: the France case is perfect, Hamlet has its own hand-computed values.
    expect(a.results.map((r) => r.position)).toEqual([0, 1, 2, 3]);
    expect(a.results[0]?.metrics).toMatchObject({
      'hit@2': 1,
      mrr: 1,
      exact_match: 1,
      token_f1: 1,
      groundedness: 1,
    });
    expect(a.results[1]?.metrics.map).toBeCloseTo((1 / 2 + 2 / 3) / 2, 12);
    expect(a.results[1]?.metrics['recall@2']).toBe(0.5);
    expect(Object.keys(a.results[2]?.metrics ?? {})).toEqual(['answer_relevance']);
    expect(a.results[3]).toMatchObject({ error: 'upstream timed out', metrics: {} });

    const run = await getRun(db, a.runId as string);
    expect(run).toMatchObject({
      status: 'completed',
      datasetName: 'qa',
      datasetVersion: 1,
      app: 'default',
      caseCount: 4,
      completedCases: 4,
      error: null,
    });
    expect(run?.config).toMatchObject({ model: 'extractive', k: 2, judge: null });
    expect(run?.finishedAt).toBeInstanceOf(Date);
    expectMetrics(run?.metrics ?? {}, EXPECTED);
    const stored = await getRunResults(db, a.runId as string);
    expect(stored).toHaveLength(4);
    expect(stored[1]).toMatchObject({
      caseId: cases[1]?.id,
      input: 'Who wrote Hamlet?',
      output: 'Shakespeare wrote it',
      retrievedIds: ['x', 'lit-2', 'lit-2', 'lit-1'],
      latencyMs: 300,
      costUsd: 0.03,
    });
    expect(stored[3]).toMatchObject({ error: 'upstream timed out' });

    const b = await runEval({ cases, ask: regressedAsk, k: 2, store });
    const cmp = compareRuns(run?.metrics ?? {}, (await getRun(db, b.runId as string))?.metrics ?? {});
    expect(cmp.regressed).toBe(true);
    const regressed = cmp.rows.filter((r) => r.status === 'regressed').map((r) => r.metric);
    // Lyon is wrong and not in the context; geo-fr drops to rank 2, so MRR, nDCG and MAP fall
    // while hit@2 and recall@2 hold.
    expect(regressed.sort()).toEqual([
      'exact_match',
      'groundedness',
      'map',
      'mrr',
      'ndcg@10',
      'rouge_l',
      'token_f1',
    ]);
    expect(cmp.rows.find((r) => r.metric === 'groundedness')).toMatchObject({ a: 0.75, b: 0.25 });
    expect(cmp.rows.find((r) => r.metric === 'exact_match')).toMatchObject({ a: 0.5, b: 0, delta: -0.5 });
    expect(renderComparison(cmp, { a: a.runId, b: b.runId })).toContain('! regressed');
    expect(comparisonToJUnit(cmp).match(/<failure /g)).toHaveLength(7);
    // The same app twice: nothing regresses.
    const again = await runEval({ cases, ask: goodAsk, k: 2 });
    expect(compareRuns(a.metrics, again.metrics).regressed).toBe(false);

    const runs = await listRuns(db, { tenantId: 'ten_default', datasetName: 'qa' });
    expect(runs.map((r) => r.id)).toEqual([b.runId, a.runId]);
  });

  it.skipIf(driver.skip)('measures consistency across variations and repeats', async () => {
    const asked: string[] = [];
    const ask: AskFn = async (input, ctx) => {
      asked.push(`${ctx.variation ?? 'original'}:${input}`);
      if (ctx.variation === 'suffix') {
        return { answer: 'Shakespeare', retrievedIds: ['lit-2', 'y'], latencyMs: 5, costUsd: 0 };
      }
      return {
        answer: 'Shakespeare wrote it [1]',
        retrievedIds: ['x', 'lit-2', 'z'],
        latencyMs: 10,
        costUsd: 0.001,
      };
    };
    const r = await runEval({
      cases: [{ input: 'Who wrote Hamlet?', goldIds: ['lit-2'] }],
      ask,
      k: 2,
      consistency: { kinds: ['lowercase', 'suffix'], repeats: 1 },
    });
    expect(asked.map((x) => x.split(':')[0])).toEqual(['original', 'lowercase', 'suffix', 'repeat']);
    expect(asked[1]).toBe('lowercase:who wrote hamlet?');
    const m = r.results[0]?.metrics ?? {};
    // top-2 sets: {x, lit-2} vs itself (1), vs {lit-2, y} (1/3), vs itself (1)
    expect(m.consistency_retrieval).toBeCloseTo((1 + 1 / 3 + 1) / 3, 12);
    expect(m.consistency_retrieval_agreement).toBeCloseTo(2 / 3, 12);
    // F1("Shakespeare", "Shakespeare wrote it") = 2·1·(1/3)/(1 + 1/3) = 1/2
    expect(m.consistency_answer).toBeCloseTo((1 + 1 / 2 + 1) / 3, 12);
    expect(m.consistency_answer_agreement).toBeCloseTo(2 / 3, 12);
    expect(r.results[0]?.variations?.map((v) => v.kind)).toEqual(['lowercase', 'suffix', 'repeat']);
    // Variations cost time but are not the app's latency or cost.
    expect(r.metrics).toMatchObject({ latency_p50_ms: 10, cost_total_usd: 0.001 });
  });

  it.skipIf(driver.skip)('stops on cancel and stores the run as cancelled', async () => {
    const { dataset } = await importDatasetJsonl(db, {
      tenantId: 'ten_default',
      name: 'many',
      text: Array.from({ length: 20 }, (_, i) => JSON.stringify({ input: `q${i}` })).join('\n'),
    });
    const cases = await getDatasetCases(db, dataset.id);
    const ctl = new AbortController();
    let calls = 0;
    const r = await runEval({
      cases,
      concurrency: 1,
      signal: ctl.signal,
      store: { db, tenantId: 'ten_default', dataset, app: 'default' },
      ask: async (input) => {
        if (++calls === 3) ctl.abort();
        return { answer: input, retrievedIds: [], latencyMs: 1, costUsd: 0 };
      },
    });
    expect(r.status).toBe('cancelled');
    expect(r.results).toHaveLength(3);
    const run = await getRun(db, r.runId as string);
    expect(run).toMatchObject({ status: 'cancelled', completedCases: 3, caseCount: 20 });
    expect(await getRunResults(db, r.runId as string)).toHaveLength(3);
  });

  it.skipIf(driver.skip)('marks the run failed when its results cannot be stored', async () => {
    const { dataset } = await importDatasetJsonl(db, { tenantId: 'ten_default', name: 'qa', text: DATASET });
    const cases = await getDatasetCases(db, dataset.id);
    let runId: string | undefined;
    const failing = {
      query: async <T>(sql: string, params?: unknown[]) => {
        if (sql.includes('insert into eval_results')) throw new Error('disk full');
        const rows = await db.query<T>(sql, params as never);
        if (sql.includes('insert into eval_runs')) runId = params?.[0] as string;
        return rows;
      },
      exec: (sql: string) => db.exec(sql),
    };
    await expect(
      runEval({
        cases,
        ask: goodAsk,
        store: { db: failing, tenantId: 'ten_default', dataset, app: 'default' },
      }),
    ).rejects.toThrow(/disk full/);
    expect(await getRun(db, runId as string)).toMatchObject({ status: 'failed', error: 'disk full' });
  });
});
