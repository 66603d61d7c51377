import { useEffect, useMemo, useState } from 'preact/hooks';
import { withQuery } from '../api.ts';
import { Chart } from '../chart.tsx';
import { fmtInt, fmtMs, fmtPct, fmtUsd } from '../format.ts';
import { navigate } from '../router.ts';
import type { ModelEntry, Overview as OverviewData } from '../types.ts';
import { ErrorBox, Loading, PageTitle, Stat, useApi } from '../ui.tsx';

/** Requests, latency percentiles, errors, cost and feedback over a chosen range, as charts. */

const RANGES = [
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: '24 hours', ms: 86_400_000 },
  { id: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 days', ms: 30 * 86_400_000 },
] as const;

const REFRESH_MS = 30_000;

const COLORS = {
  requests: '#2563eb',
  errors: '#dc2626',
  p50: '#0e7490',
  p95: '#b45309',
  p99: '#b91c1c',
  cost: '#7c3aed',
  up: '#15803d',
  down: '#b91c1c',
};

export function Overview({ query }: { query: URLSearchParams }) {
  const rangeId = query.get('range') ?? '1h';
  const range = RANGES.find((r) => r.id === rangeId) ?? RANGES[0];
  const app = query.get('app') ?? '';
  const [now, setNow] = useState(() => Date.now());

  // Refreshes while the tab is visible; the range slides with the clock.
  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') setNow(Date.now());
    }, REFRESH_MS);
    return () => clearInterval(t);
  }, []);

  const path = withQuery('/v1/stats/overview', {
    from: new Date(now - range.ms).toISOString(),
    to: new Date(now).toISOString(),
    app,
  });
  const stats = useApi<OverviewData>(path);
  const models = useApi<{ data: ModelEntry[] }>('/v1/models');
  const apps = (models.data?.data ?? []).filter((m) => m.keel?.kind === 'app').map((m) => m.id);

  return (
    <>
      <PageTitle
        actions={
          <>
            <fieldset class="segmented">
              <legend class="sr-only">Time range</legend>
              {RANGES.map((r) => (
                <label key={r.id} class={r.id === range.id ? 'on' : ''}>
                  <input
                    type="radio"
                    name="range"
                    value={r.id}
                    checked={r.id === range.id}
                    onChange={() => navigate('/', { range: r.id, app })}
                  />
                  {r.label}
                </label>
              ))}
            </fieldset>
            <label class="inline">
              App{' '}
              <select
                value={app}
                onChange={(e) =>
                  navigate('/', { range: range.id, app: (e.currentTarget as HTMLSelectElement).value })
                }
              >
                <option value="">All apps</option>
                {apps.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" onClick={() => setNow(Date.now())}>
              Refresh
            </button>
          </>
        }
      >
        Overview
      </PageTitle>
      {stats.error && <ErrorBox error={stats.error} what="statistics" />}
      {!stats.data && stats.loading && <Loading what="statistics" />}
      {stats.data && <OverviewBody data={stats.data} loading={stats.loading} />}
    </>
  );
}

