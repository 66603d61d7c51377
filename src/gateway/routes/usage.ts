import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { getTenant } from '../../store/queries/tenants.ts';
import {
  sumUsage,
  type UsageFilter,
  type UsageGroupBy,
  type UsageTotals,
  usageByDay,
  usageByGroup,
} from '../../store/queries/usage.ts';
import { microsToUsd } from '../../telemetry/cost.ts';
import { TimeParam } from '../../telemetry/time-param.ts';
import { parseQuery } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const DAY_MS = 86_400_000;
const GROUPS = ['tenant', 'key', 'user', 'app', 'model', 'provider', 'status'] as const;

const QuerySchema = z.strictObject({
  from: TimeParam.optional(),
  to: TimeParam.optional(),
  /** `day`, a dimension, or `day,<dimension>`. */
  group_by: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const parts = (s ?? 'model')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const day = parts.includes('day');
      const dims = parts.filter((p) => p !== 'day');
      if (dims.length > 1 || dims.some((d) => !(GROUPS as readonly string[]).includes(d))) {
        ctx.addIssue({
          code: 'custom',
          message: `expected day, one of ${GROUPS.join('|')}, or day,<one of them>`,
        });
        return z.NEVER;
      }
      return { day, dim: dims[0] as UsageGroupBy | undefined };
    }),
  tenant: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  user: z.string().optional(),
  app: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
});

const totalsJson = (t: UsageTotals) => ({
  requests: t.requests,
  prompt_tokens: t.promptTokens,
  completion_tokens: t.completionTokens,
  cost_usd: t.costUsd,
});

/**
 * `GET /v1/usage`: spend and tokens from the usage ledger, by day and/or by tenant, key, user, app,
 * model, provider or status. Admins see everything (and filter by tenant, key, user, app, model);
 * a member key sees only its own requests, plus where its budgets stand.
 */
export function usageRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/v1/usage', async (req) => {
    const q = parseQuery(QuerySchema, req.query);
    const p = req.principal;
    const admin = p.role === 'admin';
    const now = Date.now();
    const to = q.to ?? new Date((Math.floor(now / DAY_MS) + 1) * DAY_MS);
    const from = q.from ?? new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1));
    if (from >= to) throw new KeelError('invalid_request', "'from' must be before 'to'", { param: 'from' });

    const filter: UsageFilter = { from, to, app: q.app, model: q.model, userLabel: q.user, keyId: q.key };
    if (admin) {
      if (q.tenant !== undefined) {
        const t = await getTenant(deps.db, q.tenant);
        if (!t) {
          const none = { requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
          return {
            object: 'usage',
            from: from.toISOString(),
            to: to.toISOString(),
            totals: totalsJson(none),
            data: [],
          };
        }
        filter.tenantId = t.id;
      }
    } else {
      if (q.key !== undefined && q.key !== p.keyId) {
        throw new KeelError('permission_denied', 'A member key sees only its own usage', { param: 'key' });
      }
      if (q.tenant !== undefined && q.tenant !== p.tenantName) {
        throw new KeelError('permission_denied', 'A member key sees only its own usage', { param: 'tenant' });
      }
      filter.tenantId = p.tenantId;
      filter.keyId = p.keyId ?? undefined;
    }

    const { day, dim } = q.group_by;
    const [totals, rows] = await Promise.all([
      sumUsage(deps.db, filter),
      day
        ? usageByDay(deps.db, { ...filter, from, to, groupBy: dim })
        : usageByGroup(deps.db, dim ?? 'model', filter),
    ]);
    const data = rows.map((r) => {
      const out: Record<string, unknown> = {};
      if ('day' in r) out.day = r.day;
      if (r.group !== undefined) out[dim ?? 'model'] = r.group;
      if (r.tenantId !== undefined) out.tenant_id = r.tenantId;
      return Object.assign(out, totalsJson(r));
    });
    const body: Record<string, unknown> = {
      object: 'usage',
      from: from.toISOString(),
      to: to.toISOString(),
      group_by: [...(day ? ['day'] : []), ...(dim ? [dim] : day ? [] : ['model'])],
      totals: totalsJson(totals),
      data,
    };
    if (!admin && deps.policy) body.budgets = await budgetsOf(deps, req);
    return body;
  });
}

/** Where the caller's own budgets (key, user, tenant) stand now, from the live counters. */
async function budgetsOf(deps: GatewayDeps, req: FastifyRequest): Promise<Record<string, unknown>[]> {
  const policy = deps.policy!;
  const rules = policy.book.resolve(req.principal, null).budgets;
  const states = await policy.budgetStates(rules);
  return rules.map((r, i) => ({
    scope: r.subject.scope,
    subject: r.subject.label,
    window: r.window,
    mode: r.soft ? 'soft' : 'hard',
    limit_usd: r.limitUsd,
    spent_usd: microsToUsd(states[i]?.spent ?? 0),
    reserved_usd: microsToUsd(states[i]?.reserved ?? 0),
  }));
}
