import { DEFAULT_COUNTRIES, detectPii } from '../guard/pii/scanner.ts';
import { PII_TYPES, type PiiType } from '../guard/pii/types.ts';
import type { KeelMetrics } from './metrics.ts';
import type { TraceInput, TraceRecorder } from './tracing.ts';
import type { Attributes, TelemetrySink, Trace } from './types.ts';

/**
 * Where finished traces go: each is scrubbed (the captured input redacted, secret-shaped values
 * removed), observed by the Prometheus metrics, then written to the store sink and any exporters.
 * `write` only queues; the work happens in one batch per event-loop turn (`setImmediate`), so the
 * request that finished never waits for it.
 */

export interface TelemetryHubOptions {
  /** The store sink (batched inserts); absent when tracing is off. */
  store?: TelemetrySink | undefined;
  /** OTLP and other exporters. */
  exporters?: readonly TelemetrySink[] | undefined;
  metrics?: KeelMetrics | undefined;
  /** Keep the user's last message, redacted, as trace attribute `input` (default true). */
  captureInput?: boolean | undefined;
  /** Most traces waiting for the next batch; past it the oldest are dropped and counted (default 10000). */
  maxPending?: number | undefined;
}

/** Most characters of the captured input kept (after redaction). */
export const INPUT_MAX_CHARS = 2_000;
/** Most characters scanned: past this much, the input is cut before redaction (and cut again after). */
const INPUT_SCAN_CHARS = 4_000;
const ALL_PII = new Set<PiiType>(PII_TYPES);
const PII_OPTS = { defaultCountries: DEFAULT_COUNTRIES, names: 'lexicon' as const };
// Keel keys and bearer-looking tokens; the PII secrets recognizer catches the other vendors' shapes.
const KEY_LIKE = /\b(?:keel|sk|rk|pk)[-_][A-Za-z0-9_-]{12,}/g;
// Request ids Keel generated itself (UUIDs) need no scan.
const GENERATED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HAS_KEY = /\b(?:keel|sk|rk|pk)[-_][A-Za-z0-9_-]{12,}/;

/** Replaces PII and secrets in `text` by `[TYPE]` masks. */
export function redactForTrace(text: string): string {
  let s = text.length > INPUT_SCAN_CHARS ? text.slice(0, INPUT_SCAN_CHARS) : text;
  s = s.replace(KEY_LIKE, '[SECRET]');
  const found = detectPii(s, ALL_PII, PII_OPTS);
  if (found.length > 0) {
    let out = '';
    let at = 0;
    for (const m of [...found].sort((a, b) => a.start - b.start)) {
      if (m.start < at) continue;
      out += `${s.slice(at, m.start)}[${m.type}]`;
      at = m.end;
    }
    s = out + s.slice(at);
  }
  return s.length > INPUT_MAX_CHARS ? `${s.slice(0, INPUT_MAX_CHARS)}…` : s;
}

/** The text of the last user message (string content, or the text parts of a content array). */
export function lastUserText(input: TraceInput): string | undefined {
  if (typeof input === 'string') return input;
  for (let i = input.length - 1; i >= 0; i--) {
    const m = input[i];
    if (m?.role !== 'user') continue;
    const c = m.content;
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) {
      const parts = c
        .map((p: unknown) => {
          const part = p as { type?: unknown; text?: unknown };
          return part?.type === 'text' && typeof part.text === 'string' ? part.text : '';
        })
        .filter((t) => t !== '');
      return parts.join('\n');
    }
    return undefined;
  }
  return undefined;
}

function scrubAttributes(a: Attributes | undefined): void {
  if (!a) return;
  for (const [k, v] of Object.entries(a)) {
    if (typeof v === 'string' && HAS_KEY.test(v)) a[k] = v.replace(KEY_LIKE, '[SECRET]');
  }
}

export interface HubStats {
  /** Traces handled (observed and passed on). */
  processed: number;
  /** Dropped because too many were waiting. */
  dropped: number;
  pending: number;
}

export class TelemetryHub implements TraceRecorder {
  readonly #store: TelemetrySink | undefined;
  readonly #exporters: readonly TelemetrySink[];
  readonly #metrics: KeelMetrics | undefined;
  readonly #capture: boolean;
  readonly #maxPending: number;
  #pending: Array<{ trace: Trace; input: TraceInput | undefined }> = [];
  #scheduled: NodeJS.Immediate | undefined;
  #stats = { processed: 0, dropped: 0 };

  constructor(opts: TelemetryHubOptions = {}) {
    this.#store = opts.store;
    this.#exporters = opts.exporters ?? [];
    this.#metrics = opts.metrics;
    this.#capture = opts.captureInput ?? true;
    this.#maxPending = Math.max(1, opts.maxPending ?? 10_000);
  }

  write(trace: Trace, input?: TraceInput): void {
    this.#pending.push({ trace, input: this.#capture ? input : undefined });
    if (this.#pending.length > this.#maxPending) {
      this.#pending.shift();
      this.#stats.dropped++;
    }
    this.#scheduled ??= setImmediate(() => this.#process());
  }

  /** Processes the waiting batch now (scrub, metrics, hand to sinks) without waiting for the sinks. */
  drain(): void {
    this.#process();
  }

  /** Everything written so far is processed and stored/exported. */
  async flush(): Promise<void> {
    this.#process();
    await Promise.all([this.#store?.flush(), ...this.#exporters.map((e) => e.flush())]);
  }

  async close(): Promise<void> {
    this.#process();
    await Promise.all([this.#store?.close(), ...this.#exporters.map((e) => e.close())]);
  }

  get stats(): HubStats {
    return { ...this.#stats, pending: this.#pending.length };
  }

  #process(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const batch = this.#pending;
    this.#pending = [];
    for (const { trace, input } of batch) {
      try {
        this.#prepare(trace, input);
        this.#observe(trace);
        this.#store?.write(trace);
        for (const e of this.#exporters) e.write(trace);
        this.#stats.processed++;
      } catch {
        // One malformed trace must not take the batch (or the process) down.
        this.#stats.dropped++;
      }
    }
  }

  #prepare(trace: Trace, input: TraceInput | undefined): void {
    if (trace.attributes === undefined) trace.attributes = {};
    const attrs = trace.attributes;
    scrubAttributes(attrs);
    for (const s of trace.spans) {
      scrubAttributes(s.attributes);
      if (s.events) for (const e of s.events) scrubAttributes(e.attributes);
    }
    // A client-chosen request id could carry anything: it gets the input's redaction too.
    const rid = attrs.request_id;
    if (typeof rid === 'string' && !GENERATED_ID.test(rid)) attrs.request_id = redactForTrace(rid);
    if (input !== undefined) {
      const text = lastUserText(input);
      if (text) attrs.input = redactForTrace(text);
    }
  }

  #observe(t: Trace): void {
    const m = this.#metrics;
    if (!m) return;
    const cache = t.attributes?.cache_hit;
    m.observeRequest({
      app: t.app,
      model: t.model,
      status: t.status,
      code: t.errorCode,
      latencyMs: t.latencyMs,
      ttftMs: t.ttftMs,
      promptTokens: t.promptTokens,
      completionTokens: t.completionTokens,
      costUsd: t.costUsd,
      cacheHit: typeof cache === 'boolean' ? cache : undefined,
    });
    for (const s of t.spans) {
      if (!s.events) continue;
      const findings = s.events.filter((e) => e.name === 'finding');
      if (findings.length > 0)
        m.observeGuardFindings(findings.map((e) => ({ type: String(e.attributes.type) })));
    }
  }
}