function OverviewBody({ data, loading }: { data: OverviewData; loading: boolean }) {
  const t = data.totals;
  const charts = useMemo(() => buildSeries(data), [data]);
  const fb = data.feedback;
  return (
    <div aria-busy={loading}>
      <dl class="stats">
        <Stat label="Requests" value={fmtInt(t.requests)} />
        <Stat label="Error rate" value={fmtPct(t.error_rate)} hint={`${fmtInt(t.errors)} errors`} />
        <Stat label="Latency p50" value={fmtMs(t.latency_ms?.p50)} />
        <Stat label="Latency p95" value={fmtMs(t.latency_ms?.p95)} />
        <Stat label="Latency p99" value={fmtMs(t.latency_ms?.p99)} />
        <Stat label="Cost" value={fmtUsd(t.cost_usd)} hint={`${fmtUsd(t.cost_per_request)} / request`} />
        <Stat
          label="Positive feedback"
          value={fb.ratio === null ? '—' : fmtPct(fb.ratio, 0)}
          hint={`${fmtInt(fb.up)} up · ${fmtInt(fb.down)} down`}
        />
      </dl>
      <div class="charts">
        <Chart
          id="latency"
          title="Latency p50 / p95 / p99"
          x={charts.x}
          series={[
            { label: 'p50', color: COLORS.p50, values: charts.p50 },
            { label: 'p95', color: COLORS.p95, values: charts.p95 },
            { label: 'p99', color: COLORS.p99, values: charts.p99 },
          ]}
          format={fmtMs}
          summary={
            t.latency_ms
              ? `Over the range: p50 ${fmtMs(t.latency_ms.p50)}, p95 ${fmtMs(t.latency_ms.p95)}, p99 ${fmtMs(t.latency_ms.p99)}; per ${bucketName(data.bucket_seconds)}.`
              : `Per ${bucketName(data.bucket_seconds)}; no requests in this range.`
          }
        />
        <Chart
          id="requests"
          title="Requests"
          x={charts.x}
          series={[
            { label: 'requests', color: COLORS.requests, values: charts.requests, kind: 'bars' },
            { label: 'errors', color: COLORS.errors, values: charts.errors, kind: 'bars' },
          ]}
          integer
          format={(v) => fmtInt(v)}
          summary={`${fmtInt(t.requests)} requests, ${fmtInt(t.errors)} errors; per ${bucketName(data.bucket_seconds)}.`}
        />
        <Chart
          id="error-rate"
          title="Error rate"
          x={charts.x}
          series={[{ label: 'error rate', color: COLORS.errors, values: charts.errorRate }]}
          format={(v) => fmtPct(v)}
          minTop={0.05}
          summary={`${fmtPct(t.error_rate)} of requests failed over the range.`}
        />
        <Chart
          id="cost"
          title="Cost per day"
          daily
          x={charts.days}
          series={[{ label: 'cost', color: COLORS.cost, values: charts.cost, kind: 'bars' }]}
          format={fmtUsd}
          minTop={0.01}
          summary={`${fmtUsd(t.cost_usd)} over ${charts.days.length} day(s).`}
        />
        <Chart
          id="feedback"
          title="Feedback per day"
          daily
          grouped
          x={charts.days}
          series={[
            { label: 'thumbs up', color: COLORS.up, values: charts.up, kind: 'bars' },
            { label: 'thumbs down', color: COLORS.down, values: charts.down, kind: 'bars' },
          ]}
          integer
          format={(v) => fmtInt(v)}
          summary={
            fb.ratio === null
              ? 'No feedback in this range.'
              : `${fmtPct(fb.ratio, 0)} positive: ${fmtInt(fb.up)} up, ${fmtInt(fb.down)} down.`
          }
        />
      </div>
    </div>
  );
}

function bucketName(s: number): string {
  if (s === 60) return 'minute';
  if (s === 3600) return 'hour';
  if (s === 86_400) return 'day';
  return `${s} s`;
}

/** Column arrays for uPlot: one x per bucket, null where a bucket had no requests. */
function buildSeries(d: OverviewData) {
  const x: number[] = [];
  const requests: (number | null)[] = [];
  const errors: (number | null)[] = [];
  const errorRate: (number | null)[] = [];
  const p50: (number | null)[] = [];
  const p95: (number | null)[] = [];
  const p99: (number | null)[] = [];
  for (const r of d.series) {
    x.push(Date.parse(r.bucket ?? '') / 1000);
    const has = r.requests > 0;
    // Zero-height bars would draw a line along the axis: empty buckets stay empty.
    requests.push(has ? r.requests : null);
    errors.push(r.errors > 0 ? r.errors : null);
    errorRate.push(has ? r.error_rate : null);
    p50.push(r.latency_ms?.p50 ?? null);
    p95.push(r.latency_ms?.p95 ?? null);
    p99.push(r.latency_ms?.p99 ?? null);
  }
  const days: number[] = [];
  const cost: (number | null)[] = [];
  const up: (number | null)[] = [];
  const down: (number | null)[] = [];
  const fbByDay = new Map<string, { up: number; down: number }>();
  for (const f of d.feedback.per_day) {
    const e = fbByDay.get(f.day) ?? { up: 0, down: 0 };
    e.up += f.up;
    e.down += f.down;
    fbByDay.set(f.day, e);
  }
  for (const c of d.cost_per_day) {
    days.push(Date.parse(`${c.day}T00:00:00Z`) / 1000);
    cost.push(c.requests > 0 ? c.cost_usd : null);
    const f = fbByDay.get(c.day);
    up.push(f?.up || null);
    down.push(f?.down || null);
  }
  return { x, requests, errors, errorRate, p50, p95, p99, days, cost, up, down };
}
