import { Pool } from 'undici';
import type { ProviderConfig } from '../config/schema.ts';
import { type ChunkState, chunkParts, completionParts, type WireCompletion } from './openai-chunks.ts';
import {
  httpError,
  parseJsonObject,
  protocolError,
  streamErrorEvent,
  transportError,
} from './openai-errors.ts';
import { type Body, Call, headerValue, readCapped } from './openai-http.ts';
import { type SseEvent, SseParser } from './sse.ts';
import type {
  CallOptions,
  ChatProvider,
  ChatRequest,
  EmbeddingProvider,
  EmbeddingResult,
  StreamPart,
} from './types.ts';

/**
 * One adapter for every server that speaks OpenAI's `/chat/completions` and `/embeddings`
 * (OpenAI, vLLM, Ollama's /v1, llama.cpp server, ...): a keep-alive undici pool per upstream,
 * three timeouts, cancellation from the caller's signal, and errors mapped to ProviderError.
 */

export type OpenAICompatibleConfig = Extract<ProviderConfig, { type: 'openai-compatible' }>;

export interface OpenAICompatibleOptions {
  /** Ask for `stream_options.include_usage` (default true); a few older servers reject it. */
  includeUsage?: boolean;
}

export interface OpenAICompatibleProvider extends ChatProvider {
  readonly baseUrl: string;
  /** An embedder for `model` over this upstream's `/embeddings` (batching is the caller's job). */
  embeddings(model: string): EmbeddingProvider;
  /** The upstream's `/models` ids. */
  listModels(opts?: CallOptions): Promise<string[]>;
  close(): Promise<void>;
}

type Timeouts = OpenAICompatibleConfig['timeouts'];

const ERROR_BODY_LIMIT = 64 * 1024;
const SECRET_HEADERS = new Set(['authorization', 'api-key', 'x-api-key', 'proxy-authorization']);

class OpenAICompatible implements OpenAICompatibleProvider {
  readonly baseUrl: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly search: string;
  private readonly jsonHeaders: Record<string, string>;
  private readonly sseHeaders: Record<string, string>;
  private readonly getHeaders: Record<string, string>;
  private readonly secrets: string[];
  private readonly includeUsage: boolean;

