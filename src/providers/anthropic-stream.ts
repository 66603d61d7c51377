import { ProviderError, type ProviderErrorCode } from '../errors.ts';
import { scrub } from './openai-errors.ts';
import type { FinishReason, StreamPart, Usage } from './types.ts';

/**
 * Anthropic Messages output → StreamParts: SSE events one at a time (`AnthropicStreamState`), or a
 * whole non-streamed message. Tool-use blocks become tool-call deltas numbered among tool calls
 * only (Anthropic numbers every content block, OpenAI only the calls).
 */

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface ContentBlock {
  type?: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

export interface AnthropicMessage {
  id?: string;
  model?: string;
  content?: ContentBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage;
}

export interface AnthropicEvent {
  type?: string;
  message?: AnthropicMessage;
  index?: number;
  content_block?: ContentBlock;
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

export function mapStopReason(r: string | null | undefined): FinishReason {
  switch (r) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

/**
 * Anthropic reports `input_tokens` excluding cache reads and writes; Keel's prompt tokens include
 * both, with reads as `cachedPromptTokens` and writes as `cacheWritePromptTokens` (billed higher).
 */
export function mapAnthropicUsage(u: AnthropicUsage): Usage {
  const input = u.input_tokens ?? 0;
  const write = u.cache_creation_input_tokens ?? 0;
  const read = u.cache_read_input_tokens ?? 0;
  const prompt = input + write + read;
  const completion = u.output_tokens ?? 0;
  const usage: Usage = {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: prompt + completion,
  };
  if (read > 0) usage.cachedPromptTokens = read;
  if (write > 0) usage.cacheWritePromptTokens = write;
  return usage;
}

const ERROR_KINDS: Record<string, ProviderErrorCode> = {
  overloaded_error: 'upstream_5xx',
  api_error: 'upstream_5xx',
  rate_limit_error: 'upstream_rate_limited',
  invalid_request_error: 'upstream_bad_request',
  request_too_large: 'upstream_bad_request',
  authentication_error: 'upstream_auth',
  permission_error: 'upstream_auth',
  not_found_error: 'upstream_not_found',
  timeout_error: 'upstream_timeout',
};

/** An `event: error` inside a 200 stream. */
export function anthropicStreamError(
  provider: string,
  err: AnthropicEvent['error'],
  secrets: readonly string[],
): ProviderError {
  const type = err?.type ?? 'api_error';
  const message = scrub(err?.message ?? 'unknown error', secrets);
  return new ProviderError(
    ERROR_KINDS[type] ?? 'upstream_5xx',
    `Upstream ${provider} failed mid-stream (${type}): ${message}`,
    {
      provider,
    },
  );
}

export class AnthropicStreamState {
  private usage: AnthropicUsage = {};
  private readonly toolIndex = new Map<number, number>();
  private tools = 0;
  started = false;
  stopped = false;

  constructor(
    private readonly provider: string,
    private readonly secrets: readonly string[],
  ) {}

  /** Appends the parts of one event to `out`. Throws on an error event. */
  push(e: AnthropicEvent, out: StreamPart[]): void {
    switch (e.type) {
      case 'message_start': {
        const m = e.message ?? {};
        this.started = true;
        if (m.usage) this.usage = { ...m.usage };
        out.push({ type: 'start', id: m.id, model: m.model });
        break;
      }
      case 'content_block_start': {
        const b = e.content_block ?? {};
        if (b.type === 'text' && b.text) out.push({ type: 'text-delta', text: b.text });
        else if (b.type === 'tool_use' || b.type === 'server_tool_use') {
          const index = this.tools++;
          this.toolIndex.set(e.index ?? -1, index);
          out.push({
            type: 'tool-call-delta',
            toolCall: { index, id: b.id, name: b.name, argumentsDelta: '' },
          });
        }
        break;
      }
      case 'content_block_delta': {
        const d = e.delta ?? {};
        if (d.type === 'text_delta' && d.text) out.push({ type: 'text-delta', text: d.text });
        else if (d.type === 'input_json_delta' && d.partial_json) {
          const index = this.toolIndex.get(e.index ?? -1);
          if (index !== undefined)
            out.push({ type: 'tool-call-delta', toolCall: { index, argumentsDelta: d.partial_json } });
        }
        // thinking_delta, signature_delta and citations_delta have no OpenAI chat equivalent.
        break;
      }
      case 'message_delta':
        // message_delta's usage is cumulative; newer API versions repeat the input figures in it.
        if (e.usage)
          for (const [k, v] of Object.entries(e.usage))
            if (typeof v === 'number') this.usage[k as keyof AnthropicUsage] = v;
        out.push({ type: 'finish', finishReason: mapStopReason(e.delta?.stop_reason) });
        break;
      case 'message_stop':
        this.stopped = true;
        out.push({ type: 'usage', usage: mapAnthropicUsage(this.usage) });
        break;
      case 'error':
        throw anthropicStreamError(this.provider, e.error, this.secrets);
      default:
        // ping, content_block_stop, and event types added later.
        break;
    }
  }
}

/** The parts of a whole (non-streamed) message. */
export function messageParts(m: AnthropicMessage, out: StreamPart[]): void {
  out.push({ type: 'start', id: m.id, model: m.model });
  let tools = 0;
  for (const b of m.content ?? []) {
    if (b.type === 'text' && b.text) out.push({ type: 'text-delta', text: b.text });
    else if (b.type === 'tool_use') {
      out.push({
        type: 'tool-call-delta',
        toolCall: { index: tools++, id: b.id, name: b.name, argumentsDelta: JSON.stringify(b.input ?? {}) },
      });
    }
  }
  out.push({ type: 'finish', finishReason: mapStopReason(m.stop_reason) });
  if (m.usage) out.push({ type: 'usage', usage: mapAnthropicUsage(m.usage) });
}
