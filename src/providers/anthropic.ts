import { Pool } from 'undici';
import type { ProviderConfig } from '../config/schema.ts';
import { ProviderError } from '../errors.ts';
import { toAnthropicBody } from './anthropic-request.ts';
import {
  type AnthropicEvent,
  type AnthropicMessage,
  AnthropicStreamState,
  messageParts,
} from './anthropic-stream.ts';
import {
  httpError,
  parseErrorBody,
  parseJsonObject,
  parseRetryAfter,
  protocolError,
  scrub,
  transportError,
} from './openai-errors.ts';
import { type Body, Call, headerValue, readCapped } from './openai-http.ts';
import { type SseEvent, SseParser } from './sse.ts';
import type { CallOptions, ChatProvider, ChatRequest, StreamPart } from './types.ts';

/**
 * Anthropic's Messages API as a ChatProvider: OpenAI-shaped requests translated on the way out
 * (`anthropic-request.ts`), SSE events translated on the way back (`anthropic-stream.ts`), the same
 * keep-alive pool, timeouts, cancellation and error taxonomy as the OpenAI-compatible adapter.
 */

export type AnthropicConfig = Extract<ProviderConfig, { type: 'anthropic' }>;

const ERROR_BODY_LIMIT = 64 * 1024;

/** Anthropic's HTTP errors: the OpenAI mapping, plus 529 `overloaded_error` (retryable, with its hint). */
export function anthropicHttpError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  secrets: readonly string[],
): ProviderError {
  if (status === 529) {
    const detail = scrub(parseErrorBody(bodyText).message, secrets) || 'Overloaded';
    return new ProviderError('upstream_5xx', `Upstream ${provider} is overloaded (529): ${detail}`, {
      provider,
      upstreamStatus: status,
      retryAfterMs: parseRetryAfter(headers),
    });
  }
  return httpError(provider, status, headers, bodyText, secrets);
}

class AnthropicProvider implements ChatProvider {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  private readonly secrets: string[];

  constructor(
    readonly id: string,
    private readonly cfg: AnthropicConfig,
  ) {
    const url = new URL(cfg.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.headers)) h[k.toLowerCase()] = v;
    h['anthropic-version'] = cfg.version;
    if (cfg.betas.length > 0) h['anthropic-beta'] = cfg.betas.join(',');
    if (cfg.apiKey) h['x-api-key'] = cfg.apiKey;
    h['content-type'] = 'application/json';
    this.headers = h;
    this.secrets = [cfg.apiKey ?? '', h['x-api-key'] ?? '', h.authorization ?? ''].filter(
      (s) => s.length >= 8,
    );
    this.pool = new Pool(url.origin, {
      connections: cfg.connections,
      connect: { timeout: cfg.timeouts.connectMs },
      headersTimeout: cfg.timeouts.firstByteMs,
      bodyTimeout: cfg.timeouts.firstByteMs,
      keepAliveTimeout: 30_000,
    });
  }

  async *stream(req: ChatRequest, opts: CallOptions = {}): AsyncGenerator<StreamPart> {
    const streamUp = opts.streamUpstream !== false;
    const t = {
      connectMs: this.cfg.timeouts.connectMs,
      firstByteMs: opts.timeouts?.firstByteMs ?? this.cfg.timeouts.firstByteMs,
      totalMs: opts.timeouts?.totalMs ?? this.cfg.timeouts.totalMs,
    };
    const body = JSON.stringify(
      toAnthropicBody(req, { provider: this.id, maxTokens: this.cfg.maxTokens, stream: streamUp }),
    );
    const call = new Call(opts.signal, t.totalMs);
    let res: Body | undefined;
    try {
      if (call.abortedBy) throw call.ctl.signal.reason;
      const r = await this.pool.request({
        method: 'POST',
        path: `${this.basePath}/v1/messages`,
        headers: { ...this.headers, accept: streamUp ? 'text/event-stream' : 'application/json' },
        body,
        signal: call.ctl.signal,
        headersTimeout: t.firstByteMs,
        bodyTimeout: t.firstByteMs,
      });
      res = r.body;
      if (r.statusCode < 200 || r.statusCode >= 300) {
        throw anthropicHttpError(
          this.id,
          r.statusCode,
          r.headers,
          await readCapped(res, ERROR_BODY_LIMIT),
          this.secrets,
        );
      }
      if (!streamUp || !headerValue(r.headers, 'content-type').includes('text/event-stream')) {
        const out: StreamPart[] = [];
        messageParts(
          parseJsonObject<AnthropicMessage>(this.id, await res.text(), 'an invalid JSON response'),
          out,
        );
        for (const p of out) yield p;
        return;
      }
      const parser = new SseParser();
      const state = new AnthropicStreamState(this.id, this.secrets);
      const events: SseEvent[] = [];
      const parts: StreamPart[] = [];
      for await (const chunk of res) {
        if (state.stopped) continue;
        parser.push(chunk as Buffer, events);
        for (let i = 0; i < events.length && !state.stopped; i++) {
          state.push(
            parseJsonObject<AnthropicEvent>(this.id, events[i]!.data, 'a malformed stream event'),
            parts,
          );
          for (let j = 0; j < parts.length; j++) yield parts[j]!;
          parts.length = 0;
        }
        events.length = 0;
      }
      if (!state.stopped) throw protocolError(this.id, 'a stream that ended before message_stop');
    } catch (e) {
      throw transportError(e, { provider: this.id, abortedBy: call.abortedBy, timeouts: t });
    } finally {
      call.dispose();
      if (res !== undefined && !res.readableEnded) res.destroy();
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export function createAnthropicProvider(id: string, cfg: AnthropicConfig): ChatProvider {
  return new AnthropicProvider(id, cfg);
}
