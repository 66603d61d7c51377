import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { feedbackByAppDay, recordFeedback } from '../../store/queries/feedback.ts';
import { findTraceByResponseId, getTrace } from '../../store/queries/traces.ts';
import { TimeParam } from '../../telemetry/time-param.ts';
import { parseBody, parseQuery } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const UP = new Set<unknown>(['up', 'thumbs_up', 'thumbsup', 'positive', 'like', '+1', '👍', true, 1]);
const DOWN = new Set<unknown>([
  'down',
  'thumbs_down',
  'thumbsdown',
  'negative',
  'dislike',
  '-1',
  '👎',
  false,
  -1,
  0,
]);

/** `POST /v1/feedback`: thumbs up/down on a response, by the id the response carried. */
export const FeedbackBodySchema = z
  .object({
    /** The chat completion's `id` (`chatcmpl-req_...`), the bare trace id, or a pass-through upstream's id. */
    response_id: z.string().min(1).max(200).optional(),
    trace_id: z.string().min(1).max(200).optional(),
    rating: z.union([z.string(), z.boolean(), z.number()]).transform((v, ctx) => {
      const key = typeof v === 'string' ? v.trim().toLowerCase() : v;
      if (UP.has(key)) return 'up' as const;
      if (DOWN.has(key)) return 'down' as const;
      ctx.addIssue({
        code: 'custom',
        message: "expected 'up' or 'down' (or thumbs_up/thumbs_down, true/false)",
      });
      return z.NEVER;
    }),
    comment: z.string().max(4_000).nullish(),
  })
  .strict()
  .refine((b) => b.response_id !== undefined || b.trace_id !== undefined, {
    message: 'response_id is required',
    path: ['response_id'],
  });

const KEEL_TRACE_ID = /^req_[0-9a-z]{26}$/;

const SummaryParamsSchema = z
  .object({
    from: TimeParam.optional(),
    to: TimeParam.optional(),
    app: z.string().min(1).optional(),
    tenant_id: z.string().min(1).optional(),
  })
  .strict();

export function feedbackRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const m = deps.monitoring;
  if (!m) return;

  const lookup = async (responseId: string) => {
    const bare = responseId.startsWith('chatcmpl-') ? responseId.slice('chatcmpl-'.length) : responseId;
    if (KEEL_TRACE_ID.test(bare)) {
      const t = await getTrace(deps.db, bare);
      if (t) return { id: t.id, tenantId: t.tenantId ?? null, app: t.app ?? null };
    }
    return findTraceByResponseId(deps.db, responseId);
  };

  app.post('/v1/feedback', async (req, reply) => {
    const body = parseBody(FeedbackBodySchema, req.body);
    const responseId = (body.response_id ?? body.trace_id) as string;
    // Traces are stored in batches: a response rated right away may still be waiting in this replica's queue.
    let trace = await lookup(responseId);
    if (!trace) {
      await m.flushTraces();
      trace = await lookup(responseId);
    }
    const p = req.principal;
    if (!trace || (p.role !== 'admin' && trace.tenantId !== p.tenantId)) {
      throw new KeelError('not_found', `No response with id '${responseId}'`, { param: 'response_id' });
    }
    const f = await recordFeedback(deps.db, {
      traceId: trace.id,
      tenantId: trace.tenantId ?? p.tenantId,
      keyId: p.keyId,
      userLabel: p.userLabel,
      app: trace.app,
      rating: body.rating,
      comment: body.comment ?? null,
    });
    if (!f) throw new KeelError('not_found', `No response with id '${responseId}'`, { param: 'response_id' });
    reply.code(201);
    return {
      object: 'feedback',
      id: f.id,
      response_id: responseId,
      trace_id: f.traceId,
      rating: f.rating,
      comment: f.comment,
      app: f.app,
      created_at: f.createdAt.toISOString(),
      updated_at: f.updatedAt.toISOString(),
    };
  });

  /** Thumbs up/down per app and UTC day; admins across tenants (or `tenant_id`), members for their tenant. */
  app.get('/v1/feedback/summary', async (req) => {
    const q = parseQuery(SummaryParamsSchema, req.query);
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 30 * 86_400_000);
    const p = req.principal;
    const tenantId = p.role === 'admin' ? q.tenant_id : p.tenantId;
    const rows = await feedbackByAppDay(deps.db, { from, to, tenantId, app: q.app });
    let up = 0;
    let down = 0;
    for (const r of rows) {
      up += r.up;
      down += r.down;
    }
    return {
      object: 'feedback.summary',
      from: from.toISOString(),
      to: to.toISOString(),
      up,
      down,
      ratio: up + down > 0 ? up / (up + down) : null,
      data: rows,
    };
  });
}
