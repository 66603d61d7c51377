import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { type FeedbackRecord, feedbackForTraces } from '../../store/queries/feedback.ts';
import { getTrace, listTraces, type TraceRecord, type TraceSummary } from '../../store/queries/traces.ts';
import { TimeParam } from '../../telemetry/time-param.ts';
import { parseQuery } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const num = z.coerce
  .number()
  .refine(Number.isFinite, 'must be a number')
  .refine((n) => n >= 0, 'must be >= 0');
const bool = z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1');

/** Query-string parameters of `GET /v1/traces`. */
export const TraceListParamsSchema = z
  .object({
    request_id: z.string().min(1).max(128).optional(),
    app: z.string().min(1).optional(),
    key_id: z.string().min(1).optional(),
    user: z.string().optional(),
    status: z.enum(['ok', 'error', 'aborted']).optional(),
    model: z.string().min(1).optional(),
    error_code: z.string().min(1).optional(),
    tenant_id: z.string().min(1).optional(),
    from: TimeParam.optional(),
    to: TimeParam.optional(),
    min_latency_ms: num.optional(),
    max_latency_ms: num.optional(),
    min_cost_usd: num.optional(),
    guard_findings: bool.optional(),
    feedback: z.enum(['up', 'down', 'any', 'none']).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();

function encodeCursor(t: TraceSummary): string {
  return Buffer.from(JSON.stringify([t.ts.toISOString(), t.id])).toString('base64url');
}

function decodeCursor(c: string): { ts: Date; id: string } {
  try {
    const [ts, id] = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as [unknown, unknown];
    const d = new Date(String(ts));
    if (typeof id === 'string' && !Number.isNaN(d.getTime())) return { ts: d, id };
  } catch {
    // reported below
  }
  throw new KeelError(
    'invalid_request',
    'invalid cursor: pass next_cursor from the previous page unchanged',
    {
      param: 'cursor',
    },
  );
}

function feedbackJson(f: FeedbackRecord | undefined): Record<string, unknown> | null {
  if (!f) return null;
  return {
    id: f.id,
    rating: f.rating,
    comment: f.comment,
    created_at: f.createdAt.toISOString(),
    updated_at: f.updatedAt.toISOString(),
  };
}

/** A trace in lists (no spans), as the HTTP API spells it. */
export function traceSummaryJson(t: TraceSummary, feedback?: FeedbackRecord): Record<string, unknown> {
  return {
    id: t.id,
    object: 'trace',
    ts: t.ts.toISOString(),
    tenant_id: t.tenantId ?? null,
    key_id: t.keyId ?? null,
    user: t.userLabel ?? null,
    app: t.app ?? null,
    model: t.model ?? null,
    status: t.status,
    http_status: t.httpStatus ?? null,
    error_code: t.errorCode ?? null,
    latency_ms: t.latencyMs,
    ttft_ms: t.ttftMs ?? null,
    prompt_tokens: t.promptTokens ?? null,
    completion_tokens: t.completionTokens ?? null,
    cost_usd: t.costUsd ?? null,
    stream: t.stream,
    feedback: feedbackJson(feedback),
  };
}

/** One trace with its spans (each with `start_ms`/`duration_ms` from the request start, attributes, events). */
export function traceJson(t: TraceRecord, feedback?: FeedbackRecord): Record<string, unknown> {
  return {
    ...traceSummaryJson(t, feedback),
    attributes: t.attributes ?? {},
    spans: t.spans.map((s) => ({
      name: s.name,
      start_ms: s.startMs,
      duration_ms: s.durationMs,
      attributes: s.attributes ?? {},
      events: s.events ?? [],
    })),
  };
}

/** Whether `req`'s caller may see trace `t`: admins see every trace, members their own key's. */
export function canSeeTrace(req: FastifyRequest, t: { keyId?: string | null | undefined }): boolean {
  const p = req.principal;
  return p.role === 'admin' || (p.keyId !== null && t.keyId === p.keyId);
}

/**
 * `GET /v1/traces` (filters, newest first, cursor pagination) and `GET /v1/traces/:id`. Admins see
 * all traces (of every tenant, `tenant_id` narrows), members only their own key's; a trace a caller
 * may not see is reported as not found. Traces are written in batches: a request shows up within
 * about a second of its response.
 */
export function traceRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  if (!deps.monitoring) return;

  app.get('/v1/traces', async (req) => {
    const q = parseQuery(TraceListParamsSchema, req.query);
    const p = req.principal;
    let keyId = q.key_id;
    let tenantId = q.tenant_id;
    if (p.role !== 'admin') {
      if (keyId !== undefined && keyId !== p.keyId) {
        throw new KeelError('permission_denied', 'A member key sees only its own traces', {
          param: 'key_id',
        });
      }
      keyId = p.keyId ?? undefined;
      tenantId = p.tenantId;
    }
    const rows = await listTraces(deps.db, {
      tenantId,
      keyId,
      requestId: q.request_id,
      app: q.app,
      userLabel: q.user,
      status: q.status,
      model: q.model,
      errorCode: q.error_code,
      from: q.from,
      to: q.to,
      minLatencyMs: q.min_latency_ms,
      maxLatencyMs: q.max_latency_ms,
      minCostUsd: q.min_cost_usd,
      hasGuardFindings: q.guard_findings,
      feedback: q.feedback,
      after: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const feedback = await feedbackForTraces(
      deps.db,
      page.map((t) => t.id),
    );
    const last = page.at(-1);
    const hasMore = rows.length > q.limit;
    return {
      object: 'list',
      data: page.map((t) => traceSummaryJson(t, feedback.get(t.id))),
      has_more: hasMore,
      next_cursor: hasMore && last ? encodeCursor(last) : null,
    };
  });

  app.get<{ Params: { id: string } }>('/v1/traces/:id', async (req) => {
    const id = req.params.id.replace(/^chatcmpl-/, '');
    const t = await getTrace(deps.db, id);
    if (!t || !canSeeTrace(req, t)) throw new KeelError('not_found', `No trace with id '${req.params.id}'`);
    const feedback = await feedbackForTraces(deps.db, [t.id]);
    return traceJson(t, feedback.get(t.id));
  });
}