  constructor(
    readonly id: string,
    private readonly cfg: OpenAICompatibleConfig,
    opts: OpenAICompatibleOptions,
  ) {
    const url = new URL(cfg.baseUrl);
    this.baseUrl = cfg.baseUrl;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.search = url.search;
    this.includeUsage = opts.includeUsage ?? true;
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.headers)) base[k.toLowerCase()] = v;
    if (cfg.apiKey) base.authorization = `Bearer ${cfg.apiKey}`;
    this.secrets = [
      cfg.apiKey ?? '',
      ...Object.entries(base)
        .filter(([k]) => SECRET_HEADERS.has(k))
        .map(([, v]) => v),
    ]
      .flatMap((s) => [s, s.replace(/^Bearer\s+/i, '')])
      .filter((s) => s.length >= 8);
    this.getHeaders = { ...base, accept: 'application/json' };
    this.jsonHeaders = { ...base, 'content-type': 'application/json', accept: 'application/json' };
    this.sseHeaders = { ...base, 'content-type': 'application/json', accept: 'text/event-stream' };
    this.pool = new Pool(url.origin, {
      connections: cfg.connections,
      connect: { timeout: cfg.timeouts.connectMs },
      headersTimeout: cfg.timeouts.firstByteMs,
      bodyTimeout: cfg.timeouts.firstByteMs,
      keepAliveTimeout: 30_000,
    });
  }

  private path(p: string): string {
    return this.basePath + p + this.search;
  }

  private timeouts(opts: CallOptions): Timeouts {
    const o = opts.timeouts;
    if (o === undefined) return this.cfg.timeouts;
    return {
      connectMs: this.cfg.timeouts.connectMs,
      firstByteMs: o.firstByteMs ?? this.cfg.timeouts.firstByteMs,
      totalMs: o.totalMs ?? this.cfg.timeouts.totalMs,
    };
  }

  private buildChatBody(req: ChatRequest, stream: boolean): string {
    const b: Record<string, unknown> = req.extra ? { ...req.extra } : {};
    b.model = req.model;
    b.messages = req.messages;
    if (req.temperature !== undefined) b.temperature = req.temperature;
    if (req.top_p !== undefined) b.top_p = req.top_p;
    if (req.max_tokens !== undefined) b.max_tokens = req.max_tokens;
    if (req.stop !== undefined) b.stop = req.stop;
    if (req.tools !== undefined) b.tools = req.tools;
    if (req.tool_choice !== undefined) b.tool_choice = req.tool_choice;
    if (req.response_format !== undefined) b.response_format = req.response_format;
    if (req.seed !== undefined) b.seed = req.seed;
    if (req.user !== undefined) b.user = req.user;
    b.stream = stream;
    if (stream && this.includeUsage) {
      const so = req.extra?.stream_options;
      b.stream_options =
        so && typeof so === 'object' ? { ...so, include_usage: true } : { include_usage: true };
    } else if (!stream) delete b.stream_options;
    return JSON.stringify(b);
  }

  async *stream(req: ChatRequest, opts: CallOptions = {}): AsyncGenerator<StreamPart> {
    const streamUp = opts.streamUpstream !== false;
    const t = this.timeouts(opts);
    const call = new Call(opts.signal, t.totalMs);
    let body: Body | undefined;
    try {
      if (call.abortedBy) throw call.ctl.signal.reason;
      const res = await this.pool.request({
        method: 'POST',
        path: this.path('/chat/completions'),
        headers: streamUp ? this.sseHeaders : this.jsonHeaders,
        body: this.buildChatBody(req, streamUp),
        signal: call.ctl.signal,
        headersTimeout: t.firstByteMs,
        bodyTimeout: t.firstByteMs,
      });
      body = res.body;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw httpError(
          this.id,
          res.statusCode,
          res.headers,
          await readCapped(body, ERROR_BODY_LIMIT),
          this.secrets,
        );
      }
      // Some servers ignore `stream: true` and answer with JSON; take the answer either way.
      if (!streamUp || !headerValue(res.headers, 'content-type').includes('text/event-stream')) {
        const text = await body.text();
        const out: StreamPart[] = [];
        completionParts(this.parseObject(text, 'an invalid JSON response'), text, out);
        for (const p of out) yield p;
        return;
      }
      const parser = new SseParser();
      const events: SseEvent[] = [];
      const parts: StreamPart[] = [];
      const st: ChunkState = { started: false, finished: false };
      let done = false;
      for await (const chunk of body) {
        // After [DONE], drain to the end so the keep-alive socket goes back to the pool.
        if (done) continue;
        parser.push(chunk as Buffer, events);
        for (let i = 0; i < events.length; i++) {
          const data = events[i]!.data;
          if (data === '[DONE]') {
            done = true;
            break;
          }
          chunkParts(this.parseObject(data, 'a malformed stream event'), data, st, parts);
          for (let j = 0; j < parts.length; j++) yield parts[j]!;
          parts.length = 0;
        }
        events.length = 0;
      }
      if (!done && (parser.end() || !st.finished)) {
        throw protocolError(this.id, 'a stream that ended before it finished');
      }
    } catch (e) {
      throw transportError(e, { provider: this.id, abortedBy: call.abortedBy, timeouts: t });
    } finally {
      call.dispose();
      if (body !== undefined && !body.readableEnded) body.destroy();
    }
  }

  private parseObject(text: string, what: string): WireCompletion {
    const w = parseJsonObject<WireCompletion>(this.id, text, what);
    if (w.error !== undefined && w.error !== null) throw streamErrorEvent(this.id, w.error, this.secrets);
    return w;
  }

  /** One non-streamed JSON call with the same timeouts, cancellation and error mapping as chat. */
  private async json(
    method: 'GET' | 'POST',
    p: string,
    payload: unknown,
    opts: CallOptions,
  ): Promise<unknown> {
    const t = this.timeouts(opts);
    const call = new Call(opts.signal, t.totalMs);
    let body: Body | undefined;
    try {
      if (call.abortedBy) throw call.ctl.signal.reason;
      const res = await this.pool.request({
        method,
        path: this.path(p),
        headers: method === 'GET' ? this.getHeaders : this.jsonHeaders,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: call.ctl.signal,
        headersTimeout: t.firstByteMs,
        bodyTimeout: t.firstByteMs,
      });
      body = res.body;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw httpError(
          this.id,
          res.statusCode,
          res.headers,
          await readCapped(body, ERROR_BODY_LIMIT),
          this.secrets,
        );
      }
      const text = await body.text();
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw protocolError(this.id, 'an invalid JSON response');
      }
    } catch (e) {
      throw transportError(e, { provider: this.id, abortedBy: call.abortedBy, timeouts: t });
    } finally {
      call.dispose();
      if (body !== undefined && !body.readableEnded) body.destroy();
    }
  }

  async embed(input: string[], model: string, opts: CallOptions): Promise<EmbeddingResult> {
    if (input.length === 0) return { vectors: [], usage: { promptTokens: 0, totalTokens: 0 } };
    const res = (await this.json(
      'POST',
      '/embeddings',
      { model, input, encoding_format: 'float' },
      opts,
    )) as {
      data?: { index?: number; embedding?: unknown }[];
      usage?: { prompt_tokens?: number; total_tokens?: number };
    };
    const data = res.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw protocolError(this.id, `${data?.length ?? 0} embeddings for ${input.length} inputs`);
    }
    const vectors: number[][] = new Array(input.length);
    for (let i = 0; i < data.length; i++) {
      const d = data[i]!;
      const at = typeof d.index === 'number' ? d.index : i;
      if (!Array.isArray(d.embedding) || at < 0 || at >= input.length || vectors[at] !== undefined) {
        throw protocolError(this.id, 'a malformed embeddings response');
      }
      vectors[at] = d.embedding as number[];
    }
    const prompt = res.usage?.prompt_tokens ?? 0;
    return { vectors, usage: { promptTokens: prompt, totalTokens: res.usage?.total_tokens ?? prompt } };
  }

  embeddings(model: string): EmbeddingProvider {
    return {
      id: this.id,
      model,
      dimensions: undefined,
      embed: (input, opts = {}) => this.embed(input, opts.model ?? model, opts),
    };
  }

  async listModels(opts: CallOptions = {}): Promise<string[]> {
    const res = (await this.json('GET', '/models', undefined, opts)) as { data?: { id?: unknown }[] };
    if (!Array.isArray(res.data)) throw protocolError(this.id, 'a malformed model list');
    return res.data.map((m) => m.id).filter((id): id is string => typeof id === 'string');
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export function createOpenAICompatibleProvider(
  id: string,
  cfg: OpenAICompatibleConfig,
  opts: OpenAICompatibleOptions = {},
): OpenAICompatibleProvider {
  return new OpenAICompatible(id, cfg, opts);
}
