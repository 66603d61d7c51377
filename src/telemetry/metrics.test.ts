import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, LabelCap } from './metrics.ts';

/** Value of one sample line (`name{labels} value`) in the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('KeelMetrics exposition', () => {
  it('counts requests, tokens, cost and latency by app and model', async () => {
    const m = createMetrics({ apps: ['support'], models: ['gpt-4o-mini'], processMetrics: false });
    m.observeRequest({
      app: 'support',
      model: 'gpt-4o-mini',
      status: 'ok',
      latencyMs: 120,
      ttftMs: 40,
      promptTokens: 100,
      completionTokens: 20,
      costUsd: 0.25,
    });
    m.observeRequest({
      app: 'support',
      model: 'gpt-4o-mini',
      status: 'ok',
      latencyMs: 700,
      promptTokens: 50,
      completionTokens: 5,
      costUsd: 0.5,
    });
    m.observeRequest({
      app: 'support',
      model: 'gpt-4o-mini',
      status: 'error',
      code: 'upstream_timeout',
      latencyMs: 30_000,
    });
    const text = await m.metrics();
    const l = 'app="support",model="gpt-4o-mini"';
    expect(sample(text, `keel_requests_total{${l},status="ok",code="none"}`)).toBe(2);
    expect(sample(text, `keel_requests_total{${l},status="error",code="upstream_timeout"}`)).toBe(1);
    expect(sample(text, `keel_tokens_total{${l},kind="prompt"}`)).toBe(150);
    expect(sample(text, `keel_tokens_total{${l},kind="completion"}`)).toBe(25);
    expect(sample(text, `keel_cost_usd_total{${l}}`)).toBe(0.75);
    // 0.12 s and 0.7 s and 30 s: cumulative buckets
    expect(sample(text, `keel_request_duration_seconds_bucket{le="0.1",${l}}`)).toBe(0);
    expect(sample(text, `keel_request_duration_seconds_bucket{le="0.25",${l}}`)).toBe(1);
    expect(sample(text, `keel_request_duration_seconds_bucket{le="1",${l}}`)).toBe(2);
    expect(sample(text, `keel_request_duration_seconds_bucket{le="30",${l}}`)).toBe(3);
    expect(sample(text, `keel_request_duration_seconds_count{${l}}`)).toBe(3);
    expect(sample(text, `keel_request_duration_seconds_sum{${l}}`)).toBeCloseTo(30.82, 10);
    // TTFT only for the streamed request
    expect(sample(text, `keel_time_to_first_token_seconds_count{${l}}`)).toBe(1);
    expect(sample(text, `keel_time_to_first_token_seconds_bucket{le="0.05",${l}}`)).toBe(1);
    expect(text).toContain('# TYPE keel_request_duration_seconds histogram');
    expect(text).toContain('# HELP keel_requests_total ');
  });

  it('reports apps and models outside the configured sets as other, missing ones as none', async () => {
    const m = createMetrics({ apps: ['support'], models: ['extractive'], processMetrics: false });
    for (let i = 0; i < 50; i++)
      m.observeRequest({ app: `app-${i}`, model: `m-${i}`, status: 'ok', latencyMs: 1 });
    m.observeRequest({ status: 'ok', latencyMs: 1 });
    m.observeRequest({ app: 'support', model: 'extractive', status: 'weird', latencyMs: 1 });
    const text = await m.metrics();
    expect(sample(text, 'keel_requests_total{app="other",model="other",status="ok",code="none"}')).toBe(50);
    expect(sample(text, 'keel_requests_total{app="none",model="none",status="ok",code="none"}')).toBe(1);
    expect(
      sample(text, 'keel_requests_total{app="support",model="extractive",status="other",code="none"}'),
    ).toBe(1);
    expect(text).not.toMatch(/app-\d/);
    const series = text.split('\n').filter((x) => x.startsWith('keel_requests_total{'));
    expect(series).toHaveLength(3);
  });

  it('bounds labels without a known set by a budget of distinct values', async () => {
    const m = createMetrics({ maxDynamicValues: 3, processMetrics: false });
    for (const code of ['a', 'b', 'c', 'd', 'e']) {
      m.observeRequest({ app: 'x', model: 'y', status: 'error', code, latencyMs: 1 });
    }
    m.observeGuardFindings([{ type: 'EMAIL' }, { type: 'EMAIL' }, { type: 'PERSON' }]);
    m.setBreakerState('openai/gpt-4o-mini', 'open');
    m.setBreakerState('backup/gpt-4o-mini', 'half_open');
    m.setBreakerState('openai/gpt-4o-mini', 'closed');
    m.observeCache('response', true);
    m.observeRequest({ app: 'x', model: 'y', status: 'ok', latencyMs: 1, cacheHit: false });
    const text = await m.metrics();
    const codes = text
      .split('\n')
      .filter((x) => x.startsWith('keel_requests_total{'))
      .map((x) => /code="([^"]+)"/.exec(x)?.[1]);
    expect(codes.sort()).toEqual(['a', 'b', 'c', 'none', 'other']);
    expect(sample(text, 'keel_requests_total{app="x",model="y",status="error",code="other"}')).toBe(2);
    expect(sample(text, 'keel_guard_findings_total{type="EMAIL"}')).toBe(2);
    expect(sample(text, 'keel_guard_findings_total{type="PERSON"}')).toBe(1);
    expect(sample(text, 'keel_circuit_breaker_state{target="openai/gpt-4o-mini"}')).toBe(0);
    expect(sample(text, 'keel_circuit_breaker_state{target="backup/gpt-4o-mini"}')).toBe(1);
    expect(sample(text, 'keel_cache_lookups_total{cache="response",result="hit"}')).toBe(1);
    expect(sample(text, 'keel_cache_lookups_total{cache="response",result="miss"}')).toBe(1);
  });

  it('keeps registries separate from each other and from the global one', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: true });
    a.observeRequest({ app: 'x', model: 'y', status: 'ok', latencyMs: 5 });
    expect(sample(await a.metrics(), 'keel_requests_total{app="x",model="y",status="ok",code="none"}')).toBe(
      1,
    );
    const bText = await b.metrics();
    expect(bText).not.toContain('keel_requests_total{');
    expect(bText).toContain('keel_process_cpu_user_seconds_total');
    expect(await globalRegistry.metrics()).not.toContain('keel_');
    expect(a.contentType).toMatch(/^text\/plain/);
  });

  it('folds tallied requests in exactly once per observation, whichever way the registry is read', async () => {
    const m = createMetrics({ processMetrics: false });
    const series = 'keel_requests_total{app="x",model="y",status="ok",code="none"}';
    m.observeRequest({ app: 'x', model: 'y', status: 'ok', latencyMs: 5, promptTokens: 2 });
    expect(sample(await m.metrics(), series)).toBe(1);
    expect(sample(await m.metrics(), series)).toBe(1);
    m.observeRequest({ app: 'x', model: 'y', status: 'ok', latencyMs: 5, promptTokens: 3 });
    const json = await m.registry.getMetricsAsJSON();
    const tokens = json.find((x) => x.name === 'keel_tokens_total');
    expect(tokens?.values[0]?.value).toBe(5);
    const text = await m.metrics();
    expect(sample(text, series)).toBe(2);
    expect(sample(text, 'keel_request_duration_seconds_count{app="x",model="y"}')).toBe(2);
  });

  it('switches the known app set after a reload', async () => {
    const m = createMetrics({ apps: ['a'], processMetrics: false });
    m.setKnownLabels({ apps: ['a', 'b'] });
    m.observeRequest({ app: 'b', model: 'm', status: 'ok', latencyMs: 1 });
    expect(sample(await m.metrics(), 'keel_requests_total{app="b",model="m",status="ok",code="none"}')).toBe(
      1,
    );
  });
});

describe('LabelCap', () => {
  it('keeps known values, maps unknown to other and missing to none', () => {
    const cap = new LabelCap(['a'], 2);
    expect([cap.map('a'), cap.map('b'), cap.map(undefined), cap.map('')]).toEqual([
      'a',
      'other',
      'none',
      'none',
    ]);
    const dyn = new LabelCap(undefined, 2);
    expect(['x', 'y', 'z', 'x'].map((v) => dyn.map(v))).toEqual(['x', 'y', 'other', 'x']);
  });
});
