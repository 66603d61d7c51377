import { TelemetryHub } from '../../src/telemetry/hub.ts';
import { createMetrics } from '../../src/telemetry/metrics.ts';
import { StoreTraceSink } from '../../src/telemetry/trace-sink.ts';
import { RequestTrace } from '../../src/telemetry/tracing.ts';
import type { Trace } from '../../src/telemetry/types.ts';
import { type BenchStore, log, median } from './common.ts';

/**
 * How many traces per second the telemetry path stores: traces shaped like an app request's
 * (auth, guards, retrieval with six chunk events, prompt, provider), built with the real
 * `RequestTrace` and pushed through the hub (redaction of the captured input, metrics) into the
 * store sink as fast as they come, then flushed.
 */

function appTrace(i: number): { trace: Trace; input: string } {
  let captured: Trace | undefined;
  const t = new RequestTrace({ write: (tr) => (captured = tr) }, performance.now() - 500);
  t.set('request_id', `bench-${i}`);
  t.addSpan('auth', t.t0, t.t0 + 0.05);
  t.addSpan('input_guards', t.t0 + 0.3, t.t0 + 1.2, { findings: 0 });
  t.addSpan(
    'retrieve',
    t.t0 + 1.3,
    t.t0 + 14,
    { hits: 6, collections: 'default' },
    Array.from({ length: 6 }, (_, r) => ({
      name: 'chunk',
      attributes: {
        rank: r + 1,
        chunk_id: `chk_${i}_${r}`,
        document_id: `docs/guide-${r}.md`,
        score: 0.03 - r / 1000,
      },
    })),
  );
  t.addSpan('prompt', t.t0 + 14, t.t0 + 14.3, { sources: 5 });
  t.providerAttempt({
    target: 'openai/gpt-4o-mini',
    provider: 'openai',
    model: 'gpt-4o-mini',
    attempt: 0,
    startMs: t.t0 + 14.4,
    durationMs: 480,
    ttftMs: 120,
    outcome: 'ok',
    usage: { promptTokens: 900, completionTokens: 120 },
    costUsd: 0.0002,
  });
  t.finish({
    status: 'ok',
    httpStatus: 200,
    caller: { tenantId: 'ten_default', keyId: `key_${i % 20}`, userLabel: `user${i % 100}` },
    app: 'support',
    model: 'support',
    stream: true,
    ttftMs: 130,
    promptTokens: 900,
    completionTokens: 120,
    costUsd: 0.0002,
  });
  return {
    trace: captured as Trace,
    input: `How do I rotate the API key for project ${i}? Contact me at user${i}@example.com if needed.`,
  };
}

export interface SinkResult {
  driver: string;
  traces: number;
  seconds: number;
  tracesPerSecond: number;
  /** Hub only (redaction + metrics), no store: its CPU cost per trace. */
  hubMicrosPerTrace: number;
  /** The same with `captureInput: false` (no input to redact). */
  hubMicrosNoCapture: number;
  dropped: number;
}

export async function benchSink(store: BenchStore, total: number): Promise<SinkResult> {
  log(`[sink] ${store.driver}: ${total.toLocaleString()} traces`);
  const items = Array.from({ length: total }, (_, i) => appTrace(i));
  // The hub's own cost per trace, without a store behind it: with and without the input capture.
  const hubCost = (captureInput: boolean) => {
    const copies = items.slice(0, 5_000).map((it) => ({ trace: structuredClone(it.trace), input: it.input }));
    const bare = new TelemetryHub({ metrics: createMetrics({ processMetrics: false }), captureInput });
    const h0 = performance.now();
    for (const it of copies) bare.write(it.trace, it.input);
    bare.drain();
    return ((performance.now() - h0) * 1000) / copies.length;
  };
  // Pure CPU, so on a shared machine the median of several passes is the honest figure.
  hubCost(true);
  hubCost(false);
  const hubMicrosPerTrace = median([1, 2, 3, 4, 5].map(() => hubCost(true)));
  const hubMicrosNoCapture = median([1, 2, 3, 4, 5].map(() => hubCost(false)));

  const sink = new StoreTraceSink(store.db, { maxQueue: total + 1 });
  const hub = new TelemetryHub({
    store: sink,
    metrics: createMetrics({ processMetrics: false }),
    maxPending: total + 1,
  });
  const t0 = performance.now();
  for (const it of items) hub.write(it.trace, it.input);
  await hub.flush();
  const seconds = (performance.now() - t0) / 1000;
  const rows = await store.db.query<{ n: number }>('select count(*)::int as n from traces');
  const stored = rows[0]?.n ?? 0;
  log(`  ${stored} stored in ${seconds.toFixed(2)} s: ${(stored / seconds).toFixed(0)} traces/s`);
  await store.db.exec('delete from traces');
  return {
    driver: store.driver,
    traces: total,
    seconds,
    tracesPerSecond: stored / seconds,
    hubMicrosPerTrace,
    hubMicrosNoCapture,
    dropped: total - stored,
  };
}
