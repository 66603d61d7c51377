import { describe, expect, it } from 'vitest';
import { compareRuns, comparisonToJUnit, metricDirection, renderComparison } from './compare.ts';

const base = { token_f1: 0.8, 'hit@5': 0.9, latency_p95_ms: 200, cost_total_usd: 1, error_rate: 0, mrr: 0.5 };

describe('compareRuns', () => {
  it('knows which direction is better', () => {
    expect(metricDirection('latency_p95_ms')).toBe('lower');
    expect(metricDirection('cost_total_usd')).toBe('lower');
    expect(metricDirection('error_rate')).toBe('lower');
    expect(metricDirection('ndcg@10')).toBe('higher');
  });

  it('flags regressions beyond the default tolerances only', () => {
    const c = compareRuns(base, {
      ...base,
      token_f1: 0.7, // -0.1: regressed
      'hit@5': 0.895, // -0.005: within 0.01
      latency_p95_ms: 280, // +40%: within 50%
      cost_total_usd: 0.5, // halved: improved
      mrr: 0.5 + 1e-15, // float noise
    });
    const status = Object.fromEntries(c.rows.map((r) => [r.metric, r.status]));
    expect(status).toEqual({
      cost_total_usd: 'improved',
      error_rate: 'unchanged',
      'hit@5': 'unchanged',
      latency_p95_ms: 'unchanged',
      mrr: 'unchanged',
      token_f1: 'regressed',
    });
    expect(c.regressed).toBe(true);
    const f1 = c.rows.find((r) => r.metric === 'token_f1');
    expect(f1?.delta).toBeCloseTo(-0.1, 12);
    expect(f1?.tolerance).toBe(0.01);
  });

  it('takes per-metric, prefix and catch-all thresholds, most specific first', () => {
    const b = { ...base, token_f1: 0.7, latency_p95_ms: 500, error_rate: 0.01 };
    const c = compareRuns(base, b, { token_f1: 0.2, 'latency_*': { abs: 400 }, '*': 0.05 });
    const status = Object.fromEntries(c.rows.map((r) => [r.metric, r.status]));
    expect(status.token_f1).toBe('unchanged');
    expect(status.latency_p95_ms).toBe('unchanged');
    expect(status.error_rate).toBe('regressed'); // the default error_rate: 0 is more specific than '*'
    expect(compareRuns(base, b, { token_f1: 0.2, 'latency_*': 400, error_rate: 0.05 }).regressed).toBe(false);
  });

  it('lists metrics only one run has', () => {
    const c = compareRuns({ a: 1, shared: 1 }, { b: 1, shared: 1, nan: Number.NaN });
    expect(c).toMatchObject({ onlyInA: ['a'], onlyInB: ['b'], regressed: false });
    expect(c.rows.map((r) => r.metric)).toEqual(['shared']);
  });
});

describe('reports', () => {
  const c = compareRuns(base, { ...base, token_f1: 0.7, cost_total_usd: 0.5 });

  it('renders an aligned text table', () => {
    const text = renderComparison(c, { a: 'run_a', b: 'run_b' });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^metric\s+run_a\s+run_b\s+delta\s+status$/);
    expect(lines.find((l) => l.startsWith('token_f1'))).toMatch(/0\.8000\s+0\.7000\s+-0\.1000\s+! regressed/);
    expect(lines.find((l) => l.startsWith('latency_p95_ms'))).toMatch(
      /200\.0\s+200\.0\s+0\.0000\s+unchanged/,
    );
    expect(lines.at(-1)).toBe('1 regressed, 1 improved, 4 unchanged');
  });

  it('writes JUnit XML with one failure per regression', () => {
    const x = comparisonToJUnit(c, { a: 'run_a', b: 'run_b' });
    expect(x.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(x).toContain('<testsuites name="keel-eval" tests="6" failures="1">');
    expect(x.match(/<testcase /g)).toHaveLength(6);
    expect(x.match(/<failure /g)).toHaveLength(1);
    expect(x).toContain('<testcase classname="keel.eval" name="token_f1" time="0">');
    expect(x).toContain(
      'message="token_f1 regressed: 0.8000 -&gt; 0.7000 (delta -0.1000, tolerance 0.0100, higher is better)"',
    );
    expect(x).toContain('name="keel eval compare run_a -&gt; run_b"');
  });
});
