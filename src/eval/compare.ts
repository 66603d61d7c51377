import { KeelError } from '../errors.ts';

/**
 * Run-to-run comparison for CI: which metrics improved, which regressed beyond their tolerance,
 * as a text table and as JUnit XML (one test case per metric, a failure per regression).
 */

export type MetricStatus = 'improved' | 'regressed' | 'unchanged';

/** Tolerated change: an absolute amount, a share of the baseline value, or both (the larger wins). */
export interface Threshold {
  abs?: number | undefined;
  rel?: number | undefined;
}

/**
 * Per-metric tolerances. Keys are metric names, prefixes ending in `*` (`latency_*`) or `*` for
 * every other metric; the most specific key wins. A number is an absolute tolerance.
 */
export type Thresholds = Record<string, number | Threshold>;

/**
 * `metric=delta` pairs (repeatable `threshold` parameter or CLI `--threshold`): `ndcg@10=0.02` is an
 * absolute tolerance, `latency_p95_ms=20%` a relative one; `latency_*` prefixes work too.
 */
export function parseThresholds(list: readonly string[]): Thresholds {
  const out: Thresholds = {};
  for (const item of list) {
    const eq = item.lastIndexOf('=');
    const metric = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    const rel = raw.endsWith('%');
    const n = Number(rel ? raw.slice(0, -1) : raw);
    if (eq <= 0 || !metric || raw === '' || !Number.isFinite(n) || n < 0) {
      throw new KeelError(
        'invalid_request',
        `invalid threshold '${item}': expected metric=delta or metric=N%`,
        {
          param: 'threshold',
        },
      );
    }
    out[metric] = rel ? { rel: n / 100 } : n;
  }
  return out;
}

/**
 * Defaults, merged under the caller's thresholds: quality metrics (0..1) may move by 0.01,
 * latency by 50% (shared CI machines are noisy), cost by 10%, and the error rate not at all.
 */
export const DEFAULT_THRESHOLDS: Thresholds = {
  '*': 0.01,
  'latency_*': { rel: 0.5 },
  'cost_*': { rel: 0.1 },
  error_rate: 0,
};

export interface CompareRow {
  metric: string;
  /** Baseline value. */
  a: number;
  /** Candidate value. */
  b: number;
  /** b − a. */
  delta: number;
  better: 'higher' | 'lower';
  /** The change tolerated before the metric counts as improved or regressed. */
  tolerance: number;
  status: MetricStatus;
}

export interface Comparison {
  rows: CompareRow[];
  /** True when any metric regressed: CI should fail. */
  regressed: boolean;
  /** Metrics only one run has (not compared). */
  onlyInA: string[];
  onlyInB: string[];
}

const LOWER_IS_BETTER = /^(latency_|cost_|error_rate$|errors$)/;

export function metricDirection(metric: string): 'higher' | 'lower' {
  return LOWER_IS_BETTER.test(metric) ? 'lower' : 'higher';
}

function thresholdFor(metric: string, thresholds: Thresholds): Threshold {
  let best: { len: number; t: number | Threshold } | undefined;
  for (const [key, t] of Object.entries(thresholds)) {
    let len = -1;
    if (key === metric) len = Number.MAX_SAFE_INTEGER;
    else if (key.endsWith('*') && metric.startsWith(key.slice(0, -1))) len = key.length - 1;
    if (len >= 0 && (!best || len > best.len)) best = { len, t };
  }
  const t = best?.t ?? 0;
  return typeof t === 'number' ? { abs: t } : t;
}

/**
 * Compares run `a` (the baseline) with run `b` (the candidate). A metric regressed when it moved
 * in its worse direction by more than its tolerance; improved when it moved the other way by more.
 */
