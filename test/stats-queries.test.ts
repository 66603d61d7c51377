import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.ts';
import { recordFeedback } from '../src/store/queries/feedback.ts';
import {
  deleteTracesOlderThan,
  type StatsRow,
  traceCostByDay,
  traceStats,
  vacuumTraces,
} from '../src/store/queries/stats.ts';
import { insertTraces, listTraces, type TraceRecord } from '../src/store/queries/traces.ts';
import { getOverview, getStats, parseStatsParams } from '../src/telemetry/stats.ts';
import { driverCases } from './helpers/stores.ts';

/** Stats over stored traces, checked against values computed here independently, on both drivers. */

const T0 = Date.parse('2025-03-10T22:00:00Z');
const HOUR = 3_600_000;

/** percentile_cont's definition: linear interpolation at position f * (n - 1) of the sorted values. */
function pct(values: number[], f: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = f * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

function mulberry(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 300 traces over 22:00-01:00 UTC (crossing midnight); hour 23 is left empty. */
function makeTraces(): TraceRecord[] {
  const rnd = mulberry(42);
  const out: TraceRecord[] = [];
  for (let i = 0; i < 300; i++) {
    let hour = i % 3; // 0 → 22:00, 1 → 00:00, 2 → 01:00 (hour 23 stays empty)
    if (hour > 0) hour += 1;
    const ts = new Date(T0 + hour * HOUR + Math.floor(rnd() * HOUR));
    const stream = i % 4 !== 0;
    const t: TraceRecord = {
      id: `req_stats${String(i).padStart(4, '0')}`,
      ts,
      tenantId: i % 5 === 0 ? 'ten_other' : 'ten_default',
      keyId: `key_${i % 3}`,
      userLabel: `user${i % 4}`,
      app: i % 2 === 0 ? 'support' : 'search',
      model: i % 3 === 0 ? 'gpt-4o-mini' : 'extractive',
      status: i % 17 === 0 ? 'error' : i % 23 === 0 ? 'aborted' : 'ok',
      latencyMs: Math.round(rnd() * 5000 * 1000) / 1000,
      promptTokens: 10 + (i % 50),
      completionTokens: i % 7,
      costUsd: Math.round(rnd() * 1e6) / 1e8,
      stream,
      spans: [{ name: 'provider', startMs: 0, durationMs: 1 }],
    };
    if (stream) t.ttftMs = Math.round(rnd() * 800 * 100) / 100;
    out.push(t);
  }
  return out;
}

/** The expected StatsRow for a set of traces, computed without SQL. */
function expected(ts: TraceRecord[]) {
  const lat = ts.map((t) => t.latencyMs);
  const ttft = ts.filter((t) => t.ttftMs !== undefined).map((t) => t.ttftMs as number);
  const errors = ts.filter((t) => t.status === 'error').length;
  const cost = ts.reduce((s, t) => s + (t.costUsd ?? 0), 0);
  return {
    requests: ts.length,
    errors,
    errorRate: errors / ts.length,
    latencyMs: {
      p50: pct(lat, 0.5),
      p95: pct(lat, 0.95),
      p99: pct(lat, 0.99),
      mean: lat.reduce((a, b) => a + b, 0) / lat.length,
    },
    ttftMs: ttft.length ? { p50: pct(ttft, 0.5), p95: pct(ttft, 0.95), p99: pct(ttft, 0.99) } : null,
    costUsd: cost,
    costPerRequest: cost / ts.length,
    promptTokens: ts.reduce((s, t) => s + (t.promptTokens ?? 0), 0),
    completionTokens: ts.reduce((s, t) => s + (t.completionTokens ?? 0), 0),
  };
}

function expectRow(actual: StatsRow | undefined, ts: TraceRecord[]): void {
  const e = expected(ts);
  expect(actual).toBeDefined();
  const a = actual as StatsRow;
  expect(a.requests).toBe(e.requests);
  expect(a.errors).toBe(e.errors);
  expect(a.errorRate).toBeCloseTo(e.errorRate, 12);
  expect(a.latencyMs?.p50).toBeCloseTo(e.latencyMs.p50, 9);
  expect(a.latencyMs?.p95).toBeCloseTo(e.latencyMs.p95, 9);
  expect(a.latencyMs?.p99).toBeCloseTo(e.latencyMs.p99, 9);
  expect(a.latencyMs?.mean).toBeCloseTo(e.latencyMs.mean, 9);
  if (e.ttftMs === null) expect(a.ttftMs).toBeNull();
  else {
    expect(a.ttftMs?.p50).toBeCloseTo(e.ttftMs.p50, 9);
    expect(a.ttftMs?.p95).toBeCloseTo(e.ttftMs.p95, 9);
    expect(a.ttftMs?.p99).toBeCloseTo(e.ttftMs.p99, 9);
  }
  expect(a.costUsd).toBeCloseTo(e.costUsd, 12);
  expect(a.costPerRequest).toBeCloseTo(e.costPerRequest, 12);
  expect(a.promptTokens).toBe(e.promptTokens);
  expect(a.completionTokens).toBe(e.completionTokens);
}

const FROM = new Date(T0);
const TO = new Date(T0 + 4 * HOUR);
const hourOf = (t: TraceRecord) => Math.floor(t.ts.getTime() / HOUR) * HOUR;

describe.each(driverCases)('trace stats on $name', (driver) => {
  let db: Db;
  const traces = makeTraces();
  beforeAll(async () => {
    if (driver.skip) return;
    db = await driver.open();
    await insertTraces(db, traces);
  });
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('computes whole-range percentiles, counts and cost exactly', async () => {
    const rows = await traceStats(db, { from: FROM, to: TO });
    expect(rows).toHaveLength(1);
    expectRow(rows[0], traces);
  });

  it.skipIf(driver.skip)('buckets by hour (UTC, across midnight) and skips empty buckets', async () => {
    const rows = await traceStats(db, { from: FROM, to: TO, bucketSeconds: 3600 });
    const hours = [...new Set(traces.map(hourOf))].sort();
    expect(rows.map((r) => r.bucket?.toISOString())).toEqual(hours.map((h) => new Date(h).toISOString()));
    expect(rows.map((r) => r.bucket?.toISOString())).not.toContain('2025-03-10T23:00:00.000Z');
    for (const r of rows) {
      expectRow(
        r,
        traces.filter((t) => hourOf(t) === r.bucket?.getTime()),
      );
    }
  });

  it.skipIf(driver.skip)('honours a range that starts and ends mid-bucket', async () => {
    const from = new Date(T0 + 30 * 60_000);
    const to = new Date(T0 + 2 * HOUR + 15 * 60_000);
    const inRange = traces.filter((t) => t.ts >= from && t.ts < to);
    const rows = await traceStats(db, { from, to, bucketSeconds: 3600 });
    expect(rows.reduce((s, r) => s + r.requests, 0)).toBe(inRange.length);
    expect(rows[0]?.bucket?.toISOString()).toBe('2025-03-10T22:00:00.000Z');
    expectRow(
      rows[0],
      inRange.filter((t) => hourOf(t) === T0),
    );
  });

  it.skipIf(driver.skip)('groups by app per bucket, by model and by user (per tenant)', async () => {
    const byApp = await traceStats(db, { from: FROM, to: TO, bucketSeconds: 3600, groupBy: 'app' });
    expect(byApp).toHaveLength(6);
    for (const r of byApp) {
      expectRow(
        r,
        traces.filter((t) => hourOf(t) === r.bucket?.getTime() && t.app === r.group),
      );
    }
    const byModel = await traceStats(db, { from: FROM, to: TO, groupBy: 'model' });
    expect(byModel.map((r) => r.group)).toEqual(['extractive', 'gpt-4o-mini']);
    for (const r of byModel)
      expectRow(
        r,
        traces.filter((t) => t.model === r.group),
      );

    const byUser = await traceStats(db, { from: FROM, to: TO, groupBy: 'user' });
    expect(byUser).toHaveLength(8);
    for (const r of byUser) {
      expect(r.tenantId).toBeDefined();
      expectRow(
        r,
        traces.filter((t) => t.userLabel === r.group && t.tenantId === r.tenantId),
      );
    }
  });

  it.skipIf(driver.skip)('filters by tenant, app, model, key and status', async () => {
    const [r] = await traceStats(db, {
      from: FROM,
      to: TO,
      tenantId: 'ten_default',
      app: 'support',
      model: 'extractive',
    });
    expectRow(
      r,
      traces.filter((t) => t.tenantId === 'ten_default' && t.app === 'support' && t.model === 'extractive'),
    );
    const [k] = await traceStats(db, { from: FROM, to: TO, keyId: 'key_1', status: 'ok' });
    expectRow(
      k,
      traces.filter((t) => t.keyId === 'key_1' && t.status === 'ok'),
    );
    expect(await traceStats(db, { from: FROM, to: TO, app: 'nope' })).toEqual([]);
  });

  it.skipIf(driver.skip)('sums cost per UTC day', async () => {
    const days = await traceCostByDay(db, { from: FROM, to: TO });
    const dayOf = (t: TraceRecord) => t.ts.toISOString().slice(0, 10);
    expect(days.map((d) => d.day)).toEqual(['2025-03-10', '2025-03-11']);
    for (const d of days) {
      const ts = traces.filter((t) => dayOf(t) === d.day);
      expect(d.requests).toBe(ts.length);
      expect(d.costUsd).toBeCloseTo(
        ts.reduce((s, t) => s + (t.costUsd ?? 0), 0),
        12,
      );
    }
    const perApp = await traceCostByDay(db, { from: FROM, to: TO, groupBy: 'app' });
    expect(perApp.map((d) => `${d.day}/${d.group}`)).toEqual([
      '2025-03-10/search',
      '2025-03-10/support',
      '2025-03-11/search',
      '2025-03-11/support',
    ]);
  });

  it.skipIf(driver.skip)(
    'builds the overview: gap-filled series, totals, cost per day, feedback ratio',
    async () => {
      const rated = traces.filter((t) => t.tenantId === 'ten_default').slice(0, 5);
      for (const [i, t] of rated.entries()) {
        await recordFeedback(db, { traceId: t.id, tenantId: 'ten_default', rating: i < 3 ? 'up' : 'down' });
      }
      const ov = await getOverview(db, { from: FROM, to: TO, bucketSeconds: 3600 });
      expect(ov.series.map((r) => r.bucket?.toISOString())).toEqual([
        '2025-03-10T22:00:00.000Z',
        '2025-03-10T23:00:00.000Z',
        '2025-03-11T00:00:00.000Z',
        '2025-03-11T01:00:00.000Z',
      ]);
      expect(ov.series[1]).toMatchObject({ requests: 0, latencyMs: null, ttftMs: null, costUsd: 0 });
      expectRow(ov.totals, traces);
      expect(ov.costPerDay.map((d) => [d.day, d.requests])).toEqual([
        ['2025-03-10', traces.filter((t) => t.ts.getUTCDate() === 10).length],
        ['2025-03-11', traces.filter((t) => t.ts.getUTCDate() === 11).length],
      ]);
      // Feedback is dated by when it was given (now), so ask for a range around now.
      const now = Date.now();
      const fb = await getOverview(db, {
        from: new Date(now - HOUR),
        to: new Date(now + HOUR),
        bucketSeconds: 3600,
      });
      expect(fb.feedback).toMatchObject({ up: 3, down: 2, ratio: 0.6 });
      expect(fb.totals.requests).toBe(0);
      const noPct = await getOverview(db, {
        from: FROM,
        to: TO,
        bucketSeconds: 3600,
        totalPercentiles: false,
      });
      expect(noPct.totals).toMatchObject({ requests: 300, latencyMs: null });
      expect(noPct.totals.costUsd).toBeCloseTo(ov.totals.costUsd, 12);
    },
  );

  it.skipIf(driver.skip)('serves /v1/stats parameters end to end', async () => {
    const q = parseStatsParams({
      from: FROM.toISOString(),
      to: String(TO.getTime()),
      bucket: 'hour',
      app: 'search',
    });
    const res = await getStats(db, q);
    expect(res.rows).toHaveLength(4);
    expect(res.rows[1]?.requests).toBe(0);
    expect(res.rows.reduce((s, r) => s + r.requests, 0)).toBe(
      traces.filter((t) => t.app === 'search').length,
    );
    const scoped = parseStatsParams(
      { tenant_id: 'ten_default', bucket: 'none' },
      {
        now: TO,
        scopeTenantId: 'ten_other',
      },
    );
    expect(scoped.tenantId).toBe('ten_other');
    const other = await getStats(db, { ...scoped, from: FROM });
    expectRow(
      other.rows[0],
      traces.filter((t) => t.tenantId === 'ten_other'),
    );
  });

  it.skipIf(driver.skip)('deletes traces older than a cutoff in batches', async () => {
    const extra: TraceRecord[] = Array.from({ length: 25 }, (_, i) => ({
      id: `req_old${String(i).padStart(3, '0')}`,
      ts: new Date(Date.parse('2024-01-01T00:00:00Z') + i * 1000),
      status: 'ok',
      latencyMs: 1,
      stream: false,
      spans: [],
    }));
    await insertTraces(db, extra);
    const cutoff = new Date('2024-01-01T00:00:20Z');
    expect(await deleteTracesOlderThan(db, cutoff, { batchSize: 7 })).toBe(20);
    const left = await listTraces(db, { to: new Date('2025-01-01T00:00:00Z'), limit: 100 });
    expect(left.map((t) => t.id).sort()).toEqual(extra.slice(20).map((t) => t.id));
    expect(await deleteTracesOlderThan(db, cutoff)).toBe(0);
    await vacuumTraces(db);
    expect((await traceStats(db, { from: FROM, to: TO }))[0]?.requests).toBe(300);
  });
});

describe('stats parameters', () => {
  const now = new Date('2025-03-11T12:00:00Z');
  it('defaults to the last 24 hours with hourly buckets', () => {
    const q = parseStatsParams({}, { now });
    expect(q).toMatchObject({ from: new Date('2025-03-10T12:00:00Z'), to: now, bucketSeconds: 3600 });
  });

  it('picks minute buckets for short ranges and days for long ones', () => {
    expect(parseStatsParams({ from: '2025-03-11T10:00:00Z' }, { now }).bucketSeconds).toBe(60);
    expect(parseStatsParams({ from: '2025-01-01' }, { now }).bucketSeconds).toBe(86_400);
  });

  it('rejects bad input with the offending parameter', () => {
    const bad = (raw: unknown) => {
      try {
        parseStatsParams(raw, { now });
      } catch (e) {
        return e as { code: string; param: string | null; message: string };
      }
      throw new Error('expected a rejection');
    };
    expect(bad({ group_by: 'password' })).toMatchObject({ code: 'invalid_request', param: 'group_by' });
    expect(bad({ from: 'yesterday' })).toMatchObject({ code: 'invalid_request', param: 'from' });
    expect(bad({ from: '2025-03-12T00:00:00Z' })).toMatchObject({ param: 'from' });
    expect(bad({ from: '2024-01-01', bucket: 'minute' })).toMatchObject({ param: 'bucket' });
    expect(bad({ colour: 'red' })).toMatchObject({ code: 'invalid_request' });
  });
});
