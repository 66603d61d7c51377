import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import {
  casesFromBeir,
  DatasetLineSchema,
  lineToCase,
  type PromotedTrace,
  parseDatasetJsonl,
  promoteTraces,
} from '../../eval/datasets.ts';
import {
  type DatasetVersion,
  type EvalCaseInput,
  type EvalCaseRecord,
  getDataset,
  getDatasetCases,
  importDataset,
  listDatasets,
  listDatasetVersions,
} from '../../store/queries/eval.ts';
import { feedbackForTraces } from '../../store/queries/feedback.ts';
import { getTrace, listTraces } from '../../store/queries/traces.ts';
import { TimeParam } from '../../telemetry/time-param.ts';
import { requireAdmin } from '../auth.ts';
import { fromZodError } from '../errors.ts';
import { parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const IMPORT_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

export function datasetJson(d: DatasetVersion): Record<string, unknown> {
  return {
    object: 'eval.dataset',
    id: d.id,
    name: d.name,
    version: d.version,
    description: d.description,
    case_count: d.caseCount,
    content_hash: d.contentHash,
    created_at: d.createdAt.toISOString(),
  };
}

function caseJson(c: EvalCaseRecord): Record<string, unknown> {
  return {
    id: c.id,
    position: c.position,
    external_id: c.externalId ?? null,
    input: c.input,
    reference: c.reference ?? null,
    gold_ids: c.goldIds ?? null,
    gold_grades: c.goldGrades ?? null,
    tags: c.tags,
    source_trace_id: c.sourceTraceId ?? null,
    metadata: c.metadata ?? {},
  };
}

/** `POST /v1/eval/datasets/:name`: exactly one of `jsonl` (the file's text), `cases` (its lines as objects), `beir`. */
const ImportBodySchema = z
  .object({
    description: z.string().max(2_000).optional(),
    jsonl: z.string().min(1).optional(),
    cases: z.array(z.unknown()).min(1).max(100_000).optional(),
    beir: z
      .object({ queries: z.string().min(1), qrels: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((b) => [b.jsonl, b.cases, b.beir].filter((x) => x !== undefined).length === 1, {
    message: 'send exactly one of jsonl, cases or beir',
  });

/** `POST /v1/eval/datasets/:name/cases`: promote production traces, by id and/or by a filter. */
const PromoteBodySchema = z
  .object({
    trace_ids: z.array(z.string().min(1).max(200)).max(1_000).optional(),
    filter: z
      .object({
        feedback: z.enum(['up', 'down']).optional(),
        guard_findings: z.boolean().optional(),
        status: z.enum(['error', 'ok', 'aborted']).optional(),
        app: z.string().min(1).optional(),
        from: TimeParam.optional(),
        to: TimeParam.optional(),
        limit: z.number().int().min(1).max(1_000).default(100),
      })
      .strict()
      .optional(),
    tags: z.array(z.string().min(1).max(100)).max(20).optional(),
  })
  .strict()
  .refine((b) => b.trace_ids?.length || b.filter, {
    message: 'send trace_ids or a filter',
    path: ['trace_ids'],
  });

function importCases(body: z.infer<typeof ImportBodySchema>, name: string): EvalCaseInput[] {
  if (body.jsonl !== undefined) return parseDatasetJsonl(body.jsonl, name);
  if (body.beir !== undefined) return casesFromBeir(body.beir.queries, body.beir.qrels);
  return (body.cases ?? []).map((line, i) => {
    const r = DatasetLineSchema.safeParse(line);
    if (!r.success) {
      const e = fromZodError(r.error);
      throw new KeelError('invalid_request', `cases[${i}]: ${e.message}`, { param: `cases[${i}]` });
    }
    return lineToCase(r.data);
  });
}

/** Eval datasets for the admin's tenant: list, read, import (new version), promote traces. */
export function evalDatasetRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const opts = { preHandler: requireAdmin };

  app.get('/v1/eval/datasets', opts, async (req) => {
    const rows = await listDatasets(deps.db, req.principal.tenantId);
    return { object: 'list', data: rows.map(datasetJson) };
  });

  app.get<{ Params: { name: string }; Querystring: { version?: string; cases?: string } }>(
    '/v1/eval/datasets/:name',
    opts,
    async (req) => {
      const version = req.query.version === undefined ? undefined : Number(req.query.version);
      if (version !== undefined && !Number.isInteger(version)) {
        throw new KeelError('invalid_request', 'version must be an integer', { param: 'version' });
      }
      const tenantId = req.principal.tenantId;
      const d = await getDataset(deps.db, { tenantId, name: req.params.name, version });
      if (!d) throw new KeelError('not_found', `No eval dataset '${req.params.name}'`);
      const versions = await listDatasetVersions(deps.db, tenantId, d.name);
      const cases = req.query.cases === 'false' ? undefined : await getDatasetCases(deps.db, d.id);
      return {
        ...datasetJson(d),
        versions: versions.map((v) => ({
          version: v.version,
          id: v.id,
          case_count: v.caseCount,
          created_at: v.createdAt,
        })),
        ...(cases ? { cases: cases.map(caseJson) } : {}),
      };
    },
  );

  // Benchmark datasets (queries + qrels) run to megabytes: a larger limit than chat requests.
  const importOpts = {
    ...opts,
    bodyLimit: Math.max(IMPORT_BODY_LIMIT_BYTES, deps.config.server.bodyLimitBytes),
  };
  app.post<{ Params: { name: string } }>('/v1/eval/datasets/:name', importOpts, async (req, reply) => {
    const body = parseBody(ImportBodySchema, req.body);
    const cases = importCases(body, req.params.name);
    const r = await importDataset(deps.db, {
      tenantId: req.principal.tenantId,
      name: req.params.name,
      description: body.description,
      cases,
    });
    reply.code(r.created ? 201 : 200);
    return { dataset: datasetJson(r.dataset), created: r.created };
  });

  app.post<{ Params: { name: string } }>('/v1/eval/datasets/:name/cases', opts, async (req, reply) => {
    const body = parseBody(PromoteBodySchema, req.body);
    await deps.monitoring?.flushTraces();
    const ids = new Set((body.trace_ids ?? []).map((id) => id.replace(/^chatcmpl-/, '')));
    if (body.filter) {
      const f = body.filter;
      const found = await listTraces(deps.db, {
        feedback: f.feedback,
        hasGuardFindings: f.guard_findings,
        status: f.status,
        app: f.app,
        from: f.from,
        to: f.to,
        limit: f.limit,
      });
      for (const t of found) ids.add(t.id);
    }
    const feedback = await feedbackForTraces(deps.db, [...ids]);
    const promoted: PromotedTrace[] = [];
    const skipped: { trace_id: string; reason: string }[] = [];
    for (const id of ids) {
      const t = await getTrace(deps.db, id);
      if (!t) {
        skipped.push({ trace_id: id, reason: 'no such trace' });
        continue;
      }
      const input = t.attributes?.input;
      if (typeof input !== 'string' || input.trim() === '') {
        skipped.push({
          trace_id: id,
          reason: 'the trace has no captured input (telemetry.captureInput was off)',
        });
        continue;
      }
      const tags = new Set(body.tags ?? []);
      tags.add('production');
      if (feedback.get(id)?.rating === 'down') tags.add('thumbs_down');
      if (t.attributes?.guard_findings) tags.add('guard_flagged');
      if (t.status === 'error') tags.add('error');
      promoted.push({ traceId: id, input, tags: [...tags] });
    }
    if (promoted.length === 0) {
      throw new KeelError('invalid_request', `no trace could be promoted (${skipped.length} skipped)`, {
        param: 'trace_ids',
      });
    }
    const r = await promoteTraces(deps.db, {
      tenantId: req.principal.tenantId,
      name: req.params.name,
      traces: promoted,
    });
    reply.code(r.created ? 201 : 200);
    return { dataset: datasetJson(r.dataset), created: r.created, added: r.added, skipped };
  });
}
