import type http from 'node:http';

/** The chat half of the test upstream: OpenAI `chat.completion` bodies and SSE streams, and their faults. */

export type Fault =
  /** An HTTP error with an OpenAI error body (or `body` verbatim when a string). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown; message?: string }
  /** Accept the request and never send a byte. */
  | { kind: 'hang' }
  /** Send headers and `afterChunks` stream events (or half a JSON body), then go silent. */
  | { kind: 'stall'; afterChunks?: number }
  /** The normal response, one event (or one 16-byte slice of JSON) every `intervalMs`. */
  | { kind: 'drip'; intervalMs: number }
  /** Wait, then answer normally. */
  | { kind: 'delay'; ms: number }
  /** TCP reset before any response byte. */
  | { kind: 'reset-before-headers' }
  /** TCP reset after `afterChunks` events (default 2). */
  | { kind: 'reset-mid-stream'; afterChunks?: number }
  /** A stream event whose JSON is cut off. */
  | { kind: 'malformed-sse'; afterChunks?: number }
  /** A JSON body cut off (with a content-length that matches what is sent). */
  | { kind: 'truncated-json' }
  /** A stream that ends cleanly (no [DONE], no finish) after `afterChunks` events. */
  | { kind: 'eof-mid-stream'; afterChunks?: number }
  /** An in-band `{"error":...}` event after `afterChunks` events. */
  | { kind: 'error-event'; afterChunks?: number; error?: Record<string, unknown> }
  /** Answer normally with this content / tool calls / finish reason. */
  | { kind: 'reply'; content?: string; chunks?: number; toolCalls?: ReplyToolCall[]; finishReason?: string };

export interface ReplyToolCall {
  id: string;
  name: string;
  arguments: string;
}

type Msg = { role?: string; content?: unknown };
export type ChatBody = {
  model?: string;
  messages?: Msg[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
};

const STREAM_FAULTS = new Set([
  'stall',
  'reset-mid-stream',
  'malformed-sse',
  'truncated-json',
  'eof-mid-stream',
  'error-event',
]);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p as { text?: string }).text ?? '').join(' ');
  return '';
}

export function countWords(s: string): number {
  let n = 0;
  for (const w of s.split(/\s+/)) if (w.length > 0) n++;
  return n;
}

export interface ChatContext {
  content: string | undefined;
  chunks: number | undefined;
  nextId(): number;
  /** Pause between stream events; undefined means write at once. */
  wait(): Promise<void> | undefined;
}

/** Writes a chat completion (JSON or SSE) for `body`, applying `fault`. */
export async function writeChat(
  body: ChatBody,
  res: http.ServerResponse,
  fault: Fault | undefined,
  ctx: ChatContext,
): Promise<void> {
  const model = body.model ?? 'gpt-test';
  const reply = fault?.kind === 'reply' ? fault : undefined;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let lastUser = '';
  let promptWords = 0;
  for (const m of messages) {
    const t = textOf(m.content);
    promptWords += countWords(t);
    if (m.role === 'user') lastUser = t;
  }
  const content = reply?.content ?? ctx.content ?? `You said: ${lastUser}`;
  const n = Math.max(1, reply?.chunks ?? ctx.chunks ?? 5);
  const toolCalls = reply?.toolCalls ?? [];
  const finish = reply?.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
  const seq = ctx.nextId();
  const id = `chatcmpl-test-${seq}`;
  const created = 1_700_000_000 + seq;
  const usage = { prompt_tokens: promptWords, completion_tokens: n, total_tokens: promptWords + n };

  if (!body.stream) {
    const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
    if (toolCalls.length > 0) {
      message.content = null;
      message.tool_calls = toolCalls.map((t) => ({
        id: t.id,
        type: 'function',
        function: { name: t.name, arguments: t.arguments },
      }));
    }
    const full = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
    });
    const text = fault?.kind === 'truncated-json' ? full.slice(0, Math.floor(full.length / 2)) : full;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    if (fault?.kind === 'stall') {
      res.write(text.slice(0, Math.floor(text.length / 2)));
      return;
    }
    if (fault?.kind === 'drip') {
      for (let i = 0; i < text.length && !res.destroyed; i += 16) {
        res.write(text.slice(i, i + 16));
        await sleep(fault.intervalMs);
      }
      res.end();
      return;
    }
    res.end(text);
    return;
  }

  const withUsage = body.stream_options?.include_usage === true;
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":`;
  const tail = withUsage ? ',"usage":null}\n\n' : '}\n\n';
  const events: string[] = [
    `${head}[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]${tail}`,
  ];
  if (toolCalls.length > 0) {
    toolCalls.forEach((t, i) => {
      const half = Math.floor(t.arguments.length / 2);
      const first = {
        index: i,
        id: t.id,
        type: 'function',
        function: { name: t.name, arguments: t.arguments.slice(0, half) },
      };
      const rest = { index: i, function: { arguments: t.arguments.slice(half) } };
      events.push(
        `${head}[{"index":0,"delta":{"tool_calls":${JSON.stringify([first])}},"logprobs":null,"finish_reason":null}]${tail}`,
      );
      events.push(
        `${head}[{"index":0,"delta":{"tool_calls":${JSON.stringify([rest])}},"logprobs":null,"finish_reason":null}]${tail}`,
      );
    });
  } else {
    for (let i = 0; i < n; i++) {
      const piece = content.slice(
        Math.floor((i * content.length) / n),
        Math.floor(((i + 1) * content.length) / n),
      );
      events.push(
        `${head}[{"index":0,"delta":{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}]${tail}`,
      );
    }
  }
  events.push(`${head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}]${tail}`);
  if (withUsage) events.push(`${head}[],"usage":${JSON.stringify(usage)}}\n\n`);
  events.push('data: [DONE]\n\n');

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const cut =
    fault && STREAM_FAULTS.has(fault.kind) ? ((fault as { afterChunks?: number }).afterChunks ?? 2) : -1;
  if (cut === 0) res.flushHeaders();
  for (let i = 0; i < events.length; i++) {
    if (res.destroyed) return;
    if (i === cut) {
      switch (fault?.kind) {
        case 'reset-mid-stream':
          // A reset discards what the client has not read yet; give it a moment to read the first events.
          await sleep(20);
          res.socket?.resetAndDestroy();
          return;
        case 'stall':
          return;
        case 'malformed-sse':
        case 'truncated-json':
          res.end(`data: {"id":"${id}","choices":[{"index":0,"delta":{"content":"bro\n\n`);
          return;
        case 'eof-mid-stream':
          res.end();
          return;
        case 'error-event':
          res.end(
            `data: ${JSON.stringify({ error: fault.error ?? { message: 'The server had an error', type: 'server_error', code: null } })}\n\n`,
          );
          return;
        default:
          break;
      }
    }
    if (i === 0) res.write(events[i]);
    else {
      const w = fault?.kind === 'drip' ? sleep(fault.intervalMs) : ctx.wait();
      if (w) await w;
      if (res.destroyed) return;
      if (i === events.length - 1) res.end(events[i]);
      else res.write(events[i]);
    }
  }
}
