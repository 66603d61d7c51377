import type { Queryable, SqlParam } from '../db.ts';

/**
 * Aggregates over stored traces for `GET /v1/stats` and the dashboard: request counts, error rate,
 * latency and TTFT percentiles (`percentile_cont`: exact, the same on both engines), cost and tokens,
 * per time bucket and optionally per app/model/user/key. Every query is bounded by a time range and
 * reads the covering index `traces_ts_stats` (migration 002) rather than the wide trace rows.
 */

/** `user` groups by tenant and user label (labels are per tenant); rows then carry `tenantId`. */
export type StatsGroupBy = 'app' | 'model' | 'user' | 'key' | 'tenant' | 'status';

export interface StatsFilter {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  tenantId?: string | undefined;
  app?: string | undefined;
  model?: string | undefined;
  keyId?: string | undefined;
  userLabel?: string | undefined;
  status?: string | undefined;
}

export interface StatsQuery extends StatsFilter {
  /**
   * Bucket width in seconds (a whole number of minutes). Buckets are aligned to the Unix epoch, so
   * minute, hour and day buckets are UTC minutes, hours and days. Omitted: one row per group.
   */
  bucketSeconds?: number | undefined;
  groupBy?: StatsGroupBy | undefined;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface StatsRow {
  /** Start of the bucket, when bucketed. */
  bucket?: Date;
  /** The group's value (null when the trace had none), when grouped. */
  group?: string | null;
  tenantId?: string;
  requests: number;
  /** Requests with status `error` (client aborts are not errors). */
  errors: number;
  errorRate: number;
  /** Null only for an empty row (a gap-filled bucket). */
  latencyMs: (Percentiles & { mean: number }) | null;
  /** Over streamed requests only; null when the row had none. */
  ttftMs: Percentiles | null;
  costUsd: number;
  /** Mean cost over all requests in the row (0 when empty). */
  costPerRequest: number;
  promptTokens: number;
  completionTokens: number;
}

const GROUP_COLUMN: Record<Exclude<StatsGroupBy, 'user'>, string> = {
  app: 'app',
  model: 'model',
  key: 'key_id',
  tenant: 'tenant_id',
  status: 'status',
};

const EPOCH = `timestamptz '1970-01-01T00:00:00Z'`;

const COUNTS = `count(*) as requests,
  count(*) filter (where status = 'error') as errors,
  coalesce(sum(cost_usd), 0) as cost,
  coalesce(sum(prompt_tokens), 0) as prompt_tokens,
  coalesce(sum(completion_tokens), 0) as completion_tokens`;
// The array form computes the three percentiles from one sort of the group.
const PERCENTILES = `percentile_cont(array[0.5, 0.95, 0.99]) within group (order by latency_ms) as lat,
  avg(latency_ms) as lat_mean,
  percentile_cont(array[0.5, 0.95, 0.99]) within group (order by ttft_ms) as ttft`;

interface Row {
  bucket?: Date | null;
  grp?: string | null;
  tenant?: string | null;
  requests: number;
  errors: number;
  lat?: number[] | null;
  lat_mean?: number | null;
  ttft?: number[] | null;
  cost: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export async function traceStats(q: Queryable, query: StatsQuery): Promise<StatsRow[]> {
  return aggregate(q, query, true);
}

/** Counts, errors, cost and tokens only: no sort, so cheap on any range. */
export async function traceCounts(q: Queryable, query: StatsQuery): Promise<StatsRow[]> {
  return aggregate(q, query, false);
}

async function aggregate(q: Queryable, query: StatsQuery, withPercentiles: boolean): Promise<StatsRow[]> {
  const { where, params } = whereClause(query);
  const keys: string[] = [];
  const select: string[] = [];
  if (query.groupBy === 'user') {
    select.push('tenant_id as tenant', 'user_label as grp');
    keys.push('tenant', 'grp');
  } else if (query.groupBy !== undefined) {
    select.push(`${GROUP_COLUMN[query.groupBy]} as grp`);
    keys.push('grp');
  }
  select.push(COUNTS);
  if (withPercentiles) select.push(PERCENTILES);
  const groupBy = keys.length ? `group by ${keys.join(', ')}` : '';
  if (query.bucketSeconds === undefined) {
    const rows = await q.query<Row>(
      `select ${select.join(', ')} from traces where ts >= $1 and ts < $2 ${where} ${groupBy}
       ${keys.length ? `order by ${keys.join(', ')}` : ''}`,
      params,
    );
    // An ungrouped aggregate over no rows still returns one row (count 0); report no rows instead.
    return rows.filter((r) => r.requests > 0).map((r) => toStats(r, query));
  }
  // One index range scan and one small in-memory aggregate per bucket. A single GROUP BY over the
  // range would first sort every row of the range by bucket (spilling to disk at a million rows):
  // the planner cannot see that the bucket follows the index order of `ts`.
  const width = intervalLiteral(query.bucketSeconds);
  // Bucket starts from an integer series with a known length: the planner then estimates the
  // real number of buckets (a timestamp series is guessed at 1000 rows, which on PostgreSQL
  // triggers JIT compilation costing more than the query itself).
  const all = [...params, bucketCount(query.from, query.to, query.bucketSeconds)];
  const rows = await q.query<Row>(
    `select b.bucket, s.* from (
       select date_bin(${width}, $1::timestamptz, ${EPOCH}) + i * ${width} as bucket
       from generate_series(0, $${all.length}::int - 1) as i
     ) as b
     cross join lateral (
       select ${select.join(', ')} from traces
       where ts >= greatest(b.bucket, $1::timestamptz) and ts < least(b.bucket + ${width}, $2::timestamptz)
         ${where}
       ${groupBy}
     ) as s
     where s.requests > 0
     order by b.bucket${keys.map((k) => `, s.${k}`).join('')}`,
    all,
  );
  return rows.map((r) => toStats(r, query));
}

export interface CostDayRow {
  /** UTC day, 'YYYY-MM-DD'. */
  day: string;
  group?: string | null;
  tenantId?: string;
  requests: number;
  costUsd: number;
}

/** Cost and request count per UTC day from traces, optionally per group; days without traffic are absent. */
export async function traceCostByDay(
  q: Queryable,
  query: StatsFilter & { groupBy?: StatsGroupBy | undefined },
): Promise<CostDayRow[]> {
  const rows = await traceCounts(q, { ...query, bucketSeconds: 86_400 });
  return rows.map((r) => {
    const out: CostDayRow = {
      day: (r.bucket as Date).toISOString().slice(0, 10),
      requests: r.requests,
      costUsd: r.costUsd,
    };
    if (r.group !== undefined) out.group = r.group;
    if (r.tenantId !== undefined) out.tenantId = r.tenantId;
    return out;
  });
}

/**
 * Retention: deletes traces that started before `cutoff`, `batchSize` rows per statement so that no
 * single statement holds locks (or PGlite's one connection) for long. Returns how many were deleted.
 */
export async function deleteTracesOlderThan(
  q: Queryable,
  cutoff: Date,
  opts: { batchSize?: number; maxBatches?: number } = {},
): Promise<number> {
  const batch = Math.max(1, Math.floor(opts.batchSize ?? 5_000));
  const maxBatches = Math.max(1, Math.floor(opts.maxBatches ?? 100_000));
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const rows = await q.query<{ n: number }>(
      `with gone as (
         delete from traces where id in (select id from traces where ts < $1 limit ${batch}) returning 1
       ) select count(*) as n from gone`,
      [cutoff],
    );
    const n = rows[0]?.n ?? 0;
    deleted += n;
    if (n < batch) break;
  }
  return deleted;
}

/**
 * Reclaims the space of deleted traces and marks the table's pages all-visible, which is what lets
 * the stats queries stay index-only. PostgreSQL's autovacuum does this on its own; PGlite has no
 * autovacuum, so an embedded server should call this after retention and every few hours.
 * Cannot run inside a transaction.
 */
export async function vacuumTraces(q: Queryable): Promise<void> {
  await q.exec('vacuum (analyze) traces');
}

/** Number of epoch-aligned buckets of `bucketSeconds` that [from, to) touches. */
export function bucketCount(from: Date, to: Date, bucketSeconds: number): number {
  const step = bucketSeconds * 1000;
  return Math.max(0, Math.floor((to.getTime() - 1) / step) - Math.floor(from.getTime() / step) + 1);
}

/** An interval literal for a bucket width; inlined because it is a validated integer. */
function intervalLiteral(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 60 || seconds % 60 !== 0) {
    throw new RangeError(`bucket must be a whole number of minutes, got ${seconds}s`);
  }
  return `interval '${seconds} seconds'`;
}

