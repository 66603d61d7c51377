import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeelError } from '../../errors.ts';
import { feedbackByAppDay } from '../../store/queries/feedback.ts';
import type { StatsQuery, StatsRow } from '../../store/queries/stats.ts';
import { autoBucket, getOverview, getStats, parseStatsParams } from '../../telemetry/stats.ts';
import { requireAdmin } from '../auth.ts';
import type { GatewayDeps } from '../server.ts';

/** A stats row as the HTTP API spells it (snake_case, ISO times). */
export function statsRowJson(r: StatsRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.bucket !== undefined) out.bucket = r.bucket.toISOString();
  if (r.group !== undefined) out.group = r.group;
  if (r.tenantId !== undefined) out.tenant_id = r.tenantId;
  return Object.assign(out, {
    requests: r.requests,
    errors: r.errors,
    error_rate: r.errorRate,
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    cost_usd: r.costUsd,
    cost_per_request: r.costPerRequest,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
  });
}

/** Admins see every tenant (or the `tenant_id` they ask for); members see only their own key's requests. */
function scopedQuery(req: FastifyRequest): StatsQuery {
  const p = req.principal;
  const admin = p.role === 'admin';
  const q = parseStatsParams(req.query, { scopeTenantId: admin ? undefined : p.tenantId });
  if (!admin) {
    if (q.keyId !== undefined && q.keyId !== p.keyId) {
      throw new KeelError('permission_denied', 'A member key sees only its own requests', {
        param: 'key_id',
      });
    }
    q.keyId = p.keyId ?? undefined;
  }
  return q;
}

/**
 * `GET /v1/stats`: latency/TTFT percentiles, error rate, cost and tokens per time bucket and
 * optionally per app/model/user/key/tenant/status, from stored traces; plus the feedback ratio over
 * the range. `GET /v1/stats/overview` (admin): the dashboard's overview in one call.
 */
export function statsRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const m = deps.monitoring;
  if (!m) return;

  app.get('/v1/stats', async (req) => {
    const q = scopedQuery(req);
    const admin = req.principal.role === 'admin';
    const [stats, feedback] = await Promise.all([
      getStats(deps.db, q),
      admin ? feedbackByAppDay(deps.db, { from: q.from, to: q.to, tenantId: q.tenantId, app: q.app }) : null,
    ]);
    let up = 0;
    let down = 0;
    for (const r of feedback ?? []) {
      up += r.up;
      down += r.down;
    }
    return {
      object: 'stats',
      from: stats.from.toISOString(),
      to: stats.to.toISOString(),
      bucket_seconds: stats.bucketSeconds,
      group_by: stats.groupBy,
      data: stats.rows.map(statsRowJson),
      feedback: feedback === null ? null : { up, down, ratio: up + down > 0 ? up / (up + down) : null },
    };
  });

  app.get('/v1/stats/overview', { preHandler: requireAdmin }, async (req) => {
    const q = parseStatsParams(req.query);
    if (q.groupBy !== undefined) {
      throw new KeelError('invalid_request', 'the overview is not grouped; use GET /v1/stats', {
        param: 'group_by',
      });
    }
    const o = await getOverview(deps.db, {
      from: q.from,
      to: q.to,
      bucketSeconds: q.bucketSeconds ?? autoBucket(q.from, q.to),
      tenantId: q.tenantId,
      app: q.app,
    });
    return {
      object: 'stats.overview',
      from: o.from.toISOString(),
      to: o.to.toISOString(),
      bucket_seconds: o.bucketSeconds,
      totals: statsRowJson(o.totals),
      series: o.series.map(statsRowJson),
      cost_per_day: o.costPerDay.map((d) => ({ day: d.day, requests: d.requests, cost_usd: d.costUsd })),
      feedback: {
        up: o.feedback.up,
        down: o.feedback.down,
        ratio: o.feedback.ratio,
        per_day: o.feedback.perDay,
      },
    };
  });
}
