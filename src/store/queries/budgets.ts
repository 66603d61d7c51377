import type { z } from 'zod';
import type { BudgetSchema, LimitsSchema, RequestCapSchema } from '../../config/schema.ts';
import type { Queryable } from '../db.ts';

/** Whose policy: a key (id), a user (`<tenant id>:<label>`), a tenant (id) or an app (name). */
export type PolicyScope = 'key' | 'user' | 'tenant' | 'app';

/**
 * A policy stored through the admin API. An absent field inherits the config's value for the
 * subject; `null` means explicitly none (e.g. a key exempt from the default key budget).
 */
export interface StoredPolicyBody {
  limits?: z.infer<typeof LimitsSchema> | null;
  budget?: z.infer<typeof BudgetSchema> | null;
  requestCap?: z.infer<typeof RequestCapSchema> | null;
  /** Keys and tenants: data residency. */
  regions?: string[] | null;
  /** Tenants: apps and models its keys may use. */
  allowedModels?: string[] | null;
}

export interface StoredPolicy {
  scope: PolicyScope;
  subject: string;
  policy: StoredPolicyBody;
  updatedAt: Date;
}

interface Row {
  scope: PolicyScope;
  subject: string;
  policy: StoredPolicyBody | string;
  updated_at: Date;
}

const toPolicy = (r: Row): StoredPolicy => ({
  scope: r.scope,
  subject: r.subject,
  policy: typeof r.policy === 'string' ? (JSON.parse(r.policy) as StoredPolicyBody) : r.policy,
  updatedAt: r.updated_at,
});

/** Every stored policy (replicas load them all: there are few, and lookups must not touch the DB). */
export async function listPolicies(q: Queryable): Promise<StoredPolicy[]> {
  const rows = await q.query<Row>(
    'select scope, subject, policy, updated_at from policies order by scope, subject',
  );
  return rows.map(toPolicy);
}

export async function getPolicy(
  q: Queryable,
  scope: PolicyScope,
  subject: string,
): Promise<StoredPolicy | undefined> {
  const rows = await q.query<Row>(
    'select scope, subject, policy, updated_at from policies where scope = $1 and subject = $2',
    [scope, subject],
  );
  return rows[0] && toPolicy(rows[0]);
}

/** Creates or replaces the subject's stored policy. */
export async function putPolicy(
  q: Queryable,
  scope: PolicyScope,
  subject: string,
  policy: StoredPolicyBody,
): Promise<StoredPolicy> {
  const rows = await q.query<Row>(
    `insert into policies (scope, subject, policy) values ($1, $2, $3::jsonb)
     on conflict (scope, subject) do update set policy = excluded.policy, updated_at = now()
     returning scope, subject, policy, updated_at`,
    [scope, subject, JSON.stringify(policy)],
  );
  if (!rows[0]) throw new Error(`policy ${scope}/${subject} missing right after upsert`);
  return toPolicy(rows[0]);
}

/** True when there was a stored policy to delete. */
export async function deletePolicy(q: Queryable, scope: PolicyScope, subject: string): Promise<boolean> {
  const rows = await q.query('delete from policies where scope = $1 and subject = $2 returning scope', [
    scope,
    subject,
  ]);
  return rows.length > 0;
}

/** Whose ledger rows a budget counter sums. */
export type SpendSubject =
  | { scope: 'key'; keyId: string }
  | { scope: 'user'; tenantId: string; userLabel: string }
  | { scope: 'tenant'; tenantId: string }
  | { scope: 'app'; app: string };

/**
 * USD spent by `subject` in [from, to) according to the ledger: what a budget counter is rebuilt
 * from when it is missing (a fresh in-process backend, a flushed Redis).
 */
export async function ledgerSpend(
  q: Queryable,
  subject: SpendSubject,
  from: Date,
  to: Date,
): Promise<number> {
  let where: string;
  let params: (string | Date)[];
  switch (subject.scope) {
    case 'key':
      where = 'key_id = $1';
      params = [subject.keyId];
      break;
    case 'user':
      where = 'tenant_id = $1 and user_label = $2';
      params = [subject.tenantId, subject.userLabel];
      break;
    case 'tenant':
      where = 'tenant_id = $1';
      params = [subject.tenantId];
      break;
    case 'app':
      where = 'app = $1';
      params = [subject.app];
      break;
  }
  const n = params.length;
  const rows = await q.query<{ cost: number | null }>(
    `select sum(cost_usd) as cost from usage_ledger where ${where} and ts >= $${n + 1} and ts < $${n + 2}`,
    [...params, from, to],
  );
  return Number(rows[0]?.cost ?? 0);
}