export function compareRuns(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
  thresholds: Thresholds = {},
): Comparison {
  const merged = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const rows: CompareRow[] = [];
  const onlyInA: string[] = [];
  const onlyInB: string[] = [];
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const metric of names) {
    const va = a[metric];
    const vb = b[metric];
    const hasA = typeof va === 'number' && Number.isFinite(va);
    const hasB = typeof vb === 'number' && Number.isFinite(vb);
    if (!hasA || !hasB) {
      if (hasA) onlyInA.push(metric);
      if (hasB) onlyInB.push(metric);
      continue;
    }
    const better = metricDirection(metric);
    const t = thresholdFor(metric, merged);
    const tolerance = Math.max(t.abs ?? 0, (t.rel ?? 0) * Math.abs(va));
    const delta = vb - va;
    const worsening = better === 'higher' ? -delta : delta;
    // Float noise (sums in another order) is not a change.
    const eps = 1e-9 * Math.max(1, Math.abs(va), Math.abs(vb));
    const status: MetricStatus =
      worsening > tolerance + eps ? 'regressed' : -worsening > tolerance + eps ? 'improved' : 'unchanged';
    rows.push({ metric, a: va, b: vb, delta, better, tolerance, status });
  }
  return { rows, regressed: rows.some((r) => r.status === 'regressed'), onlyInA, onlyInB };
}

export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  if (v !== 0 && Math.abs(v) < 0.001) return v.toExponential(2);
  return v.toFixed(4);
}

const signed = (v: number) => (v > 0 ? `+${formatValue(v)}` : formatValue(v));

/** A fixed-width text table: metric, A, B, delta, status; regressions marked with `!`. */
export function renderComparison(c: Comparison, labels: { a?: string; b?: string } = {}): string {
  const header = ['metric', labels.a ?? 'A', labels.b ?? 'B', 'delta', 'status'];
  const body = c.rows.map((r) => [
    r.metric,
    formatValue(r.a),
    formatValue(r.b),
    signed(r.delta),
    r.status === 'regressed' ? '! regressed' : r.status === 'improved' ? '+ improved' : '  unchanged',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i === 0 || i === 4 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number),
      )
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  if (c.onlyInA.length) out.push(`only in ${labels.a ?? 'A'}: ${c.onlyInA.join(', ')}`);
  if (c.onlyInB.length) out.push(`only in ${labels.b ?? 'B'}: ${c.onlyInB.join(', ')}`);
  const regressed = c.rows.filter((r) => r.status === 'regressed').length;
  const improved = c.rows.filter((r) => r.status === 'improved').length;
  out.push(`${regressed} regressed, ${improved} improved, ${c.rows.length - regressed - improved} unchanged`);
  return `${out.join('\n')}\n`;
}

function xml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (ch) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[ch]};`,
  );
}

/** JUnit XML: one `<testcase>` per compared metric, with a `<failure>` for each regression. */
export function comparisonToJUnit(
  c: Comparison,
  labels: { a?: string; b?: string; suite?: string } = {},
): string {
  const a = labels.a ?? 'A';
  const b = labels.b ?? 'B';
  const suite = labels.suite ?? `keel eval compare ${a} -> ${b}`;
  const failures = c.rows.filter((r) => r.status === 'regressed').length;
  const cases = c.rows.map((r) => {
    const open = `    <testcase classname="keel.eval" name="${xml(r.metric)}" time="0">`;
    if (r.status !== 'regressed') return `${open}</testcase>`;
    const msg = `${r.metric} regressed: ${formatValue(r.a)} -> ${formatValue(r.b)} (delta ${signed(r.delta)}, tolerance ${formatValue(r.tolerance)}, ${r.better} is better)`;
    return `${open}\n      <failure type="regression" message="${xml(msg)}">${xml(msg)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="keel-eval" tests="${c.rows.length}" failures="${failures}">`,
    `  <testsuite name="${xml(suite)}" tests="${c.rows.length}" failures="${failures}" errors="0" skipped="0">`,
    ...cases,
    `    <system-out>${xml(renderComparison(c, { a, b }))}</system-out>`,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
