import { describe, expect, it } from 'vitest';
import { KeelError } from '../errors.ts';
import { lastUserText, redactForTrace, TelemetryHub } from './hub.ts';
import { createMetrics } from './metrics.ts';
import { encodeOtlpTraces, tracesUrl } from './otel.ts';
import { RequestTrace } from './tracing.ts';
import type { TelemetrySink, Trace } from './types.ts';

function capture(): { traces: Trace[]; inputs: unknown[]; rec: { write(t: Trace, i?: unknown): void } } {
  const traces: Trace[] = [];
  const inputs: unknown[] = [];
  return {
    traces,
    inputs,
    rec: {
      write(t, i) {
        traces.push(t);
        inputs.push(i);
      },
    },
  };
}

const caller = { tenantId: 'ten_default', keyId: 'key_1', userLabel: 'alice' };

describe('RequestTrace', () => {
  it('records spans relative to t0, error codes (never messages) and finishes once', async () => {
    const c = capture();
    const t = new RequestTrace(c.rec, performance.now() - 5);
    expect(t.span('cache', (s) => s.set('hit', false) && 42)).toBe(42);
    await expect(
      t.span('retrieve', async () => {
        throw new KeelError('not_found', 'collection kb of alice@example.com missing');
      }),
    ).rejects.toThrow();
    const open = t.start('output_guards');
    open.findings([
      {
        type: 'EMAIL',
        start: 3,
        end: 20,
        score: 0.99123,
        reason: 'pattern',
        scanner: 'pii',
        action: 'redact',
      },
    ]);
    t.finish({ status: 'ok', httpStatus: 200, caller, app: 'support', model: 'support', stream: false });
    t.finish({ status: 'error', httpStatus: 500, stream: false });
    expect(c.traces).toHaveLength(1);
    const tr = c.traces[0]!;
    expect(tr.id).toBe(t.id);
    expect(tr.spans.map((s) => s.name)).toEqual(['cache', 'retrieve', 'output_guards']);
    expect(tr.spans[0]!.startMs).toBeGreaterThanOrEqual(5);
    // Times are kept to the microsecond: no 17-digit fractions in the store or the API.
    const micro = (n: number | undefined) =>
      n !== undefined && Math.abs(n * 1000 - Math.round(n * 1000)) < 1e-6;
    for (const s of tr.spans) expect(micro(s.startMs) && micro(s.durationMs)).toBe(true);
    expect(micro(tr.latencyMs)).toBe(true);
    expect(tr.spans[1]!.attributes).toEqual({ error: 'not_found' });
    expect(tr.spans[2]!.attributes).toEqual({ unfinished: true });
    expect(tr.spans[2]!.events).toEqual([
      {
        name: 'finding',
        attributes: {
          type: 'EMAIL',
          start: 3,
          end: 20,
          score: 0.991,
          reason: 'pattern',
          scanner: 'pii',
          action: 'redact',
        },
      },
    ]);
    expect(tr.attributes).toMatchObject({ guard_findings: 1, guard_types: 'EMAIL' });
    expect(JSON.stringify(tr)).not.toContain('alice@example.com');
    expect(tr).toMatchObject({ tenantId: 'ten_default', keyId: 'key_1', userLabel: 'alice', app: 'support' });
  });

  it('turns provider attempts into provider spans', () => {
    const c = capture();
    const t = new RequestTrace(c.rec, 1000);
    t.providerAttempt({
      target: 'openai/gpt-4o-mini',
      provider: 'openai',
      model: 'gpt-4o-mini',
      attempt: 1,
      startMs: 1010,
      durationMs: 250,
      ttftMs: 80,
      outcome: 'error',
      error: { code: 'upstream_5xx', status: 502 },
      delayMs: 250,
    });
    expect(t.providerAttempts).toBe(1);
    t.finish({ status: 'error', httpStatus: 502, errorCode: 'upstream_5xx', stream: true });
    expect(c.traces[0]!.spans[0]).toEqual({
      name: 'provider',
      startMs: 10,
      durationMs: 250,
      attributes: {
        target: 'openai/gpt-4o-mini',
        provider: 'openai',
        model: 'gpt-4o-mini',
        attempt: 1,
        outcome: 'error',
        ttft_ms: 80,
        prompt_tokens: null,
        completion_tokens: null,
        cost_usd: null,
        error: 'upstream_5xx',
        error_status: 502,
        backoff_ms: 250,
      },
    });
  });
});

