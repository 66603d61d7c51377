import { z } from 'zod';
import { KeelError } from '../errors.ts';
import type { Queryable } from '../store/db.ts';
import { type FeedbackDayRow, feedbackByAppDay } from '../store/queries/feedback.ts';
import {
  bucketCount,
  emptyStats,
  type StatsFilter,
  type StatsGroupBy,
  type StatsQuery,
  type StatsRow,
  traceStats,
} from '../store/queries/stats.ts';
import { TimeParam } from './time-param.ts';

/**
 * The stats service behind `GET /v1/stats` and the dashboard overview: parses and bounds the
 * request, picks a bucket width, gap-fills time series so charts have a point per bucket, and puts
 * cost per day and the feedback ratio next to the latency series.
 */

export const BUCKETS = { minute: 60, hour: 3_600, day: 86_400 } as const;
export type BucketName = keyof typeof BUCKETS;

/**
 * Above this many requests in the range, the overview skips the whole-range percentiles by default:
 * sorting a million latencies costs about a second on PGlite, more than the rest of the overview.
 */
export const EXACT_TOTALS_MAX_REQUESTS = 250_000;

/** Most buckets one query may return (a month of minutes is 43,200). */
export const MAX_BUCKETS = 5_000;
const DEFAULT_RANGE_MS = 24 * 3_600_000;

const GROUPS = ['app', 'model', 'user', 'key', 'tenant', 'status'] as const satisfies readonly StatsGroupBy[];

/** Query-string parameters of `GET /v1/stats` (snake_case, as the HTTP API spells them). */
export const StatsParamsSchema = z
  .object({
    /** See `TimeParam`. Default: `to` minus 24 hours. */
    from: TimeParam.optional(),
    /** Exclusive. Default: now. */
    to: TimeParam.optional(),
    /** `auto` (default) picks minute up to 6 hours, hour up to 15 days, else day; `none` = totals only. */
    bucket: z.enum(['auto', 'none', 'minute', 'hour', 'day']).default('auto'),
    group_by: z.enum(GROUPS).optional(),
    app: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    key_id: z.string().min(1).optional(),
    user: z.string().optional(),
    status: z.string().min(1).optional(),
    tenant_id: z.string().min(1).optional(),
  })
  .strict();
export type StatsParams = z.input<typeof StatsParamsSchema>;

/**
 * Validates HTTP parameters into a bounded query. `scopeTenantId` (a non-admin caller's tenant)
 * overrides any `tenant_id` asked for. Throws `KeelError('invalid_request')` with the offending param.
 */
export function parseStatsParams(
  raw: unknown,
  opts: { now?: Date; scopeTenantId?: string | undefined } = {},
): StatsQuery {
  const parsed = StatsParamsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue?.path.join('.') || null;
    throw new KeelError(
      'invalid_request',
      `invalid stats parameter${param ? ` '${param}'` : ''}: ${issue?.message}`,
      {
        param,
      },
    );
  }
  const p = parsed.data;
  const to = p.to ?? opts.now ?? new Date();
  const from = p.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from.getTime() >= to.getTime()) {
    throw new KeelError('invalid_request', "'from' must be before 'to'", { param: 'from' });
  }
  const bucketSeconds =
    p.bucket === 'none' ? undefined : p.bucket === 'auto' ? autoBucket(from, to) : BUCKETS[p.bucket];
  if (bucketSeconds !== undefined && bucketCount(from, to, bucketSeconds) > MAX_BUCKETS) {
    throw new KeelError(
      'invalid_request',
      `the range holds more than ${MAX_BUCKETS} ${p.bucket} buckets; use a larger bucket or a shorter range`,
      { param: 'bucket' },
    );
  }
  const q: StatsQuery = { from, to, bucketSeconds, groupBy: p.group_by };
  q.tenantId = opts.scopeTenantId ?? p.tenant_id;
  q.app = p.app;
  q.model = p.model;
  q.keyId = p.key_id;
  q.userLabel = p.user;
  q.status = p.status;
  return q;
}

/** The coarsest useful bucket for a range: about 360 points at most for the default choices. */
export function autoBucket(from: Date, to: Date): number {
  const ms = to.getTime() - from.getTime();
  if (ms <= 6 * 3_600_000) return BUCKETS.minute;
  if (ms <= 15 * 86_400_000) return BUCKETS.hour;
  return BUCKETS.day;
}

export interface StatsResult {
  from: Date;
  to: Date;
  bucketSeconds: number | null;
  groupBy: StatsGroupBy | null;
  /** Bucketed and ungrouped: one row per bucket, empty buckets included (requests 0). */
  rows: StatsRow[];
}

export async function getStats(q: Queryable, query: StatsQuery): Promise<StatsResult> {
  const rows = await traceStats(q, query);
  return {
    from: query.from,
    to: query.to,
    bucketSeconds: query.bucketSeconds ?? null,
    groupBy: query.groupBy ?? null,
    rows:
      query.bucketSeconds !== undefined && query.groupBy === undefined
        ? fillBuckets(rows, query.from, query.to, query.bucketSeconds)
        : rows,
  };
}

export interface DayCost {
  day: string;
  requests: number;
  costUsd: number;
}

export interface FeedbackSummary {
  up: number;
  down: number;
  /** up / (up + down); null without feedback. */
  ratio: number | null;
  perDay: FeedbackDayRow[];
}

