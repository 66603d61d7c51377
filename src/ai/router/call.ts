import type { ChatProvider, ChatRequest, StreamPart, Usage } from '../../providers/types.ts';
import type { SpanRecorder } from '../../telemetry/tracing.ts';
import { withStructuredOutput } from '../structured.ts';
import type { AttemptReport, RouterCallOptions } from './types.ts';

/**
 * One model call of a request, as the AI service makes it: through a route or a single provider,
 * with structured-output validation when the request asks for JSON, each route attempt reported
 * as a trace span, and the attempt that served the answer named for the ledger.
 */

export interface ModelCallOptions {
  signal: AbortSignal;
  /** False makes a non-streaming upstream call (OpenAI-compatible providers). */
  streamUpstream: boolean;
  trace?: SpanRecorder | undefined;
  /** Only route targets in these regions are used (data residency). */
  regions?: readonly string[] | undefined;
  /** USD of one attempt's usage, for its span; absent, spans carry no cost. */
  cost?: ((provider: string, model: string, usage: Usage) => number) | undefined;
  /**
   * Called with the provider and upstream model of each route attempt that sent content (the
   * served one, or the one cut off mid-answer): what the ledger charges.
   */
  onServed?: ((provider: string, model: string) => void) | undefined;
}

export function callModel(
  provider: ChatProvider,
  req: ChatRequest,
  o: ModelCallOptions,
): AsyncIterable<StreamPart> {
  const opts: RouterCallOptions = { signal: o.signal, streamUpstream: o.streamUpstream };
  if (o.regions !== undefined) opts.regions = o.regions;
  // Only routers report attempts; a single provider's call is one span made by the gateway.
  opts.onAttempt = (a: AttemptReport) => {
    if (a.outcome === 'ok' || a.afterFirstByte) o.onServed?.(a.provider, a.model);
    if (o.trace === undefined) return;
    const costUsd =
      a.usage !== undefined && o.cost !== undefined ? o.cost(a.provider, a.model, a.usage) : undefined;
    o.trace.providerAttempt(costUsd === undefined ? a : { ...a, costUsd });
  };
  return withStructuredOutput((r) => provider.stream(r, opts), req, {
    onRepair: (_error, n) => o.trace?.set('structured_repairs', n),
  });
}