describe('TelemetryHub', () => {
  it('masks PII and keys in the captured input and attributes, then observes and stores', async () => {
    const stored: Trace[] = [];
    const store: TelemetrySink = {
      write: (t) => stored.push(t),
      flush: async () => {},
      close: async () => {},
    };
    const metrics = createMetrics({ processMetrics: false });
    const hub = new TelemetryHub({ store, metrics });
    const c = capture();
    const t = new RequestTrace(hub, performance.now());
    t.set('request_id', 'keel_abcdefghijklmnopqrstuvwxyz012345');
    t.captureMessages([
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer' },
      {
        role: 'user',
        content: [{ type: 'text', text: 'Mail bob.smith@example.org, card 4111 1111 1111 1111' }],
      },
    ]);
    t.finish({ status: 'ok', httpStatus: 200, caller, model: 'gpt-4o-mini', stream: false });
    expect(stored).toHaveLength(0); // queued, not yet processed
    await hub.flush();
    expect(c.traces).toHaveLength(0);
    const a = stored[0]!.attributes!;
    expect(a.input).toBe('Mail [EMAIL], card [CREDIT_CARD]');
    expect(a.request_id).toBe('[SECRET]');
    expect(await metrics.metrics()).toContain(
      'keel_requests_total{app="none",model="gpt-4o-mini",status="ok",code="none"} 1',
    );
  });

  it('keeps no input when capture is off', async () => {
    const stored: Trace[] = [];
    const hub = new TelemetryHub({
      store: { write: (t) => stored.push(t), flush: async () => {}, close: async () => {} },
      captureInput: false,
    });
    const t = new RequestTrace(hub);
    t.setInput('my phone is +1 415 555 0134');
    t.finish({ status: 'ok', httpStatus: 200, stream: false });
    await hub.flush();
    expect(stored[0]!.attributes!.input).toBeUndefined();
  });

  it('extracts the last user text and bounds what it keeps', () => {
    expect(lastUserText([{ role: 'system', content: 'x' }])).toBeUndefined();
    expect(lastUserText('plain')).toBe('plain');
    const long = redactForTrace('word '.repeat(2_000));
    expect(long.length).toBe(2_001);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('OTLP encoding', () => {
  it('maps a trace onto OTLP/JSON with GenAI attributes and stable ids', () => {
    const trace: Trace = {
      id: 'req_0000000000abcdefghjkmnpqrs',
      ts: new Date('2026-01-01T00:00:00.000Z'),
      status: 'ok',
      httpStatus: 200,
      model: 'support',
      app: 'support',
      latencyMs: 100.5,
      promptTokens: 12,
      completionTokens: 3,
      stream: false,
      spans: [
        {
          name: 'provider',
          startMs: 10,
          durationMs: 90,
          attributes: {
            provider: 'acme',
            model: 'gpt-4o-mini',
            prompt_tokens: 12,
            completion_tokens: 3,
            error: null,
          },
        },
      ],
    };
    const body = encodeOtlpTraces([trace], { serviceName: 'svc', systemOf: () => 'openai' }) as {
      resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[];
    };
    const [root, chat] = body.resourceSpans[0]!.scopeSpans[0]!.spans as Array<{
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      name: string;
      startTimeUnixNano: string;
      endTimeUnixNano: string;
      attributes: { key: string; value: unknown }[];
    }>;
    expect(root!.startTimeUnixNano).toBe('1767225600000000000');
    expect(root!.endTimeUnixNano).toBe('1767225600100500000');
    expect(chat!.parentSpanId).toBe(root!.spanId);
    expect(chat!.traceId).toBe(root!.traceId);
    expect(chat!.name).toBe('chat gpt-4o-mini');
    expect(chat!.attributes).toEqual(
      expect.arrayContaining([
        { key: 'gen_ai.system', value: { stringValue: 'openai' } },
        { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
        { key: 'gen_ai.usage.input_tokens', value: { intValue: '12' } },
        { key: 'gen_ai.usage.output_tokens', value: { intValue: '3' } },
      ]),
    );
    const again = encodeOtlpTraces([trace]) as typeof body;
    expect(again.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId).toBe(root!.traceId);
    expect(tracesUrl('http://c:4318/')).toBe('http://c:4318/v1/traces');
    expect(tracesUrl('http://c:4318/v1/traces')).toBe('http://c:4318/v1/traces');
  });
});
