/**
 * The provider seams. Streaming is the primitive: a non-streaming call is a collected stream
 * (see `collect.ts`). Requests and messages use the OpenAI chat shape, which every Keel client
 * already speaks; providers for other wire protocols translate at their edge.
 */

export type Role = 'system' | 'user' | 'assistant' | 'tool' | 'developer';

export interface TextPart {
  type: 'text';
  text: string;
}
export interface OtherPart {
  type: string;
  [k: string]: unknown;
}
export type ContentPart = TextPart | OtherPart;

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/** A numbered source the pipeline put into the prompt; `[n]` in the answer refers to `index`. */
export interface Source {
  index: number;
  chunkId: string;
  documentId: string;
  title: string;
  uri: string;
  text: string;
  score: number;
  /** The chunk's heading path (`Guide > Install`), when known: what its text is about. */
  heading?: string;
}

export interface ChatRequest {
  /** The upstream model name (after routing). */
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string | string[];
  tools?: ToolDefinition[];
  tool_choice?: unknown;
  response_format?: { type: string; json_schema?: { name?: string; schema?: Record<string, unknown> } };
  seed?: number;
  user?: string;
  /** Other OpenAI parameters, forwarded unchanged by OpenAI-compatible providers. */
  extra?: Record<string, unknown>;
  /** Structured retrieval context. Model providers ignore it (the prompt already holds it); `extractive` answers from it. */
  sources?: Source[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedPromptTokens?: number;
  /** Part of `promptTokens` written to the provider's prompt cache (Anthropic bills these above input). */
  cacheWritePromptTokens?: number;
  /** True when counted by Keel's tokenizer because the upstream did not report usage. */
  estimated?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error';

export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  argumentsDelta?: string;
}

/**
 * One step of a model's output stream. `raw` (OpenAI-compatible providers only) is the upstream SSE
 * event's JSON verbatim, set on the last part derived from that event, so a pure pass-through can
 * forward bytes without re-serialising.
 */
export type StreamPart =
  | { type: 'start'; id?: string; model?: string; created?: number; raw?: string }
  | { type: 'text-delta'; text: string; raw?: string }
  | { type: 'tool-call-delta'; toolCall: ToolCallDelta; raw?: string }
  | { type: 'finish'; finishReason: FinishReason; raw?: string }
  | { type: 'usage'; usage: Usage; raw?: string };

export interface CallOptions {
  /** Aborted when the client disconnects or a deadline passes; providers must cancel the upstream call. */
  signal?: AbortSignal;
  /** Per-call timeout overrides in ms (e.g. a route target's); unset fields keep the provider's. */
  timeouts?: { firstByteMs?: number; totalMs?: number };
  /**
   * OpenAI-compatible providers: `false` makes a non-streaming upstream call. The parts are the same;
   * the `raw` of the last one is then the whole `chat.completion` body (forwardable as-is).
   */
  streamUpstream?: boolean;
}

export interface ChatProvider {
  /** Provider instance id from config, e.g. `openai`, `extractive`. */
  readonly id: string;
  /** Streams the model's output. Errors are thrown as `ProviderError` (before or during iteration). */
  stream(req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamPart>;
  /** Releases pooled connections / loaded models. */
  close?(): Promise<void>;
}

export interface EmbeddingResult {
  vectors: number[][];
  usage: { promptTokens: number; totalTokens: number };
}

export interface EmbeddingProvider {
  readonly id: string;
  /** Upstream model name used by default when a request names none. */
  readonly model: string;
  /** Output dimension, when known before the first call (fixed-dimension embedders). */
  readonly dimensions: number | undefined;
  embed(input: string[], opts?: CallOptions & { model?: string }): Promise<EmbeddingResult>;
  close?(): Promise<void>;
}
