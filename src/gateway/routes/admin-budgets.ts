import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { resolveApp } from '../../ai/apps.ts';
import { KeelError } from '../../errors.ts';
import {
  deletePolicy,
  type PolicyScope,
  putPolicy,
  type StoredPolicyBody,
} from '../../store/queries/budgets.ts';
import { getKey } from '../../store/queries/keys.ts';
import { getTenant, getTenantById } from '../../store/queries/tenants.ts';
import { microsToUsd } from '../../telemetry/cost.ts';
import { type Principal, requireAdmin } from '../auth.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const LimitsBody = z.strictObject({
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  concurrency: z.number().int().positive().optional(),
});
const BudgetBody = z.strictObject({
  daily_usd: z.number().positive().optional(),
  monthly_usd: z.number().positive().optional(),
  mode: z.enum(['hard', 'soft']).optional(),
  webhook: z.url().optional(),
});
const CapBody = z.strictObject({
  max_usd: z.number().positive(),
  mode: z.enum(['reject', 'clamp']).optional(),
});

/** Omitted fields inherit the config's; `null` clears them for this subject. */
export const PolicyBodySchema = z.strictObject({
  limits: LimitsBody.nullable().optional(),
  budget: BudgetBody.nullable().optional(),
  request_cap: CapBody.nullable().optional(),
  regions: z.array(z.string().min(1)).min(1).nullable().optional(),
  allowed_models: z.array(z.string().min(1)).nullable().optional(),
});
type PolicyBody = z.infer<typeof PolicyBodySchema>;

interface Target {
  scope: PolicyScope;
  subject: string;
  /** A principal the subject's rules resolve for (see `PolicyBook.resolve`). */
  principal: Principal;
  app: string | null;
}

function toStored(b: PolicyBody, scope: PolicyScope): StoredPolicyBody {
  const out: StoredPolicyBody = {};
  if (b.limits !== undefined) out.limits = b.limits;
  if (b.budget !== undefined) {
    out.budget =
      b.budget === null
        ? null
        : {
            mode: b.budget.mode ?? 'hard',
            ...(b.budget.daily_usd === undefined ? {} : { dailyUsd: b.budget.daily_usd }),
            ...(b.budget.monthly_usd === undefined ? {} : { monthlyUsd: b.budget.monthly_usd }),
            ...(b.budget.webhook === undefined ? {} : { webhook: b.budget.webhook }),
          };
  }
  if (b.request_cap !== undefined) {
    out.requestCap =
      b.request_cap === null ? null : { maxUsd: b.request_cap.max_usd, mode: b.request_cap.mode ?? 'reject' };
  }
  if (b.regions !== undefined) {
    if (scope !== 'key' && scope !== 'tenant')
      throw new KeelError('invalid_request', 'Only keys and tenants can be pinned to regions', {
        param: 'regions',
      });
    out.regions = b.regions;
  }
  if (b.allowed_models !== undefined) {
    if (scope !== 'tenant') {
      throw new KeelError(
        'invalid_request',
        'allowed_models here is per tenant; a key has its own (POST /v1/admin/keys)',
        { param: 'allowed_models' },
      );
    }
    out.allowedModels = b.allowed_models;
  }
  return out;
}

function toJson(p: StoredPolicyBody): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.limits !== undefined) out.limits = p.limits;
  if (p.budget !== undefined) {
    out.budget = p.budget && {
      daily_usd: p.budget.dailyUsd ?? null,
      monthly_usd: p.budget.monthlyUsd ?? null,
      mode: p.budget.mode,
      webhook: p.budget.webhook ?? null,
    };
  }
  if (p.requestCap !== undefined)
    out.request_cap = p.requestCap && { max_usd: p.requestCap.maxUsd, mode: p.requestCap.mode };
  if (p.regions !== undefined) out.regions = p.regions;
  if (p.allowedModels !== undefined) out.allowed_models = p.allowedModels;
  return out;
}

const principalOf = (
  tenantId: string,
  tenantName: string,
  keyId: string | null,
  userLabel: string,
): Principal => ({
  keyId,
  tenantId,
  tenantName,
  userLabel,
  role: 'member',
  allowedModels: null,
});

/** What applies to the subject now (config and stored, merged) and where its budgets stand. */
async function view(policy: PolicyEngine, t: Target): Promise<Record<string, unknown>> {
  const r = policy.book.resolve(t.principal, t.app);
  const mine = <T extends { subject: { scope: PolicyScope } }>(xs: T[]) =>
    xs.filter((x) => x.subject.scope === t.scope);
  const budgets = mine(r.budgets);
  const states = await policy.budgetStates(budgets);
  const stored = policy.book.stored(t.scope, t.subject);
  return {
    object: 'budget_policy',
    scope: t.scope,
    subject: t.subject,
    stored: stored ? toJson(stored) : null,
    effective: {
      rpm: mine(r.rpm)[0]?.rule.limit ?? null,
      tpm: mine(r.tpm)[0]?.rule.limit ?? null,
      concurrency: mine(r.slots)[0]?.max ?? null,
      budgets: budgets.map((b, i) => ({
        window: b.window,
        mode: b.soft ? 'soft' : 'hard',
        limit_usd: b.limitUsd,
        spent_usd: microsToUsd(states[i]?.spent ?? 0),
        reserved_usd: microsToUsd(states[i]?.reserved ?? 0),
      })),
    },
  };
}

