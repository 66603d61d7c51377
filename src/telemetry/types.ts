/** Attribute values kept on spans and traces: plain JSON scalars, so they store and export as-is. */
export type AttributeValue = string | number | boolean | null;
export type Attributes = Record<string, AttributeValue>;

/**
 * Something a span saw, as a list item: a retrieved chunk (`chunk`), a guard finding (`finding`).
 * Like OpenTelemetry span events, without their own timestamp. Never holds prompt text or PII values.
 */
export interface SpanEvent {
  name: string;
  attributes: Attributes;
}

/** One stage of a request (auth, retrieve, provider, ...). Times are relative to the trace start. */
export interface Span {
  name: string;
  /** Milliseconds from the start of the request. */
  startMs: number;
  durationMs: number;
  attributes?: Attributes | undefined;
  events?: SpanEvent[] | undefined;
}

/** A finished request, as the gateway reports it to a `TelemetrySink`. `id` is the request id. */
export interface Trace {
  id: string;
  /** When the request started. */
  ts: Date;
  tenantId?: string | undefined;
  keyId?: string | undefined;
  userLabel?: string | undefined;
  app?: string | undefined;
  model?: string | undefined;
  /** 'ok', 'error', 'aborted', ... */
  status: string;
  httpStatus?: number | undefined;
  errorCode?: string | undefined;
  latencyMs: number;
  /** Time to first streamed token, when streaming. */
  ttftMs?: number | undefined;
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  costUsd?: number | undefined;
  stream: boolean;
  spans: Span[];
  attributes?: Attributes | undefined;
}

/**
 * Receives finished traces. `write` never blocks and never throws: the request path calls it after
 * the response and moves on. A crash may lose the last unflushed batch, never a usage entry.
 */
export interface TelemetrySink {
  write(trace: Trace): void;
  /** Resolves once every trace written so far has been handled (stored or dropped). */
  flush(): Promise<void>;
  /** Flushes, then stops accepting traces. */
  close(): Promise<void>;
}
