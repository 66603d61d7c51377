import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 that speaks the OpenAI wire protocol: `/v1/chat/completions`
 * (JSON and SSE, with the usage chunk when `stream_options.include_usage`), `/v1/embeddings`
 * (deterministic vectors, float or base64) and `/v1/models`. Faults are scripted per request.
 * It records what reached it so tests can assert on the upstream side. It is also the gateway
 * benchmark's upstream, so the normal path stays allocation-light.
 */
import {
  type ChatBody,
  type ChatContext,
  countWords,
  type Fault,
  sleep,
  writeChat,
} from './openai-chat-reply.ts';

export type { Fault, ReplyToolCall } from './openai-chat-reply.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body: unknown;
  /** The client's port: equal across requests means a reused keep-alive connection. */
  remotePort: number | undefined;
  /** `completed` when the response was fully written, `aborted` when the client went away first. */
  outcome: 'pending' | 'completed' | 'aborted';
  settled: Promise<'completed' | 'aborted'>;
}

export type Script = Fault | Fault[] | ((req: RecordedRequest) => Fault | undefined) | undefined;

export interface UpstreamOptions {
  /** Content events per streamed reply (default 5). */
  chunks?: number;
  /** Reply text; default echoes the last user message. */
  content?: string;
  /** Require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  models?: string[];
  embeddingDimensions?: number;
  /** Keep requests in `requests` (default true; the benchmark turns it off). */
  record?: boolean;
  /** Pause between stream events: `immediate` (default; one write per tick, like a real model), `sync`, or ms. */
  interChunk?: 'immediate' | 'sync' | number;
}

export interface OpenAIUpstream {
  /** Base URL including `/v1`. */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Replaces the fault script: a function decides per request, an array (or one fault) is consumed in order. */
  script(s: Script): void;
  close(): Promise<void>;
}

/** Deterministic unit vector for a text: SHA-256 stretched into `dims` floats. */
export function fakeEmbedding(text: string, dims: number): number[] {
  const v: number[] = [];
  let block = 0;
  while (v.length < dims) {
    const h = createHash('sha256').update(`${block++}:${text}`).digest();
    for (let i = 0; i + 1 < h.length && v.length < dims; i += 2) v.push(h.readUInt16BE(i) / 32768 - 1);
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

function sendError(
  res: http.ServerResponse,
  status: number,
  message: string,
  code: string | null,
  type: string,
) {
  const body = JSON.stringify({ error: { message, type, param: null, code } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startOpenAIUpstream(opts: UpstreamOptions = {}): Promise<OpenAIUpstream> {
  const requests: RecordedRequest[] = [];
  const record = opts.record ?? true;
  const models = opts.models ?? ['gpt-test', 'gpt-4o-mini', 'text-embedding-test'];
  const dims = opts.embeddingDimensions ?? 8;
  const pace = opts.interChunk ?? 'immediate';
  let queue: Fault[] = [];
  let decide: ((req: RecordedRequest) => Fault | undefined) | undefined;
  let seq = 0;

  const wait = (): Promise<void> | undefined =>
    pace === 'sync' ? undefined : pace === 'immediate' ? new Promise((r) => setImmediate(r)) : sleep(pace);
  const ctx: ChatContext = {
    content: opts.content,
    chunks: opts.chunks,
    nextId: () => ++seq,
    wait: () => wait(),
  };

  function embeddings(rec: RecordedRequest, res: http.ServerResponse) {
    const body = rec.body as { model?: string; input?: unknown; encoding_format?: string };
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    if (inputs.some((x) => typeof x !== 'string')) {
      sendError(res, 400, "'input' must be a string or an array of strings", null, 'invalid_request_error');
      return;
    }
    const b64 = body.encoding_format === 'base64';
    let tokens = 0;
    const data = (inputs as string[]).map((text, index) => {
      tokens += countWords(text);
      const v = fakeEmbedding(text, dims);
      return {
        object: 'embedding',
        index,
        embedding: b64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
      };
    });
    const out = JSON.stringify({
      object: 'list',
      data,
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  }

  async function handle(rec: RecordedRequest, res: http.ServerResponse) {
    let fault = queue.length > 0 ? queue.shift() : decide?.(rec);
    if (fault?.kind === 'delay') {
      await sleep(fault.ms);
      fault = undefined;
    }
    switch (fault?.kind) {
      case 'hang':
        return;
      case 'reset-before-headers':
        res.socket?.resetAndDestroy();
        return;
      case 'status': {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...fault.headers };
        const body =
          typeof fault.body === 'string'
            ? fault.body
            : JSON.stringify(
                fault.body ?? {
                  error: {
                    message: fault.message ?? `Scripted ${fault.status}`,
                    type: 'scripted',
                    param: null,
                    code: null,
                  },
                },
              );
        res.writeHead(fault.status, headers);
        res.end(body);
        return;
      }
      default:
        break;
    }
    // Azure OpenAI's layout: /openai/deployments/{deployment}/<op>?api-version=..., key in `api-key`.
    const [pathname, query = ''] = rec.path.split('?');
    const azure = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(pathname!);
    if (azure && !new URLSearchParams(query).get('api-version')) {
      sendError(res, 404, 'Resource not found (missing api-version)', '404', 'invalid_request_error');
      return;
    }
    const presented = azure ? rec.headers['api-key'] : rec.headers.authorization;
    if (opts.apiKey !== undefined && presented !== (azure ? opts.apiKey : `Bearer ${opts.apiKey}`)) {
      sendError(res, 401, 'Incorrect API key provided.', 'invalid_api_key', 'invalid_request_error');
      return;
    }
    const route = azure ? `${rec.method} /v1/${azure[2]}` : `${rec.method} ${pathname}`;
    if (route === 'POST /v1/chat/completions') return writeChat(rec.body as ChatBody, res, fault, ctx);
    if (route === 'POST /v1/embeddings') return embeddings(rec, res);
    if (route === 'GET /v1/models') {
      const body = JSON.stringify({
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'test' })),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    sendError(res, 404, `Unknown route ${route}`, 'unknown_url', 'invalid_request_error');
  }

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody =
        chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = rawBody.length > 0 ? JSON.parse(rawBody) : undefined;
      } catch {
        sendError(
          res,
          400,
          'We could not parse the JSON body of your request.',
          null,
          'invalid_request_error',
        );
        return;
      }
      let settle: (v: 'completed' | 'aborted') => void = () => {};
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        rawBody,
        body,
        remotePort: req.socket.remotePort,
        outcome: 'pending',
        settled: record ? new Promise((r) => (settle = r)) : Promise.resolve('completed'),
      };
      if (record) {
        requests.push(rec);
        res.on('close', () => {
          rec.outcome = res.writableFinished ? 'completed' : 'aborted';
          settle(rec.outcome);
        });
      }
      handle(rec, res).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    script(s: Script) {
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
