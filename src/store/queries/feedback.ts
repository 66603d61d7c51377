import type { Queryable, SqlParam } from '../db.ts';
import { newId } from '../ids.ts';

/** User feedback on a response: one rating per response (its trace id), replaced when rated again. */

export type Rating = 'up' | 'down';

export interface FeedbackInput {
  /** The response's id, which is its trace id. */
  traceId: string;
  tenantId: string;
  keyId?: string | null | undefined;
  userLabel?: string | undefined;
  /** The app that answered; looked up from the stored trace when omitted. */
  app?: string | null | undefined;
  rating: Rating;
  comment?: string | null | undefined;
}

export interface FeedbackRecord {
  id: string;
  traceId: string;
  tenantId: string;
  keyId: string | null;
  userLabel: string;
  app: string | null;
  rating: Rating;
  comment: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  id: string;
  trace_id: string;
  tenant_id: string;
  key_id: string | null;
  user_label: string;
  app: string | null;
  rating: Rating;
  comment: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, trace_id, tenant_id, key_id, user_label, app, rating, comment, created_at, updated_at';

const toRecord = (r: Row): FeedbackRecord => ({
  id: r.id,
  traceId: r.trace_id,
  tenantId: r.tenant_id,
  keyId: r.key_id,
  userLabel: r.user_label,
  app: r.app,
  rating: r.rating,
  comment: r.comment,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Records (or replaces) the rating of a response. Returns undefined, changing nothing, when the
 * response was already rated from another tenant: a tenant can never overwrite another's feedback.
 * The rating keeps its first `createdAt` (the day it counts for); the comment is replaced.
 */
export async function recordFeedback(q: Queryable, f: FeedbackInput): Promise<FeedbackRecord | undefined> {
  const rows = await q.query<Row>(
    `insert into feedback (id, trace_id, tenant_id, key_id, user_label, app, rating, comment, created_at, updated_at)
     values ($1, $2, $3, $4, $5, coalesce($6::text, (select t.app from traces t where t.id = $2)), $7, $8, $9, $9)
     on conflict (trace_id) do update set
       rating = excluded.rating,
       comment = excluded.comment,
       key_id = excluded.key_id,
       user_label = excluded.user_label,
       app = coalesce(excluded.app, feedback.app),
       updated_at = excluded.updated_at
     where feedback.tenant_id = excluded.tenant_id
     returning ${COLUMNS}`,
    [
      newId('fb'),
      f.traceId,
      f.tenantId,
      f.keyId ?? null,
      f.userLabel ?? '',
      f.app ?? null,
      f.rating,
      f.comment ?? null,
      // The time from here, not the database's now(): a JS Date holds milliseconds, and the list
      // cursor (createdAt, traceId) must compare equal to the stored value, not microseconds past it.
      new Date(),
    ],
  );
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function getFeedback(
  q: Queryable,
  traceId: string,
  tenantId?: string,
): Promise<FeedbackRecord | undefined> {
  const rows = await q.query<Row>(
    `select ${COLUMNS} from feedback where trace_id = $1 ${tenantId !== undefined ? 'and tenant_id = $2' : ''}`,
    tenantId !== undefined ? [traceId, tenantId] : [traceId],
  );
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** The feedback of each listed trace that has some (for trace lists and trace views). */
export async function feedbackForTraces(
  q: Queryable,
  traceIds: readonly string[],
): Promise<Map<string, FeedbackRecord>> {
  const out = new Map<string, FeedbackRecord>();
  if (traceIds.length === 0) return out;
  const rows = await q.query<Row>(
    `select ${COLUMNS} from feedback
     where trace_id in (select jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(traceIds)],
  );
  for (const r of rows) out.set(r.trace_id, toRecord(r));
  return out;
}

export interface FeedbackFilter {
  tenantId?: string | undefined;
  app?: string | undefined;
  /** Inclusive, on the time the response was first rated. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
}

export interface FeedbackDayRow {
  /** UTC day, 'YYYY-MM-DD'. */
  day: string;
  app: string | null;
  up: number;
  down: number;
  /** up / (up + down). */
  ratio: number;
}

/** Thumbs up/down per app and UTC day (by the day a response was first rated). */
export async function feedbackByAppDay(q: Queryable, f: FeedbackFilter = {}): Promise<FeedbackDayRow[]> {
  const { where, params } = whereClause(f);
  const rows = await q.query<{ day: string; app: string | null; up: number; down: number }>(
    `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, app,
       count(*) filter (where rating = 'up') as up, count(*) filter (where rating = 'down') as down
     from feedback ${where} group by day, app order by day, app nulls first`,
    params,
  );
  return rows.map((r) => ({ ...r, ratio: r.up / Math.max(1, r.up + r.down) }));
}

export interface ThumbsDown {
  traceId: string;
  tenantId: string;
  app: string | null;
  comment: string | null;
  createdAt: Date;
}

/**
 * Thumbs-down responses, newest first: the candidates for promotion into an eval dataset.
 * `after` pages on (createdAt, traceId) of the last item of the previous page.
 */
export async function listThumbsDown(
  q: Queryable,
  f: FeedbackFilter & { limit?: number; after?: { createdAt: Date; traceId: string } | undefined } = {},
): Promise<ThumbsDown[]> {
  const { where, params } = whereClause(f, ["rating = 'down'"]);
  let clause = where;
  if (f.after !== undefined) {
    params.push(f.after.createdAt, f.after.traceId);
    clause += ` and (created_at, trace_id) < ($${params.length - 1}, $${params.length})`;
  }
  const limit = Math.max(1, Math.min(10_000, Math.floor(f.limit ?? 100)));
  const rows = await q.query<Row>(
    `select ${COLUMNS} from feedback ${clause} order by created_at desc, trace_id desc limit ${limit}`,
    params,
  );
  return rows.map((r) => ({
    traceId: r.trace_id,
    tenantId: r.tenant_id,
    app: r.app,
    comment: r.comment,
    createdAt: r.created_at,
  }));
}

function whereClause(f: FeedbackFilter, base: string[] = []): { where: string; params: SqlParam[] } {
  const parts = [...base];
  const params: SqlParam[] = [];
  const add = (sql: string, v: SqlParam | undefined) => {
    if (v === undefined) return;
    params.push(v);
    parts.push(sql.replace('?', `$${params.length}`));
  };
  add('tenant_id = ?', f.tenantId);
  add('app = ?', f.app);
  add('created_at >= ?', f.from);
  add('created_at < ?', f.to);
  return { where: parts.length ? `where ${parts.join(' and ')}` : '', params };
}
