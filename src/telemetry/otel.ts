import { createHash } from 'node:crypto';
import { TraceBatcher } from './batcher.ts';
import type { Attributes, AttributeValue, Span, TelemetrySink, Trace } from './types.ts';

/**
 * OpenTelemetry export: finished traces as OTLP/HTTP JSON (`POST <endpoint>/v1/traces`), batched
 * off the request path with a bounded queue. Each Keel trace becomes one OTel trace: a SERVER root
 * span for the request and a child per stage; provider attempts are CLIENT spans named
 * `chat <model>` carrying the GenAI semantic conventions (`gen_ai.system`, `gen_ai.provider.name`,
 * `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`, ...).
 */

export interface OtlpExporterOptions {
  /** Collector base URL (`http://host:4318`) or the full traces URL (ending in `/v1/traces`). */
  endpoint: string;
  headers?: Record<string, string> | undefined;
  /** Traces per request (default 100). */
  batchSize?: number | undefined;
  /** Export at least this often while traces wait (default 2000 ms). */
  flushIntervalMs?: number | undefined;
  /** Most traces held; past it the oldest are dropped and counted (default 5000). */
  maxQueue?: number | undefined;
  timeoutMs?: number | undefined;
  serviceName?: string | undefined;
  /** `gen_ai.system` for a Keel provider id (e.g. `openai` for an openai-compatible provider). */
  systemOf?: ((providerId: string) => string | undefined) | undefined;
  onError?: ((error: unknown, lost: number) => void) | undefined;
}

export interface OtlpStats {
  exported: number;
  dropped: number;
  failed: number;
  queued: number;
}

type OtlpValue =
  | { stringValue: string }
  | { intValue: string }
  | { doubleValue: number }
  | { boolValue: boolean };
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

const KIND_INTERNAL = 1;
const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

function value(v: AttributeValue): OtlpValue | undefined {
  if (v === null) return undefined;
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

function attrs(a: Attributes | undefined, prefix = ''): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  if (!a) return out;
  for (const [k, v] of Object.entries(a)) {
    const val = value(v);
    if (val) out.push({ key: prefix + k, value: val });
  }
  return out;
}

function hex(input: string, bytes: number): string {
  return createHash('sha256')
    .update(input)
    .digest('hex')
    .slice(0, bytes * 2);
}

/** Nanoseconds since the epoch as a decimal string (OTLP JSON encodes 64-bit integers as strings). */
function nanos(epochMs: number): string {
  return (BigInt(Math.round(epochMs * 1000)) * 1000n).toString();
}

const ROUTE: Record<string, string> = { chat: '/v1/chat/completions', embeddings: '/v1/embeddings' };

/** The OTLP spans of one Keel trace. The trace id is derived from Keel's, so re-exports match. */
export function traceToOtlpSpans(t: Trace, systemOf?: (providerId: string) => string | undefined): unknown[] {
  const traceId = hex(t.id, 16);
  const rootId = hex(`${t.id}:root`, 8);
  const base = t.ts.getTime();
  const operation = t.attributes?.operation === 'embeddings' ? 'embeddings' : 'chat';
  const error = t.status === 'error';
  const root: OtlpAttribute[] = [
    { key: 'http.request.method', value: { stringValue: 'POST' } },
    { key: 'http.route', value: { stringValue: ROUTE[operation] ?? '' } },
    { key: 'gen_ai.operation.name', value: { stringValue: operation } },
    { key: 'keel.trace_id', value: { stringValue: t.id } },
    { key: 'keel.status', value: { stringValue: t.status } },
    { key: 'keel.stream', value: { boolValue: t.stream } },
  ];
  const add = (key: string, v: AttributeValue | undefined) => {
    const val = v === undefined ? undefined : value(v);
    if (val) root.push({ key, value: val });
  };
  add('http.response.status_code', t.httpStatus);
  add('gen_ai.request.model', t.model);
  add('gen_ai.usage.input_tokens', t.promptTokens);
  add('gen_ai.usage.output_tokens', t.completionTokens);
  add('keel.app', t.app);
  add('keel.tenant_id', t.tenantId);
  add('keel.key_id', t.keyId);
  add('keel.latency_ms', t.latencyMs);
  add('keel.ttft_ms', t.ttftMs);
  add('keel.cost_usd', t.costUsd);
  if (error) add('error.type', t.errorCode ?? 'error');
  root.push(...attrs(t.attributes, 'keel.'));
  const spans: unknown[] = [
    {
      traceId,
      spanId: rootId,
      name: `POST ${ROUTE[operation]}`,
      kind: KIND_SERVER,
      startTimeUnixNano: nanos(base),
      endTimeUnixNano: nanos(base + t.latencyMs),
      attributes: root,
      status: error ? { code: STATUS_ERROR, message: t.errorCode ?? '' } : { code: STATUS_OK },
    },
  ];
  t.spans.forEach((s, i) => {
    spans.push(stageSpan(s, i, t, { traceId, rootId, base, operation, systemOf }));
  });
  return spans;
}

