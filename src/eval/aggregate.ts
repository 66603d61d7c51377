/** Run-level aggregation of per-case metrics. */

/**
 * The f-quantile by linear interpolation between closest ranks: the same definition as SQL's
 * `percentile_cont`, so a run's p95 and the stats API's p95 mean the same thing. NaN when empty.
 */
export function percentile(values: readonly number[], f: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, f)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** Mean of each metric over the cases that have it (a case without gold ids has no `mrr`). */
export function meanMetrics(perCase: readonly Record<string, number>[]): Record<string, number> {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const m of perCase) {
    for (const [k, v] of Object.entries(m)) {
      if (!Number.isFinite(v)) continue;
      const s = sums.get(k) ?? { sum: 0, n: 0 };
      s.sum += v;
      s.n++;
      sums.set(k, s);
    }
  }
  const out: Record<string, number> = {};
  for (const k of [...sums.keys()].sort()) {
    const s = sums.get(k) as { sum: number; n: number };
    out[k] = s.sum / s.n;
  }
  return out;
}

export interface CaseOutcome {
  metrics: Record<string, number>;
  latencyMs?: number | undefined;
  costUsd?: number | undefined;
  error?: string | undefined;
}

/**
 * The run's aggregate: means of the quality metrics over answered cases, latency p50/p95/p99 and
 * mean over answered cases, total and mean cost, and the share of cases that failed.
 */
export function aggregateRun(cases: readonly CaseOutcome[]): Record<string, number> {
  const ok = cases.filter((c) => c.error === undefined);
  const out = meanMetrics(ok.map((c) => c.metrics));
  const lat = ok
    .map((c) => c.latencyMs)
    .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (lat.length > 0) {
    out.latency_p50_ms = percentile(lat, 0.5);
    out.latency_p95_ms = percentile(lat, 0.95);
    out.latency_p99_ms = percentile(lat, 0.99);
    out.latency_mean_ms = lat.reduce((a, b) => a + b, 0) / lat.length;
  }
  const costs = cases.map((c) => c.costUsd ?? 0);
  out.cost_total_usd = costs.reduce((a, b) => a + b, 0);
  out.cost_mean_usd = cases.length > 0 ? out.cost_total_usd / cases.length : 0;
  out.error_rate = cases.length > 0 ? (cases.length - ok.length) / cases.length : 0;
  return out;
}
