import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 speaking Anthropic's Messages API (`POST /v1/messages`, JSON and
 * SSE with named events: message_start, content_block_start/delta/stop, ping, message_delta,
 * message_stop, error). It checks requests the way the real API does (version header, key, roles,
 * max_tokens, tool_result ids matching the previous turn's tool_use) and answers with Anthropic's
 * error bodies, so a translation mistake fails here as it would in production. Faults are scripted
 * per request; requests are recorded.
 */

export interface ToolUse {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type AnthropicFault =
  | { kind: 'status'; status: number; errorType?: string; message?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset-before-headers' }
  /** Events are numbered from 0 (message_start, ping, content_block_start, first delta, ...). */
  | { kind: 'reset-mid-stream'; afterEvents?: number }
  | { kind: 'error-event'; afterEvents?: number; errorType?: string; message?: string }
  | { kind: 'eof-mid-stream'; afterEvents?: number }
  | { kind: 'malformed-sse'; afterEvents?: number }
  | {
      kind: 'reply';
      text?: string;
      chunks?: number;
      toolUses?: ToolUse[];
      stopReason?: string;
      cacheCreationTokens?: number;
      cacheReadTokens?: number;
    };

export interface AnthropicRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  outcome: 'pending' | 'completed' | 'aborted';
  settled: Promise<'completed' | 'aborted'>;
}

export interface AnthropicUpstream {
  /** Origin (`http://127.0.0.1:port`), as Anthropic's base URL has no `/v1`. */
  url: string;
  requests: AnthropicRequest[];
  script(
    s: AnthropicFault | AnthropicFault[] | ((r: AnthropicRequest) => AnthropicFault | undefined) | undefined,
  ): void;
  close(): Promise<void>;
}

type Block = { type?: string; text?: unknown; id?: unknown; tool_use_id?: unknown; content?: unknown };
type Msg = { role?: unknown; content?: unknown };

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
const textOf = (c: unknown): string =>
  typeof c === 'string'
    ? c
    : Array.isArray(c)
      ? (c as Block[])
          .map((b) => (typeof b.text === 'string' ? b.text : typeof b.content === 'string' ? b.content : ''))
          .join(' ')
      : '';

/** What the real API would reject, as its message; undefined when the request is valid. */
function invalid(body: Record<string, unknown>): string | undefined {
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (typeof body.max_tokens !== 'number' || body.max_tokens < 1) return 'max_tokens: Field required';
  if (typeof body.temperature === 'number' && (body.temperature < 0 || body.temperature > 1)) {
    return 'temperature: Input should be less than or equal to 1';
  }
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) {
    return 'system: Input should be a valid list';
  }
  const msgs = body.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return 'messages: at least one message is required';
  let prevToolIds = new Set<string>();
  for (const [i, m] of (msgs as Msg[]).entries()) {
    if (m.role !== 'user' && m.role !== 'assistant') {
      return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    }
    const blocks: Block[] =
      typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content as Block[]);
    if (!Array.isArray(blocks)) return `messages.${i}.content: Input should be a valid list`;
    const ids = new Set<string>();
    for (const b of blocks) {
      if (b.type === 'text' && (typeof b.text !== 'string' || b.text === '')) {
        return `messages.${i}: text content blocks must be non-empty`;
      }
      if (b.type === 'tool_use') {
        if (m.role !== 'assistant') return `messages.${i}: tool_use blocks belong to assistant turns`;
        ids.add(String(b.id));
      }
      if (b.type === 'tool_result') {
        if (m.role !== 'user' || !prevToolIds.has(String(b.tool_use_id))) {
          return `messages.${i}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
        }
      }
      if (!['text', 'image', 'tool_use', 'tool_result', 'document', 'thinking'].includes(String(b.type))) {
        return `messages.${i}: unknown content block type ${String(b.type)}`;
      }
    }
    prevToolIds = ids;
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (const t of body.tools as { name?: unknown; input_schema?: unknown }[]) {
      if (typeof t.name !== 'string' || typeof t.input_schema !== 'object')
        return 'tools: name and input_schema required';
    }
  }
  return undefined;
}

function sendError(
  res: http.ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
) {
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_test', ...headers });
  res.end(body);
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export async function startAnthropicUpstream(
  opts: { apiKey?: string; chunks?: number; content?: string } = {},
): Promise<AnthropicUpstream> {
  const requests: AnthropicRequest[] = [];
  let queue: AnthropicFault[] = [];
  let decide: ((r: AnthropicRequest) => AnthropicFault | undefined) | undefined;
  let seq = 0;

  async function handle(rec: AnthropicRequest, res: http.ServerResponse) {
    const fault = queue.length > 0 ? queue.shift() : decide?.(rec);
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset-before-headers') {
      res.socket?.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'status') {
      sendError(
        res,
        fault.status,
        fault.errorType ?? ERROR_TYPES[fault.status] ?? 'api_error',
        fault.message ?? `Scripted ${fault.status}`,
        fault.headers,
      );
      return;
    }
    if (rec.path !== '/v1/messages') return sendError(res, 404, 'not_found_error', `Not found: ${rec.path}`);
    if (typeof rec.headers['anthropic-version'] !== 'string') {
      return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    if (opts.apiKey !== undefined && rec.headers['x-api-key'] !== opts.apiKey) {
      return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
    }
    const problem = invalid(rec.body);
    if (problem) return sendError(res, 400, 'invalid_request_error', problem);

    const reply = fault?.kind === 'reply' ? fault : undefined;
    const msgs = rec.body.messages as Msg[];
    const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
    const text = reply?.text ?? opts.content ?? `You said: ${textOf(lastUser?.content)}`;
    const toolUses = reply?.toolUses ?? [];
    const n = Math.max(1, reply?.chunks ?? opts.chunks ?? 4);
    const inputTokens =
      words(textOf(rec.body.system)) + msgs.reduce((s, m) => s + words(textOf(m.content)), 0);
    const usage = {
      input_tokens: inputTokens,
      cache_creation_input_tokens: reply?.cacheCreationTokens ?? 0,
      cache_read_input_tokens: reply?.cacheReadTokens ?? 0,
      output_tokens: n + toolUses.length,
    };
    const stopReason = reply?.stopReason ?? (toolUses.length > 0 ? 'tool_use' : 'end_turn');
    const id = `msg_test_${++seq}`;
    const model = String(rec.body.model);

    if (rec.body.stream !== true) {
      const content: unknown[] = [];
      if (text) content.push({ type: 'text', text });
      for (const t of toolUses) content.push({ type: 'tool_use', id: t.id, name: t.name, input: t.input });
      const body = JSON.stringify({
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }

    const events: [string, unknown][] = [
      [
        'message_start',
        {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { ...usage, output_tokens: 1 },
          },
        },
      ],
      ['ping', { type: 'ping' }],
    ];
    let index = 0;
    if (text) {
      events.push([
        'content_block_start',
        { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
      ]);
      for (let i = 0; i < n; i++) {
        const piece = text.slice(Math.floor((i * text.length) / n), Math.floor(((i + 1) * text.length) / n));
        events.push([
          'content_block_delta',
          { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } },
        ]);
      }
      events.push(['content_block_stop', { type: 'content_block_stop', index }]);
      index++;
    }
    for (const t of toolUses) {
      const json = JSON.stringify(t.input);
      const half = Math.floor(json.length / 2);
      events.push([
        'content_block_start',
        {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} },
        },
      ]);
      events.push([
        'content_block_delta',
        { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } },
      ]);
      events.push([
        'content_block_delta',
        {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: json.slice(0, half) },
        },
      ]);
      events.push([
        'content_block_delta',
        {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: json.slice(half) },
        },
      ]);
      events.push(['content_block_stop', { type: 'content_block_stop', index }]);
      index++;
    }
    events.push([
      'message_delta',
      {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: usage.output_tokens },
      },
    ]);
    events.push(['message_stop', { type: 'message_stop' }]);

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': 'req_test',
    });
    const cut =
      fault && 'afterEvents' in fault ? (fault.afterEvents ?? 4) : fault && fault.kind !== 'reply' ? 4 : -1;
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if (i === cut) {
        switch (fault?.kind) {
          case 'reset-mid-stream':
            await new Promise((r) => setTimeout(r, 20));
            res.socket?.resetAndDestroy();
            return;
          case 'eof-mid-stream':
            res.end();
            return;
          case 'malformed-sse':
            res.end(
              'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"ty\n\n',
            );
            return;
          case 'error-event': {
            const err = {
              type: 'error',
              error: { type: fault.errorType ?? 'overloaded_error', message: fault.message ?? 'Overloaded' },
            };
            res.end(`event: error\ndata: ${JSON.stringify(err)}\n\n`);
            return;
          }
          default:
            break;
        }
      }
      const [name, data] = events[i]!;
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      await new Promise((r) => setImmediate(r));
    }
    res.end();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        sendError(
          res,
          400,
          'invalid_request_error',
          'There was an issue with your request body: invalid JSON',
        );
        return;
      }
      let settle: (v: 'completed' | 'aborted') => void = () => {};
      const rec: AnthropicRequest = {
        path: req.url ?? '/',
        headers: req.headers,
        body,
        outcome: 'pending',
        settled: new Promise((r) => (settle = r)),
      };
      requests.push(rec);
      res.on('close', () => {
        rec.outcome = res.writableFinished ? 'completed' : 'aborted';
        settle(rec.outcome);
      });
      handle(rec, res).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(s) {
      queue = [];
      decide = undefined;
      if (typeof s === 'function') decide = s;
      else if (Array.isArray(s)) queue = [...s];
      else if (s) queue = [s];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
