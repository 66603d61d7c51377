import type { Attributes, Span, Trace } from '../../telemetry/types.ts';
import type { Queryable, SqlParam } from '../db.ts';
import { copyOrInsert, float } from './copy-or-insert.ts';

/** A row of the traces table; the same shape the gateway hands to the telemetry sink. */
export type TraceRecord = Trace;
/** A trace without its spans and attributes, for lists. */
export type TraceSummary = Omit<TraceRecord, 'spans' | 'attributes'>;

const COLUMNS = [
  'id',
  'ts',
  'tenant_id',
  'key_id',
  'user_label',
  'app',
  'model',
  'status',
  'http_status',
  'error_code',
  'latency_ms',
  'ttft_ms',
  'prompt_tokens',
  'completion_tokens',
  'cost_usd',
  'stream',
  'spans',
  'attributes',
] as const;
const SUMMARY_COLUMNS = COLUMNS.filter((c) => c !== 'spans' && c !== 'attributes').join(', ');

interface Row {
  id: string;
  ts: Date;
  tenant_id: string | null;
  key_id: string | null;
  user_label: string | null;
  app: string | null;
  model: string | null;
  status: string;
  http_status: number | null;
  error_code: string | null;
  latency_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  stream: boolean;
  spans?: Span[];
  attributes?: Attributes;
}

function toRow(t: TraceRecord): SqlParam[] {
  return [
    t.id,
    t.ts,
    t.tenantId ?? null,
    t.keyId ?? null,
    t.userLabel ?? null,
    t.app ?? null,
    t.model ?? null,
    t.status,
    t.httpStatus ?? null,
    t.errorCode ?? null,
    float(t.latencyMs),
    float(t.ttftMs),
    t.promptTokens ?? null,
    t.completionTokens ?? null,
    float(t.costUsd),
    t.stream,
    t.spans,
    t.attributes ?? {},
  ];
}

// All rows as one JSON parameter, serialised once per batch (spans and attributes included), where
// a VALUES list needs 18 parameters and two JSON strings per row.
const INSERT_SQL = `with ins as (
  insert into traces (${COLUMNS.join(',')})
  select r->>0, (r->>1)::timestamptz, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::integer,
    r->>9, (r->>10)::double precision, (r->>11)::double precision, (r->>12)::integer, (r->>13)::integer,
    (r->>14)::double precision, (r->>15)::boolean, r->16, r->17
  from jsonb_array_elements($1::jsonb) as r
  on conflict (id) do nothing returning 1
) select count(*)::integer as n from ins`;

/** Inserts traces as one statement (COPY on PGlite, see `copyOrInsert`); a trace id already stored is skipped. */
export async function insertTraces(q: Queryable, traces: readonly TraceRecord[]): Promise<number> {
  return copyOrInsert(q, 'traces', COLUMNS, traces.map(toRow), INSERT_SQL);
}

export async function getTrace(q: Queryable, id: string): Promise<TraceRecord | undefined> {
  const rows = await q.query<Row>(`select ${COLUMNS.join(', ')} from traces where id = $1`, [id]);
  const r = rows[0];
  if (!r) return undefined;
  const t: TraceRecord = { ...toSummary(r), spans: r.spans ?? [] };
  if (r.attributes && Object.keys(r.attributes).length > 0) t.attributes = r.attributes;
  return t;
}

export interface TraceFilter {
  tenantId?: string | undefined;
  app?: string | undefined;
  status?: string | undefined;
  keyId?: string | undefined;
  userLabel?: string | undefined;
  model?: string | undefined;
  errorCode?: string | undefined;
  minLatencyMs?: number | undefined;
  maxLatencyMs?: number | undefined;
  minCostUsd?: number | undefined;
  /** The trace of this request: its id, or the `x-request-id` a client sent (attribute `request_id`). */
  requestId?: string | undefined;
  /** Only traces with (true) or without (false) guard findings (attribute `guard_findings`). */
  hasGuardFindings?: boolean | undefined;
  /** Only traces whose response was rated up/down, rated at all (`any`) or not rated (`none`). */
  feedback?: 'up' | 'down' | 'any' | 'none' | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
  /** Paging cursor: only traces listed after this one (the last trace of the previous page). */
  after?: { ts: Date; id: string } | undefined;
  limit: number;
}

