import type { FinishReason, StreamPart, Usage } from './types.ts';

/**
 * Turns OpenAI wire objects (a `chat.completion.chunk` event or a whole `chat.completion`) into
 * StreamParts. Every event yields at least one part, and the last part of each carries the event's
 * JSON verbatim as `raw`, so a pass-through never has to re-serialise what it forwards.
 */

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}
interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}
interface WireChoice {
  index?: number;
  delta?: { content?: string | null; tool_calls?: WireToolCall[] | null } | null;
  message?: { content?: string | null; tool_calls?: WireToolCall[] | null } | null;
  finish_reason?: string | null;
}
export interface WireCompletion {
  id?: string;
  model?: string;
  created?: number;
  choices?: WireChoice[];
  usage?: WireUsage | null;
  error?: unknown;
}

export function mapFinishReason(r: string): FinishReason {
  switch (r) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return r;
    case 'function_call':
      return 'tool_calls';
    default:
      // `eos`, `end_turn` and friends from looser servers all mean a normal stop.
      return 'stop';
  }
}

export function mapUsage(u: WireUsage): Usage {
  const prompt = u.prompt_tokens ?? 0;
  const completion = u.completion_tokens ?? 0;
  const usage: Usage = {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: u.total_tokens ?? prompt + completion,
  };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') usage.cachedPromptTokens = cached;
  return usage;
}

export interface ChunkState {
  started: boolean;
  finished: boolean;
}

function firstChoice(choices: WireChoice[] | undefined): WireChoice | undefined {
  const c = choices?.[0];
  // Only choice 0 becomes parts (n > 1 is a pass-through concern); other choices still travel in `raw`.
  return c !== undefined && (c.index === undefined || c.index === 0) ? c : undefined;
}

function pushToolCalls(calls: WireToolCall[], out: StreamPart[]): void {
  for (let i = 0; i < calls.length; i++) {
    const tc = calls[i]!;
    out.push({
      type: 'tool-call-delta',
      toolCall: {
        index: tc.index ?? i,
        id: tc.id,
        name: tc.function?.name,
        argumentsDelta: tc.function?.arguments,
      },
    });
  }
}

/** Appends the parts of one stream chunk to `out`. */
export function chunkParts(obj: WireCompletion, raw: string, st: ChunkState, out: StreamPart[]): void {
  const from = out.length;
  if (!st.started) {
    st.started = true;
    out.push({ type: 'start', id: obj.id, model: obj.model, created: obj.created });
  }
  const choice = firstChoice(obj.choices);
  if (choice !== undefined) {
    const delta = choice.delta;
    if (delta) {
      if (typeof delta.content === 'string' && delta.content.length > 0) {
        out.push({ type: 'text-delta', text: delta.content });
      }
      if (delta.tool_calls) pushToolCalls(delta.tool_calls, out);
    }
    if (choice.finish_reason) {
      st.finished = true;
      out.push({ type: 'finish', finishReason: mapFinishReason(choice.finish_reason) });
    }
  }
  if (obj.usage) out.push({ type: 'usage', usage: mapUsage(obj.usage) });
  if (out.length === from) out.push({ type: 'text-delta', text: '' });
  out[out.length - 1]!.raw = raw;
}

/** The parts of a whole (non-streamed) `chat.completion`; `raw` on the last is the full body. */
export function completionParts(obj: WireCompletion, raw: string, out: StreamPart[]): void {
  out.push({ type: 'start', id: obj.id, model: obj.model, created: obj.created });
  const choice = firstChoice(obj.choices);
  const msg = choice?.message;
  if (msg) {
    if (typeof msg.content === 'string' && msg.content.length > 0)
      out.push({ type: 'text-delta', text: msg.content });
    if (msg.tool_calls) pushToolCalls(msg.tool_calls, out);
  }
  out.push({ type: 'finish', finishReason: mapFinishReason(choice?.finish_reason ?? 'stop') });
  if (obj.usage) out.push({ type: 'usage', usage: mapUsage(obj.usage) });
  out[out.length - 1]!.raw = raw;
}