/**
 * `/v1/admin/budgets/...` (admin): limits, budgets, per-request caps, region pins and tenant
 * allow-lists per key, user, tenant or app, stored in the database on top of the config's. GET
 * shows what applies and where the budgets stand; PUT replaces the stored policy; DELETE removes
 * it (back to config). Changes apply at once on this replica, within `policy.refreshMs` on others.
 */
export function adminBudgetRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const policy = deps.policy;
  if (!policy) return;
  const opts = { preHandler: requireAdmin };

  const target = async (scope: string, a: string, b?: string): Promise<Target> => {
    if ((scope === 'users') !== (b !== undefined)) {
      throw new KeelError(
        'not_found',
        'Expected /v1/admin/budgets/{keys|tenants|apps}/<name> or /v1/admin/budgets/users/<tenant>/<user>',
      );
    }
    switch (scope) {
      case 'keys': {
        const k = await getKey(deps.db, a);
        if (!k) throw new KeelError('not_found', `No API key with id '${a}'`);
        return {
          scope: 'key',
          subject: k.id,
          principal: principalOf(k.tenantId, k.tenantName, k.id, ''),
          app: null,
        };
      }
      case 'tenants': {
        const t = await getTenant(deps.db, a);
        if (!t) throw new KeelError('not_found', `No tenant named '${a}'`);
        return { scope: 'tenant', subject: t.id, principal: principalOf(t.id, t.name, null, ''), app: null };
      }
      case 'users': {
        const t = await getTenant(deps.db, a);
        if (!t) throw new KeelError('not_found', `No tenant named '${a}'`);
        return {
          scope: 'user',
          subject: `${t.id}:${b}`,
          principal: principalOf(t.id, t.name, null, b ?? ''),
          app: null,
        };
      }
      case 'apps':
        if (!resolveApp(deps.config, a)) throw new KeelError('not_found', `No app named '${a}'`);
        return { scope: 'app', subject: a, principal: principalOf('', '', null, ''), app: a };
      default:
        throw new KeelError(
          'not_found',
          `Unknown budget scope '${scope}' (expected keys, users, tenants or apps)`,
        );
    }
  };

  app.get('/v1/admin/budgets', opts, async () => {
    const data: Record<string, unknown>[] = [];
    for (const s of policy.book.subjects()) {
      let t: Target | undefined;
      if (s.scope === 'key') {
        const k = await getKey(deps.db, s.subject);
        if (k)
          t = {
            scope: 'key',
            subject: k.id,
            principal: principalOf(k.tenantId, k.tenantName, k.id, ''),
            app: null,
          };
      } else if (s.scope === 'app') {
        t = { scope: 'app', subject: s.subject, principal: principalOf('', '', null, ''), app: s.subject };
      } else {
        const id = s.scope === 'user' ? s.subject.slice(0, s.subject.indexOf(':')) : s.subject;
        const tenant = await getTenantById(deps.db, id);
        const label = s.scope === 'user' ? s.subject.slice(s.subject.indexOf(':') + 1) : '';
        if (tenant)
          t = {
            scope: s.scope,
            subject: s.subject,
            principal: principalOf(tenant.id, tenant.name, null, label),
            app: null,
          };
      }
      if (t) data.push(await view(policy, t));
    }
    return { object: 'list', data };
  });

  type P = { scope: string; a: string; b?: string };
  for (const path of ['/v1/admin/budgets/:scope/:a', '/v1/admin/budgets/:scope/:a/:b']) {
    app.get<{ Params: P }>(path, opts, async (req) => {
      const { scope, a, b } = req.params;
      return view(policy, await target(scope, a, b));
    });
    app.put<{ Params: P }>(path, opts, async (req) => {
      const { scope, a, b } = req.params;
      const t = await target(scope, a, b);
      const body = toStored(parseBody(PolicyBodySchema, req.body), t.scope);
      const saved = await putPolicy(deps.db, t.scope, t.subject, body);
      policy.book.set(t.scope, t.subject, saved.policy);
      return view(policy, t);
    });
    app.delete<{ Params: P }>(path, opts, async (req) => {
      const { scope, a, b } = req.params;
      const t = await target(scope, a, b);
      if (!(await deletePolicy(deps.db, t.scope, t.subject))) {
        throw new KeelError('not_found', `No stored policy for ${t.scope} '${t.subject}'`);
      }
      policy.book.set(t.scope, t.subject, undefined);
      return { ...(await view(policy, t)), deleted: true };
    });
  }
}