/** Newest first. */
export async function listTraces(q: Queryable, filter: TraceFilter): Promise<TraceSummary[]> {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  const p = (v: SqlParam) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (filter.tenantId !== undefined) parts.push(`tenant_id = ${p(filter.tenantId)}`);
  if (filter.requestId !== undefined) {
    // Each arm matches an index: the primary key, and the partial index of client-chosen ids (migration 7).
    const r = p(filter.requestId);
    parts.push(`(id = ${r} or (attributes ->> 'request_id' = ${r} and attributes ->> 'request_id' <> id))`);
  }
  if (filter.app !== undefined) parts.push(`app = ${p(filter.app)}`);
  if (filter.status !== undefined) parts.push(`status = ${p(filter.status)}`);
  if (filter.keyId !== undefined) parts.push(`key_id = ${p(filter.keyId)}`);
  if (filter.userLabel !== undefined) parts.push(`user_label = ${p(filter.userLabel)}`);
  if (filter.model !== undefined) parts.push(`model = ${p(filter.model)}`);
  if (filter.errorCode !== undefined) parts.push(`error_code = ${p(filter.errorCode)}`);
  if (filter.minLatencyMs !== undefined) parts.push(`latency_ms >= ${p(filter.minLatencyMs)}`);
  if (filter.maxLatencyMs !== undefined) parts.push(`latency_ms <= ${p(filter.maxLatencyMs)}`);
  if (filter.minCostUsd !== undefined) parts.push(`cost_usd >= ${p(filter.minCostUsd)}`);
  if (filter.hasGuardFindings !== undefined) {
    parts.push(`${filter.hasGuardFindings ? '' : 'not '}(attributes ? 'guard_findings')`);
  }
  if (filter.feedback !== undefined) {
    // Rated traces are few: an IN list lets the planner start from feedback and fetch traces by id,
    // instead of walking traces newest-first looking for a rated one.
    if (filter.feedback === 'none') {
      parts.push('not exists (select 1 from feedback f where f.trace_id = traces.id)');
    } else if (filter.feedback === 'any') parts.push('id in (select trace_id from feedback)');
    else parts.push(`id in (select trace_id from feedback where rating = ${p(filter.feedback)})`);
  }
  if (filter.from !== undefined) parts.push(`ts >= ${p(filter.from)}`);
  if (filter.to !== undefined) parts.push(`ts < ${p(filter.to)}`);
  if (filter.after !== undefined) parts.push(`(ts, id) < (${p(filter.after.ts)}, ${p(filter.after.id)})`);
  const limit = Math.max(1, Math.min(1000, Math.floor(filter.limit)));
  const rows = await q.query<Row>(
    `select ${SUMMARY_COLUMNS} from traces ${parts.length ? `where ${parts.join(' and ')}` : ''}
     order by ts desc, id desc limit ${limit}`,
    params,
  );
  return rows.map(toSummary);
}

function toSummary(r: Row): TraceSummary {
  const t: TraceSummary = { id: r.id, ts: r.ts, status: r.status, latencyMs: r.latency_ms, stream: r.stream };
  if (r.tenant_id !== null) t.tenantId = r.tenant_id;
  if (r.key_id !== null) t.keyId = r.key_id;
  if (r.user_label !== null) t.userLabel = r.user_label;
  if (r.app !== null) t.app = r.app;
  if (r.model !== null) t.model = r.model;
  if (r.http_status !== null) t.httpStatus = r.http_status;
  if (r.error_code !== null) t.errorCode = r.error_code;
  if (r.ttft_ms !== null) t.ttftMs = r.ttft_ms;
  if (r.prompt_tokens !== null) t.promptTokens = r.prompt_tokens;
  if (r.completion_tokens !== null) t.completionTokens = r.completion_tokens;
  if (r.cost_usd !== null) t.costUsd = r.cost_usd;
  return t;
}

/**
 * The trace whose response carried `responseId` (a pass-through answers with the upstream's own
 * id, kept as trace attribute `response_id`); its id, tenant and key.
 */
export async function findTraceByResponseId(
  q: Queryable,
  responseId: string,
): Promise<{ id: string; tenantId: string | null; keyId: string | null; app: string | null } | undefined> {
  const rows = await q.query<{
    id: string;
    tenant_id: string | null;
    key_id: string | null;
    app: string | null;
  }>(
    `select id, tenant_id, key_id, app from traces where attributes->>'response_id' = $1 order by ts desc limit 1`,
    [responseId],
  );
  const r = rows[0];
  return r ? { id: r.id, tenantId: r.tenant_id, keyId: r.key_id, app: r.app } : undefined;
}