function toStats(r: Row, query: Pick<StatsQuery, 'bucketSeconds' | 'groupBy'>): StatsRow {
  // Keys in reading order: bucket and group first.
  const out: Partial<StatsRow> = {};
  if (query.bucketSeconds !== undefined && r.bucket) out.bucket = new Date(r.bucket);
  if (query.groupBy !== undefined) out.group = r.grp ?? null;
  if (query.groupBy === 'user' && r.tenant != null) out.tenantId = r.tenant;
  return Object.assign(out, {
    requests: r.requests,
    errors: r.errors,
    errorRate: r.requests > 0 ? r.errors / r.requests : 0,
    latencyMs: r.lat ? { ...percentiles(r.lat), mean: r.lat_mean ?? 0 } : null,
    ttftMs: r.ttft && r.ttft[0] != null ? percentiles(r.ttft) : null,
    costUsd: r.cost,
    costPerRequest: r.requests > 0 ? r.cost / r.requests : 0,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
  });
}

const percentiles = (v: number[]): Percentiles => ({ p50: v[0] ?? 0, p95: v[1] ?? 0, p99: v[2] ?? 0 });

export function emptyStats(): StatsRow {
  return {
    requests: 0,
    errors: 0,
    errorRate: 0,
    latencyMs: null,
    ttftMs: null,
    costUsd: 0,
    costPerRequest: 0,
    promptTokens: 0,
    completionTokens: 0,
  };
}

/** Filters beyond the time range (which is always `$1`/`$2`), as `and ...` clauses. */
function whereClause(f: StatsFilter): { where: string; params: SqlParam[] } {
  if (
    !(f.from instanceof Date) ||
    !(f.to instanceof Date) ||
    Number.isNaN(f.from.getTime() + f.to.getTime())
  ) {
    throw new RangeError('stats need a valid from/to time range');
  }
  const params: SqlParam[] = [f.from, f.to];
  let where = '';
  const add = (col: string, value: string | undefined) => {
    if (value === undefined) return;
    params.push(value);
    where += ` and ${col} = $${params.length}`;
  };
  add('tenant_id', f.tenantId);
  add('app', f.app);
  add('model', f.model);
  add('key_id', f.keyId);
  add('user_label', f.userLabel);
  add('status', f.status);
  return { where, params };
}
