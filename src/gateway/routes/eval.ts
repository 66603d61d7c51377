import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { compareRuns, comparisonToJUnit, parseThresholds } from '../../eval/compare.ts';
import type { EvalRunOutcome } from '../../eval/service.ts';
import { parseVariationKinds } from '../../eval/variations.ts';
import {
  type EvalRunRecord,
  getRun,
  getRunResults,
  listRuns,
  type StoredResult,
} from '../../store/queries/eval-runs.ts';
import { requireAdmin } from '../auth.ts';
import { toHttpError } from '../errors.ts';
import { parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';
import { evalDatasetRoutes } from './eval-datasets.ts';

export function runJson(r: EvalRunRecord): Record<string, unknown> {
  return {
    object: 'eval.run',
    id: r.id,
    tenant_id: r.tenantId,
    dataset: { id: r.datasetId, name: r.datasetName, version: r.datasetVersion },
    app: r.app,
    status: r.status,
    case_count: r.caseCount,
    completed_cases: r.completedCases,
    metrics: r.metrics,
    config: r.config,
    error: r.error,
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt?.toISOString() ?? null,
  };
}

function resultJson(r: StoredResult): Record<string, unknown> {
  return {
    position: r.position,
    case_id: r.caseId ?? null,
    input: r.input,
    output: r.output ?? null,
    retrieved_ids: r.retrievedIds,
    metrics: r.metrics,
    latency_ms: r.latencyMs ?? null,
    cost_usd: r.costUsd ?? null,
    error: r.error ?? null,
    judge_prompt: r.judgePrompt ?? null,
    judge_verdict: r.judgeVerdict ?? null,
    variations: r.variations ?? null,
  };
}

function outcomeJson(o: EvalRunOutcome): Record<string, unknown> {
  return {
    object: 'eval.run',
    id: o.runId ?? null,
    status: o.status,
    dataset: o.dataset,
    app: o.app,
    metrics: o.metrics,
    total: o.total,
    failed: o.failed,
  };
}

export const StartRunBodySchema = z
  .object({
    dataset: z.string().min(1),
    version: z.number().int().min(1).optional(),
    app: z.string().min(1),
    concurrency: z.number().int().min(1).max(64).optional(),
    k: z.number().int().min(1).max(100).optional(),
    depth: z.number().int().min(1).max(1_000).optional(),
    variations: z
      .union([
        z.boolean(),
        z
          .object({
            kinds: z.string().optional(),
            repeats: z.number().int().min(0).max(10).optional(),
            seed: z.number().int().optional(),
          })
          .strict(),
      ])
      .optional(),
    judge: z.string().min(1).optional(),
    /** Answer with NDJSON: `{"type":"progress",...}` lines, then `{"type":"result","run":{...}}`. */
    stream: z.boolean().optional(),
  })
  .strict();

async function streamRun(
  reply: FastifyReply,
  run: (progress: (line: unknown) => void) => Promise<EvalRunOutcome>,
) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const line = (v: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify(v)}\n`);
  };
  try {
    const o = await run(line);
    line({ type: 'result', run: outcomeJson(o) });
  } catch (e) {
    line({ type: 'error', ...toHttpError(e).toJSON() });
  } finally {
    res.end();
  }
}

/** Eval runs (start, list, read) and run comparison, for the CLI and the dashboard. Admin only. */
export function evalRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const m = deps.monitoring;
  if (!m) return;
  const opts = { preHandler: requireAdmin };
  evalDatasetRoutes(app, deps);

  app.post('/v1/eval/runs', opts, async (req, reply) => {
    const body = parseBody(StartRunBodySchema, req.body);
    const ctl = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ctl.abort();
    });
    const v = body.variations;
    const variations =
      v === undefined || typeof v === 'boolean'
        ? v
        : {
            kinds: v.kinds === undefined ? undefined : parseVariationKinds(v.kinds),
            repeats: v.repeats,
            seed: v.seed,
          };
    const start = (onProgress?: (l: unknown) => void) =>
      m.evals.run({
        tenantId: req.principal.tenantId,
        dataset: body.dataset,
        version: body.version,
        app: body.app,
        concurrency: body.concurrency,
        k: body.k,
        depth: body.depth,
        variations,
        judge: body.judge,
        signal: ctl.signal,
        onProgress: onProgress
          ? (p) =>
              onProgress({
                type: 'progress',
                done: p.done,
                total: p.total,
                failed: p.failed,
                position: p.result.position,
                error: p.result.error ?? null,
              })
          : undefined,
      });
    if (body.stream) return streamRun(reply, start);
    const o = await start();
    reply.code(201);
    return outcomeJson(o);
  });

  app.get<{ Querystring: { dataset?: string; app?: string; limit?: string } }>(
    '/v1/eval/runs',
    opts,
    async (req) => {
      const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new KeelError('invalid_request', 'limit must be an integer from 1 to 1000', { param: 'limit' });
      }
      const runs = await listRuns(deps.db, {
        tenantId: req.principal.tenantId,
        datasetName: req.query.dataset,
        app: req.query.app,
        limit,
      });
      return { object: 'list', data: runs.map(runJson) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { results?: string } }>(
    '/v1/eval/runs/:id',
    opts,
    async (req) => {
      const run = await getRun(deps.db, req.params.id, req.principal.tenantId);
      if (!run) throw new KeelError('not_found', `No eval run '${req.params.id}'`);
      const results = req.query.results === 'false' ? undefined : await getRunResults(deps.db, run.id);
      return { ...runJson(run), ...(results ? { results: results.map(resultJson) } : {}) };
    },
  );

  app.get<{ Querystring: { a?: string; b?: string; threshold?: string | string[]; format?: string } }>(
    '/v1/eval/compare',
    opts,
    async (req, reply) => {
      const { a, b } = req.query;
      if (!a || !b)
        throw new KeelError('invalid_request', 'pass the two run ids as ?a=<baseline>&b=<candidate>');
      const tenantId = req.principal.tenantId;
      const [ra, rb] = await Promise.all([getRun(deps.db, a, tenantId), getRun(deps.db, b, tenantId)]);
      if (!ra) throw new KeelError('not_found', `No eval run '${a}'`, { param: 'a' });
      if (!rb) throw new KeelError('not_found', `No eval run '${b}'`, { param: 'b' });
      const t = req.query.threshold;
      const thresholds = parseThresholds(t === undefined ? [] : Array.isArray(t) ? t : [t]);
      const c = compareRuns(ra.metrics, rb.metrics, thresholds);
      if (req.query.format === 'junit') {
        reply.type('application/xml');
        return comparisonToJUnit(c, { a: ra.id, b: rb.id });
      }
      return {
        object: 'eval.comparison',
        a: runJson(ra),
        b: runJson(rb),
        regressed: c.regressed,
        rows: c.rows,
        only_in_a: c.onlyInA,
        only_in_b: c.onlyInB,
      };
    },
  );
}
