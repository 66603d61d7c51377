import type { Db } from '../../src/store/db.ts';
import { listTraces } from '../../src/store/queries/traces.ts';
import { getOverview } from '../../src/telemetry/stats.ts';
import { type BenchStore, log, timeIt } from './common.ts';

/**
 * The dashboard's queries over a million stored traces: rows generated in SQL with
 * `generate_series` (spread over 30 days, 4 apps, 3 models, 2% errors, half streamed, 1% rated),
 * then the overview (`getOverview`, what `GET /v1/stats/overview` runs) over 24 hours, 7 days and
 * the whole 30 days, and the trace list's first page with and without filters.
 */

const DAY = 86_400_000;
const SPANS = JSON.stringify([
  { name: 'auth', startMs: 0.02, durationMs: 0.01 },
  { name: 'input_guards', startMs: 0.4, durationMs: 0.9, attributes: { findings: 0 } },
  { name: 'retrieve', startMs: 1.4, durationMs: 12.5, attributes: { hits: 6, collections: 'default' } },
  { name: 'prompt', startMs: 14, durationMs: 0.3, attributes: { sources: 5 } },
  {
    name: 'provider',
    startMs: 14.4,
    durationMs: 420,
    attributes: { provider: 'openai', model: 'gpt-4o-mini' },
  },
]);

/** Inserts `total` traces ending at `now`, in statements of `batch` rows. */
export async function generateTraces(db: Db, total: number, now: Date, batch = 100_000): Promise<number> {
  const t0 = performance.now();
  await db.query('select setseed(0.42)');
  const stepMs = (30 * DAY) / total;
  for (let start = 0; start < total; start += batch) {
    const end = Math.min(total, start + batch);
    await db.query(
      `insert into traces (id, ts, tenant_id, key_id, user_label, app, model, status, http_status, error_code,
         latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd, stream, spans, attributes)
       select 'req_bench' || lpad(i::text, 17, '0'),
         $1::timestamptz - (i * $2::float8) * interval '1 millisecond',
         'ten_default',
         'key_' || (i % 50),
         'user' || (i % 500),
         (array['support', 'search', 'default', 'agent'])[1 + i % 4],
         (array['gpt-4o-mini', 'claude-3-5-haiku', 'extractive'])[1 + i % 3],
         case when i % 50 = 0 then 'error' when i % 199 = 0 then 'aborted' else 'ok' end,
         case when i % 50 = 0 then 502 when i % 199 = 0 then 499 else 200 end,
         case when i % 50 = 0 then 'upstream_5xx' end,
         30 + 400 * -ln(1 - random()),
         case when i % 2 = 0 then 10 + 120 * -ln(1 - random()) end,
         200 + (random() * 800)::int,
         20 + (random() * 300)::int,
         (random() * 0.002)::float8,
         i % 2 = 0,
         $3::jsonb,
         jsonb_build_object('request_id', md5(i::text))
       from generate_series($4::int, $5::int) as i`,
      [now, stepMs, SPANS, start, end - 1],
    );
    log(`  ${end.toLocaleString()} traces`);
  }
  // 1% of responses rated, a quarter of them thumbs-down.
  await db.query(
    `insert into feedback (id, trace_id, tenant_id, app, rating, created_at)
     select 'fb_bench' || i, 'req_bench' || lpad(i::text, 17, '0'), 'ten_default',
       (array['support', 'search', 'default', 'agent'])[1 + i % 4],
       case when i % 400 = 0 then 'down' else 'up' end,
       $1::timestamptz - (i * $2::float8) * interval '1 millisecond'
     from generate_series(0, $3::int - 1, 100) as i`,
    [now, stepMs, total],
  );
  await db.exec('vacuum (analyze) traces');
  await db.exec('vacuum (analyze) feedback');
  return (performance.now() - t0) / 1000;
}

export interface OverviewResult {
  driver: string;
  traces: number;
  generateSeconds: number;
  queries: Record<string, { medianMs: number; rows: number }>;
}

export async function benchOverview(store: BenchStore, total: number, runs: number): Promise<OverviewResult> {
  const now = new Date();
  log(`[overview] ${store.driver}: generating ${total.toLocaleString()} traces`);
  const generateSeconds = await generateTraces(store.db, total, now);
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const to = new Date(now.getTime() + 1);
  const queries: OverviewResult['queries'] = {};
  const run = async (name: string, fn: () => Promise<number>) => {
    let rows = 0;
    const t = await timeIt(runs, async () => {
      rows = await fn();
    });
    queries[name] = { medianMs: t.medianMs, rows };
    log(`  ${name}: ${t.medianMs.toFixed(1)} ms (rows ${rows})`);
  };
  for (const [label, range] of [
    ['overview 24h (hour buckets)', DAY],
    ['overview 7d (hour buckets)', 7 * DAY],
    ['overview 30d (day buckets)', 30 * DAY],
  ] as const) {
    await run(label, async () => {
      const o = await getOverview(store.db, { from: ago(range), to });
      return o.totals.requests;
    });
  }
  await run('trace list, first page of 50', async () => (await listTraces(store.db, { limit: 51 })).length);
  await run(
    'trace list, errors slower than 1 s',
    async () => (await listTraces(store.db, { status: 'error', minLatencyMs: 1000, limit: 51 })).length,
  );
  await run(
    'trace list, thumbs-down',
    async () => (await listTraces(store.db, { feedback: 'down', limit: 51 })).length,
  );
  return { driver: store.driver, traces: total, generateSeconds, queries };
}