function stageSpan(
  s: Span,
  i: number,
  t: Trace,
  ctx: {
    traceId: string;
    rootId: string;
    base: number;
    operation: string;
    systemOf: ((providerId: string) => string | undefined) | undefined;
  },
): unknown {
  const a = s.attributes ?? {};
  const isProvider = s.name === 'provider';
  const out: OtlpAttribute[] = [];
  let name = s.name;
  if (isProvider) {
    const provider = typeof a.provider === 'string' ? a.provider : undefined;
    const model = typeof a.model === 'string' ? a.model : t.model;
    const system = provider ? (ctx.systemOf?.(provider) ?? provider) : undefined;
    name = `${ctx.operation} ${model ?? ''}`.trim();
    const push = (key: string, v: AttributeValue | undefined) => {
      const val = v === undefined ? undefined : value(v);
      if (val) out.push({ key, value: val });
    };
    push('gen_ai.operation.name', ctx.operation);
    push('gen_ai.system', system);
    push('gen_ai.provider.name', system);
    push('gen_ai.request.model', model);
    push('gen_ai.response.model', model);
    push('gen_ai.usage.input_tokens', a.prompt_tokens);
    push('gen_ai.usage.output_tokens', a.completion_tokens);
    if (typeof a.error === 'string') push('error.type', a.error);
  }
  out.push(...attrs(a, 'keel.'));
  const failed = typeof a.error === 'string';
  const span: Record<string, unknown> = {
    traceId: ctx.traceId,
    spanId: hex(`${t.id}:${i}`, 8),
    parentSpanId: ctx.rootId,
    name,
    kind: isProvider ? KIND_CLIENT : KIND_INTERNAL,
    startTimeUnixNano: nanos(ctx.base + s.startMs),
    endTimeUnixNano: nanos(ctx.base + s.startMs + s.durationMs),
    attributes: out,
    status: failed ? { code: STATUS_ERROR, message: String(a.error) } : { code: 0 },
  };
  if (s.events?.length) {
    const at = nanos(ctx.base + s.startMs + s.durationMs);
    span.events = s.events.map((e) => ({
      name: `keel.${e.name}`,
      timeUnixNano: at,
      attributes: attrs(e.attributes),
    }));
  }
  return span;
}

/** The OTLP/JSON `ExportTraceServiceRequest` body for a batch of traces. */
export function encodeOtlpTraces(
  traces: readonly Trace[],
  opts: { serviceName?: string | undefined; systemOf?: OtlpExporterOptions['systemOf'] } = {},
): unknown {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: opts.serviceName ?? 'keel' } },
            { key: 'telemetry.sdk.name', value: { stringValue: 'keel' } },
            { key: 'telemetry.sdk.language', value: { stringValue: 'nodejs' } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: 'keel' },
            spans: traces.flatMap((t) => traceToOtlpSpans(t, opts.systemOf)),
          },
        ],
      },
    ],
  };
}

export function tracesUrl(endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  return trimmed.endsWith('/v1/traces') ? trimmed : `${trimmed}/v1/traces`;
}

export class OtlpTraceExporter implements TelemetrySink {
  readonly #url: string;
  readonly #opts: OtlpExporterOptions;
  readonly #batcher: TraceBatcher;

  constructor(opts: OtlpExporterOptions) {
    this.#url = tracesUrl(opts.endpoint);
    this.#opts = opts;
    this.#batcher = new TraceBatcher({
      batchSize: opts.batchSize ?? 100,
      maxQueue: opts.maxQueue ?? 5_000,
      intervalMs: opts.flushIntervalMs ?? 2_000,
      send: (batch) => this.#send(batch),
      onError: opts.onError,
    });
  }

  write(trace: Trace): void {
    this.#batcher.write(trace);
  }

  flush(): Promise<void> {
    return this.#batcher.flush();
  }

  close(): Promise<void> {
    return this.#batcher.close();
  }

  get stats(): OtlpStats {
    const { sent, ...rest } = this.#batcher.stats;
    return { exported: sent, ...rest };
  }

  async #send(batch: Trace[]): Promise<void> {
    const body = JSON.stringify(
      encodeOtlpTraces(batch, { serviceName: this.#opts.serviceName, systemOf: this.#opts.systemOf }),
    );
    const res = await fetch(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.#opts.headers },
      body,
      signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 10_000),
    });
    // The body must be consumed for the connection to be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`OTLP collector answered HTTP ${res.status}`);
  }
}