export interface Overview {
  from: Date;
  to: Date;
  bucketSeconds: number;
  /** Whole range. `latencyMs`/`ttftMs` are null when skipped (see `totalPercentiles`). */
  totals: StatsRow;
  /** One row per bucket, empty buckets included. */
  series: StatsRow[];
  /** Per UTC day, days without traffic included. */
  costPerDay: DayCost[];
  /** Over the same range; `perDay` per app and day. */
  feedback: FeedbackSummary;
}

export interface OverviewOptions {
  from: Date;
  to: Date;
  /** Default: `autoBucket(from, to)`. */
  bucketSeconds?: number | undefined;
  tenantId?: string | undefined;
  app?: string | undefined;
  /**
   * Whole-range latency/TTFT percentiles sort every trace of the range once more. `auto` (default)
   * computes them exactly up to `EXACT_TOTALS_MAX_REQUESTS` requests in the range and leaves them
   * null above (the per-bucket percentiles are always exact); true always, false never.
   */
  totalPercentiles?: boolean | 'auto' | undefined;
}

/**
 * The dashboard overview: requests, error rate, latency/TTFT p50/p95/p99 per bucket, cost per day
 * and the feedback ratio. Reads the covering stats index once per bucket (plus once more for the
 * whole-range percentiles) and never the wide trace rows.
 */
export async function getOverview(q: Queryable, opts: OverviewOptions): Promise<Overview> {
  const bucketSeconds = opts.bucketSeconds ?? autoBucket(opts.from, opts.to);
  if (bucketCount(opts.from, opts.to, bucketSeconds) > MAX_BUCKETS) {
    throw new KeelError('invalid_request', `the overview range holds more than ${MAX_BUCKETS} buckets`, {
      param: 'bucket',
    });
  }
  if (86_400 % bucketSeconds !== 0) {
    // Cost per day is folded from the buckets, so a bucket must not straddle two UTC days.
    throw new KeelError('invalid_request', `overview buckets must nest in UTC days, got ${bucketSeconds}s`, {
      param: 'bucket',
    });
  }
  const filter: StatsFilter = { from: opts.from, to: opts.to, tenantId: opts.tenantId, app: opts.app };
  const feedbackRows = feedbackByAppDay(q, {
    from: opts.from,
    to: opts.to,
    tenantId: opts.tenantId,
    app: opts.app,
  });
  // Awaited below; marked handled now so a failing stats query cannot leave it unhandled.
  feedbackRows.catch(() => undefined);
  const rows = await traceStats(q, { ...filter, bucketSeconds });
  const mode = opts.totalPercentiles ?? 'auto';
  const requests = rows.reduce((n, r) => n + r.requests, 0);
  const exact = mode === true || (mode === 'auto' && requests > 0 && requests <= EXACT_TOTALS_MAX_REQUESTS);
  const whole = exact ? await traceStats(q, filter) : undefined;
  const series = fillBuckets(rows, opts.from, opts.to, bucketSeconds);
  const totals = whole?.[0] ?? sumRows(rows);
  let up = 0;
  let down = 0;
  const perDay = await feedbackRows;
  for (const r of perDay) {
    up += r.up;
    down += r.down;
  }
  return {
    from: opts.from,
    to: opts.to,
    bucketSeconds,
    totals,
    series,
    costPerDay: costPerDay(rows, opts.from, opts.to),
    feedback: { up, down, ratio: up + down > 0 ? up / (up + down) : null, perDay },
  };
}

/** Cost per UTC day, folded from the bucket rows (which nest in days). */
function costPerDay(rows: StatsRow[], from: Date, to: Date): DayCost[] {
  const byDay = new Map<string, DayCost>();
  const first = Math.floor(from.getTime() / 86_400_000);
  const last = Math.floor((to.getTime() - 1) / 86_400_000);
  for (let d = first; d <= last; d++) {
    const day = new Date(d * 86_400_000).toISOString().slice(0, 10);
    byDay.set(day, { day, requests: 0, costUsd: 0 });
  }
  for (const r of rows) {
    const day = (r.bucket as Date).toISOString().slice(0, 10);
    const c = byDay.get(day);
    if (!c) continue;
    c.requests += r.requests;
    c.costUsd += r.costUsd;
  }
  return [...byDay.values()];
}

/** Adds an empty row for every bucket of [from, to) that has none. */
export function fillBuckets(rows: StatsRow[], from: Date, to: Date, bucketSeconds: number): StatsRow[] {
  const step = bucketSeconds * 1000;
  const byStart = new Map(rows.map((r) => [(r.bucket as Date).getTime(), r]));
  const out: StatsRow[] = [];
  const n = bucketCount(from, to, bucketSeconds);
  const first = Math.floor(from.getTime() / step) * step;
  for (let i = 0; i < n; i++) {
    const t = first + i * step;
    out.push(byStart.get(t) ?? { bucket: new Date(t), ...emptyStats() });
  }
  return out;
}

export { bucketCount };

/** Totals without percentiles, from bucket rows. */
function sumRows(rows: StatsRow[]): StatsRow {
  const t = emptyStats();
  for (const r of rows) {
    t.requests += r.requests;
    t.errors += r.errors;
    t.costUsd += r.costUsd;
    t.promptTokens += r.promptTokens;
    t.completionTokens += r.completionTokens;
  }
  t.errorRate = t.requests > 0 ? t.errors / t.requests : 0;
  t.costPerRequest = t.requests > 0 ? t.costUsd / t.requests : 0;
  return t;
}
