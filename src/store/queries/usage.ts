import type { Queryable, SqlParam } from '../db.ts';

/** One ledger row: what a request cost. `id` is the request id, so a retried write never double-charges. */
export interface UsageEntry {
  id: string;
  /** When the request finished; defaults to now. */
  ts?: Date | undefined;
  tenantId: string;
  keyId?: string | null | undefined;
  userLabel?: string | undefined;
  app?: string | null | undefined;
  model: string;
  provider?: string | null | undefined;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** True when token counts were estimated locally (the upstream reported no usage). */
  estimated?: boolean | undefined;
  /** 'ok', 'error', 'aborted', ... */
  status: string;
  cacheHit?: boolean | undefined;
}

const COLUMNS = [
  'id',
  'ts',
  'tenant_id',
  'key_id',
  'user_label',
  'app',
  'model',
  'provider',
  'prompt_tokens',
  'completion_tokens',
  'cost_usd',
  'estimated',
  'status',
  'cache_hit',
] as const;
// PostgreSQL allows 65535 parameters per statement.
const MAX_ROWS_PER_STATEMENT = Math.floor(65_535 / COLUMNS.length);

/**
 * Inserts entries as one multi-row statement (more only past the parameter limit). Entries whose id
 * is already in the ledger are skipped. Returns how many rows were new.
 */
export async function insertUsage(q: Queryable, entries: readonly UsageEntry[]): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < entries.length; i += MAX_ROWS_PER_STATEMENT) {
    inserted += await insertChunk(q, entries.slice(i, i + MAX_ROWS_PER_STATEMENT));
  }
  return inserted;
}

async function insertChunk(q: Queryable, entries: readonly UsageEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  const params: SqlParam[] = [];
  const tuples: string[] = [];
  const now = new Date();
  // Sorted so that two concurrent inserts sharing ids take their row locks in the same order
  // (different orders can deadlock on PostgreSQL).
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const e of sorted) {
    const base = params.length;
    params.push(
      e.id,
      e.ts ?? now,
      e.tenantId,
      e.keyId ?? null,
      e.userLabel ?? '',
      e.app ?? null,
      e.model,
      e.provider ?? null,
      e.promptTokens,
      e.completionTokens,
      e.costUsd,
      e.estimated ?? false,
      e.status,
      e.cacheHit ?? false,
    );
    tuples.push(`(${COLUMNS.map((_, j) => `$${base + j + 1}`).join(',')})`);
  }
  const rows = await q.query(
    `insert into usage_ledger (${COLUMNS.join(',')}) values ${tuples.join(',')}
     on conflict (id) do nothing returning id`,
    params,
  );
  return rows.length;
}

export interface UsageFilter {
  tenantId?: string | undefined;
  keyId?: string | undefined;
  userLabel?: string | undefined;
  app?: string | undefined;
  model?: string | undefined;
  status?: string | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
}

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

/** `user` groups by tenant and user label (labels are per tenant); rows then carry `tenantId`. */
export type UsageGroupBy = 'tenant' | 'key' | 'user' | 'app' | 'model' | 'provider' | 'status';

export interface UsageGroupTotals extends UsageTotals {
  group: string | null;
  tenantId?: string;
}

export interface UsageDayTotals extends UsageTotals {
  /** UTC day, 'YYYY-MM-DD'. */
  day: string;
  group?: string | null;
  tenantId?: string;
}

const GROUP_COLUMN: Record<UsageGroupBy, string> = {
  tenant: 'tenant_id',
  key: 'key_id',
  user: 'user_label',
  app: 'app',
  model: 'model',
  provider: 'provider',
  status: 'status',
};

const TOTALS = `count(*) as requests, coalesce(sum(prompt_tokens), 0) as prompt_tokens,
  coalesce(sum(completion_tokens), 0) as completion_tokens, coalesce(sum(cost_usd), 0) as cost_usd`;
const DAY = `to_char(ts at time zone 'UTC', 'YYYY-MM-DD')`;

interface TotalsRow {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  grp?: string | null;
  tenant?: string;
  day?: string;
}

const totals = (r: TotalsRow | undefined): UsageTotals => ({
  requests: r?.requests ?? 0,
  promptTokens: r?.prompt_tokens ?? 0,
  completionTokens: r?.completion_tokens ?? 0,
  costUsd: r?.cost_usd ?? 0,
});

export async function sumUsage(q: Queryable, filter: UsageFilter = {}): Promise<UsageTotals> {
  const { where, params } = whereClause(filter);
  const rows = await q.query<TotalsRow>(`select ${TOTALS} from usage_ledger ${where}`, params);
  return totals(rows[0]);
}

export async function usageByGroup(
  q: Queryable,
  groupBy: UsageGroupBy,
  filter: UsageFilter = {},
): Promise<UsageGroupTotals[]> {
  const { where, params } = whereClause(filter);
  const keys = groupKeys(groupBy);
  const rows = await q.query<TotalsRow>(
    `select ${keys.select}, ${TOTALS} from usage_ledger ${where} group by ${keys.group} order by cost_usd desc, ${keys.group}`,
    params,
  );
  return rows.map((r) => ({ group: r.grp ?? null, ...tenantOf(groupBy, r), ...totals(r) }));
}

/** Totals per UTC day in [from, to), optionally split by a group; days without usage are absent. */
export async function usageByDay(
  q: Queryable,
  opts: UsageFilter & { from: Date; to: Date; groupBy?: UsageGroupBy | undefined },
): Promise<UsageDayTotals[]> {
  const { where, params } = whereClause(opts);
  const keys = opts.groupBy ? groupKeys(opts.groupBy) : undefined;
  const rows = await q.query<TotalsRow>(
    `select ${DAY} as day${keys ? `, ${keys.select}` : ''}, ${TOTALS} from usage_ledger ${where}
     group by day${keys ? `, ${keys.group}` : ''} order by day${keys ? `, ${keys.group}` : ''}`,
    params,
  );
  return rows.map((r) => ({
    day: r.day ?? '',
    ...(opts.groupBy ? { group: r.grp ?? null, ...tenantOf(opts.groupBy, r) } : {}),
    ...totals(r),
  }));
}

function groupKeys(groupBy: UsageGroupBy): { select: string; group: string } {
  const col = GROUP_COLUMN[groupBy];
  return groupBy === 'user'
    ? { select: `${col} as grp, tenant_id as tenant`, group: 'tenant, grp' }
    : { select: `${col} as grp`, group: 'grp' };
}

const tenantOf = (groupBy: UsageGroupBy, r: TotalsRow): { tenantId?: string } =>
  groupBy === 'user' && r.tenant !== undefined ? { tenantId: r.tenant } : {};

function whereClause(f: UsageFilter): { where: string; params: SqlParam[] } {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  const add = (sql: string, value: SqlParam) => {
    params.push(value);
    parts.push(sql.replace('?', `$${params.length}`));
  };
  if (f.tenantId !== undefined) add('tenant_id = ?', f.tenantId);
  if (f.keyId !== undefined) add('key_id = ?', f.keyId);
  if (f.userLabel !== undefined) add('user_label = ?', f.userLabel);
  if (f.app !== undefined) add('app = ?', f.app);
  if (f.model !== undefined) add('model = ?', f.model);
  if (f.status !== undefined) add('status = ?', f.status);
  if (f.from !== undefined) add('ts >= ?', f.from);
  if (f.to !== undefined) add('ts < ?', f.to);
  return { where: parts.length ? `where ${parts.join(' and ')}` : '', params };
}
