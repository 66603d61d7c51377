import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProviderSchema } from '../../src/config/schema.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
} from '../../src/providers/openai-compatible.ts';
import { SSE_DONE, SSE_HEADERS } from '../../src/providers/sse.ts';
import type { ChatRequest } from '../../src/providers/types.ts';

/**
 * Keel's provider alone behind `node:http`: parse the body, call the openai-compatible provider
 * (undici pool, SSE parsing, part mapping) and forward each event's `raw`. No auth, routing or
 * ledger, so its distance to the bare proxy is what the provider layer itself costs.
 */
const cfg = ProviderSchema.parse({
  type: 'openai-compatible',
  baseUrl: process.env.UPSTREAM_URL ?? 'http://127.0.0.1:1/v1',
  apiKey: 'sk-bench-upstream-key',
}) as OpenAICompatibleConfig;
const provider = createOpenAICompatibleProvider('bench', cfg);

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const { model, messages, stream, ...extra } = JSON.parse(
    Buffer.concat(chunks).toString(),
  ) as ChatRequest & {
    stream?: boolean;
  };
  const ctl = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ctl.abort();
  });
  const parts = provider.stream(
    { model, messages, extra },
    { signal: ctl.signal, streamUpstream: stream === true },
  );
  if (stream) {
    res.writeHead(200, SSE_HEADERS);
    for await (const p of parts) if (p.raw !== undefined) res.write('data: ' + p.raw + '\n\n');
    res.end(SSE_DONE);
    return;
  }
  let raw = '';
  for await (const p of parts) if (p.raw !== undefined) raw = p.raw;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) });
  res.end(raw);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e: Error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: e.message } }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
