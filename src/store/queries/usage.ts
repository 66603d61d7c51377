import type { Queryable, SqlParam } from '../db.ts';
import { copyOrInsert, float } from './copy-or-insert.ts';

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
type Row = [
  string,
  Date,
  string,
  string | null,
  string,
  string | null,
  string,
  string | null,
  number,
  number,
  number | string,
  boolean,
  string,
  boolean,
];

function toRow(e: UsageEntry, now: Date): Row {
  return [
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
    float(e.costUsd),
    e.estimated ?? false,
    e.status,
    e.cacheHit ?? false,
  ];
}

// The rows travel as one JSON parameter: one cheap statement for any batch size, where a VALUES
// list of 14 parameters per row costs more to build, send and plan on both drivers.
const INSERT_SQL = `with ins as (
  insert into usage_ledger (${COLUMNS.join(',')})
  select r->>0, (r->>1)::timestamptz, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::integer,
    (r->>9)::integer, (r->>10)::double precision, (r->>11)::boolean, r->>12, (r->>13)::boolean
  from jsonb_array_elements($1::jsonb) as r
  on conflict (id) do nothing returning 1
) select count(*)::integer as n from ins`;

/**
 * Inserts entries as one statement (COPY on PGlite, see `copyOrInsert`). Entries whose id is already
 * in the ledger are skipped. Returns how many rows were new.
 */
export async function insertUsage(q: Queryable, entries: readonly UsageEntry[]): Promise<number> {
  const now = new Date();
  const rows = entries.map((e) => toRow(e, now));
  // Sorted so that two concurrent inserts sharing ids take their row locks in the same order
  // (different orders can deadlock on PostgreSQL).
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return copyOrInsert(q, 'usage_ledger', COLUMNS, rows, INSERT_SQL);
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
