import { newId } from '../store/ids.ts';
import type { Attributes, AttributeValue, Span, SpanEvent, Trace } from './types.ts';

/**
 * Per-request tracing: one `RequestTrace` per model request (chat completions, embeddings), made
 * when the request arrives (before auth), so requests rejected at auth, validation or limits get a
 * trace too. Each stage adds a span; the trace is finished exactly once and handed to the recorder
 * (batched off the request path: see `TelemetryHub`).
 *
 * How a stage adds itself (the conventional span names are in `STAGES`):
 *
 *   // A Fastify hook of the authenticated `/v1` scope (limits, budgets), timed as one span:
 *   v1.addHook('onRequest', spanHook('limits', limitsHook));     // src/gateway/tracing-hooks.ts
 *   req.tracer?.set('cache_hit', true);                          // null on untraced routes
 *
 *   // In the chat route and the AI service: `acct.tracer`, or `ChatInput.trace` inside the AI layer.
 *   const v = await trace.span('cache', async (s) => { s.set('hit', false); return lookup() });
 *   const s = trace.start('output_guards'); s.findings(applied); s.end({ action: 'redact' });
 *   trace.addSpan('input_guards', t0, performance.now(), { findings: 2 }); // performance.now() times
 *   trace.providerAttempt(report);   // the router's `onAttempt` (one span per attempt)
 *   trace.setInput(redactedText);    // when input guards redacted the prompt: stored instead of the raw one
 *
 * A span that throws inside `span()` records the error's stable `code` (never its message) and the
 * error is rethrown. Attributes are JSON scalars. What must never go in: prompt or answer text, API
 * keys, PII values (guard findings are offsets and types only). The captured input is redacted
 * (PII and secrets) by the hub before it is stored, never on the request path.
 */

/** Conventional span names, in request order. */
export const STAGES = [
  'auth',
  'limits',
  'input_guards',
  'cache',
  'retrieve',
  'prompt',
  'provider',
  'output_guards',
] as const;

/** A guard finding as traces keep it: value-free (see `TraceFinding` in src/guard/types.ts). */
export interface FindingLike {
  type: string;
  start: number;
  end: number;
  score: number;
  reason?: string | undefined;
  scanner?: string | undefined;
  action?: string | undefined;
}

/**
 * One call of one provider target, as the router reports it (`AttemptReport` in src/ai/router is
 * assignable to this). Times use `performance.now()`, like the trace's `t0`.
 */
export interface ProviderAttempt {
  route?: string | undefined;
  target: string;
  provider: string;
  model: string;
  attempt: number;
  startMs: number;
  durationMs: number;
  ttftMs?: number | undefined;
  outcome: string;
  error?: { code: string; status?: number | undefined } | undefined;
  usage?: { promptTokens: number; completionTokens: number } | undefined;
  costUsd?: number | undefined;
  delayMs?: number | undefined;
}

/** A span being timed. Every method is a no-op after `end()`. */
export interface ActiveSpan {
  set(key: string, value: AttributeValue): ActiveSpan;
  event(name: string, attributes: Attributes): ActiveSpan;
  /** Adds one `finding` event per finding and counts them on the trace (for filters and metrics). */
  findings(list: readonly FindingLike[]): ActiveSpan;
  /** Records an error's stable code as the span's `error` attribute. */
  error(e: unknown): ActiveSpan;
  end(attributes?: Attributes): void;
}

/** What the AI layer (and anything else without HTTP) sees of a request's trace. */
export interface SpanRecorder {
  /** `performance.now()` at the request's arrival: spans' `startMs` are relative to it. */
  readonly t0: number;
  span<T>(name: string, fn: (s: ActiveSpan) => T, attributes?: Attributes): T;
  start(name: string, attributes?: Attributes): ActiveSpan;
  /** A finished span, with `performance.now()` start and end times. */
  addSpan(
    name: string,
    startPerf: number,
    endPerf: number,
    attributes?: Attributes,
    events?: SpanEvent[],
  ): void;
  /** A trace-level attribute (`cache_hit`, `guard_profile`, ...). */
  set(key: string, value: AttributeValue): void;
  providerAttempt(a: ProviderAttempt): void;
  setInput(text: string): void;
}

/** The user's input as captured: text, or the chat messages (the last user message is kept). */
export type TraceInput = string | readonly { role: string; content?: unknown }[];

/** Where finished traces go (the `TelemetryHub`). `input` is raw; the recorder redacts it off the request path. */
export interface TraceRecorder {
  write(trace: Trace, input?: TraceInput): void;
}

/** Who made the request, when known (nothing on an auth failure). */
export interface TraceCaller {
  tenantId: string;
  keyId: string | null;
  userLabel: string;
}

export interface TraceEnd {
  status: 'ok' | 'error' | 'aborted';
  httpStatus: number;
  errorCode?: string | undefined;
  caller?: TraceCaller | undefined;
  app?: string | null | undefined;
  model?: string | undefined;
  stream: boolean;
  ttftMs?: number | undefined;
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  costUsd?: number | undefined;
}

/** The stable code of an error (`KeelError.code` and the like); never its message. */
export function errorCodeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'internal_error';
}

class SpanHandle implements ActiveSpan {
  #done = false;
  constructor(
    private readonly owner: RequestTrace,
    readonly record: Span,
    private readonly startPerf: number,
  ) {}

  set(key: string, value: AttributeValue): ActiveSpan {
    if (!this.#done) this.#attrs()[key] = value;
    return this;
  }

  event(name: string, attributes: Attributes): ActiveSpan {
    if (this.#done) return this;
    if (this.record.events === undefined) this.record.events = [];
    this.record.events.push({ name, attributes });
    return this;
  }

  findings(list: readonly FindingLike[]): ActiveSpan {
    if (this.#done) return this;
    for (const f of list) {
      // Exactly these fields: whatever else a scanner attached stays out of the trace.
      const a: Attributes = { type: f.type, start: f.start, end: f.end, score: round3(f.score) };
      if (f.reason !== undefined) a.reason = f.reason;
      if (f.scanner !== undefined) a.scanner = f.scanner;
      if (f.action !== undefined) a.action = f.action;
      this.event('finding', a);
      this.owner.countFinding(f.type);
    }
    return this;
  }

  error(e: unknown): ActiveSpan {
    return this.set('error', errorCodeOf(e));
  }

  end(attributes?: Attributes): void {
    if (this.#done) return;
    if (attributes) Object.assign(this.#attrs(), attributes);
    this.record.durationMs = performance.now() - this.startPerf;
    this.#done = true;
  }

  #attrs(): Attributes {
    if (this.record.attributes === undefined) this.record.attributes = {};
    return this.record.attributes;
  }

  get open(): boolean {
    return !this.#done;
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** One request's trace under construction. Cheap: a few small objects per request. */
export class RequestTrace implements SpanRecorder {
  readonly ts = new Date();
  readonly spans: Span[] = [];
  readonly attributes: Attributes = {};
  /** The error that ended the request, when a hook or route failed before the route traced it. */
  error: unknown;
  #open: SpanHandle[] = [];
  #findings: string[] | undefined;
  #attempts = 0;
  #input: TraceInput | undefined;
  #finished = false;

  constructor(
    private readonly recorder: TraceRecorder,
    readonly t0: number = performance.now(),
    /** The trace id, which is also the response id (`chatcmpl-<id>`) and the usage-ledger id. */
    readonly id: string = newId('req'),
  ) {}

  get finished(): boolean {
    return this.#finished;
  }

  /** Provider attempts recorded so far (the router reports them; otherwise the account adds one span). */
  get providerAttempts(): number {
    return this.#attempts;
  }

  /** Types of the guard findings recorded so far, one entry per finding. */
  get findingTypes(): readonly string[] {
    return this.#findings ?? [];
  }

  start(name: string, attributes?: Attributes): ActiveSpan {
    const now = performance.now();
    const record: Span = { name, startMs: now - this.t0, durationMs: 0 };
    if (attributes) record.attributes = { ...attributes };
    this.spans.push(record);
    const h = new SpanHandle(this, record, now);
    this.#open.push(h);
    return h;
  }

  span<T>(name: string, fn: (s: ActiveSpan) => T, attributes?: Attributes): T {
    const s = this.start(name, attributes);
    let r: T;
    try {
      r = fn(s);
    } catch (e) {
      s.error(e).end();
      throw e;
    }
    if (r instanceof Promise) {
      return r.then(
        (v: unknown) => {
          s.end();
          return v;
        },
        (e: unknown) => {
          s.error(e).end();
          throw e;
        },
      ) as T;
    }
    s.end();
    return r;
  }

  addSpan(
    name: string,
    startPerf: number,
    endPerf: number,
    attributes?: Attributes,
    events?: SpanEvent[],
  ): void {
    const s: Span = { name, startMs: startPerf - this.t0, durationMs: Math.max(0, endPerf - startPerf) };
    if (attributes) s.attributes = attributes;
    if (events?.length) s.events = events;
    this.spans.push(s);
  }

  /** Spans timed elsewhere with times already relative to `t0` (the AI pipeline's stages). */
  addStages(stages: readonly Span[]): void {
    for (const s of stages) this.spans.push({ ...s });
  }

  set(key: string, value: AttributeValue): void {
    this.attributes[key] = value;
  }

  providerAttempt(a: ProviderAttempt): void {
    this.#attempts++;
    const attrs: Attributes = {
      target: a.target,
      provider: a.provider,
      model: a.model,
      attempt: a.attempt,
      outcome: a.outcome,
      ttft_ms: a.ttftMs ?? null,
      prompt_tokens: a.usage?.promptTokens ?? null,
      completion_tokens: a.usage?.completionTokens ?? null,
      cost_usd: a.costUsd ?? null,
      error: a.error?.code ?? null,
    };
    if (a.route !== undefined) attrs.route = a.route;
    if (a.error?.status !== undefined) attrs.error_status = a.error.status;
    if (a.delayMs) attrs.backoff_ms = a.delayMs;
    this.spans.push({
      name: 'provider',
      startMs: a.startMs - this.t0,
      durationMs: a.durationMs,
      attributes: attrs,
    });
  }

  setInput(text: string): void {
    this.#input = text;
  }

  /** The chat messages, kept by reference; the hub extracts (and redacts) the last user message later. */
  captureMessages(messages: readonly { role: string; content?: unknown }[]): void {
    if (this.#input === undefined) this.#input = messages;
  }

  countFinding(type: string): void {
    if (this.#findings === undefined) this.#findings = [];
    this.#findings.push(type);
  }

  /** Builds the trace and hands it to the recorder. Only the first call counts. */
  finish(end: TraceEnd): void {
    if (this.#finished) return;
    this.#finished = true;
    const latencyMs = performance.now() - this.t0;
    for (const h of this.#open) {
      if (h.open) h.end({ unfinished: true });
    }
    this.#open = [];
    this.spans.sort((a, b) => a.startMs - b.startMs);
    // Microseconds are as fine as these clocks mean anything; the shorter numbers are also what the
    // store parses for every span of every request.
    for (const s of this.spans) {
      s.startMs = round3(s.startMs);
      s.durationMs = round3(s.durationMs);
    }
    if (this.#findings?.length) {
      this.attributes.guard_findings = this.#findings.length;
      this.attributes.guard_types = [...new Set(this.#findings)].sort().join(',');
    }
    const t: Trace = {
      id: this.id,
      ts: this.ts,
      status: end.status,
      httpStatus: end.httpStatus,
      latencyMs: round3(latencyMs),
      stream: end.stream,
      spans: this.spans,
      attributes: this.attributes,
    };
    if (end.caller) {
      t.tenantId = end.caller.tenantId;
      if (end.caller.keyId !== null) t.keyId = end.caller.keyId;
      t.userLabel = end.caller.userLabel;
    }
    if (end.app) t.app = end.app;
    if (end.model !== undefined) t.model = end.model;
    if (end.errorCode !== undefined) t.errorCode = end.errorCode;
    if (end.ttftMs !== undefined) t.ttftMs = round3(end.ttftMs);
    if (end.promptTokens !== undefined) t.promptTokens = end.promptTokens;
    if (end.completionTokens !== undefined) t.completionTokens = end.completionTokens;
    if (end.costUsd !== undefined) t.costUsd = end.costUsd;
    this.recorder.write(t, this.#input);
  }
}

/** A recorder that drops everything (tracing without a sink, unit tests). */
export const NO_RECORDER: TraceRecorder = { write() {} };
