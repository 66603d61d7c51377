import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { KeelError } from '../errors.ts';
import { SSE_DONE, SSE_HEADERS } from '../providers/sse.ts';

/**
 * Writes an SSE response straight to the socket (the reply is hijacked: Fastify's serialisation and
 * hooks would only add cost per chunk). Headers set on the reply before (request id, future
 * rate-limit headers) are carried over.
 */
export class SseWriter {
  readonly res: ServerResponse;
  #drain: Promise<void> | null = null;

  constructor(reply: FastifyReply) {
    this.res = reply.raw;
    reply.hijack();
    const headers = reply.getHeaders() as OutgoingHttpHeaders;
    for (const k in SSE_HEADERS) headers[k] = SSE_HEADERS[k];
    this.res.writeHead(200, headers);
  }

  /** True once the client is gone; writing then is pointless. */
  get closed(): boolean {
    return this.res.destroyed;
  }

  /**
   * Writes one chunk. Returns a promise only when the socket buffer is full, so a fast upstream
   * cannot pile up memory behind a slow client; otherwise nothing is awaited.
   */
  write(chunk: string): Promise<void> | undefined {
    if (this.res.write(chunk) || this.res.destroyed) return undefined;
    this.#drain ??= new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        this.#drain = null;
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
    return this.#drain;
  }

  /** An in-band error event (after headers went out, the status can no longer change), then `[DONE]`. */
  fail(err: KeelError): void {
    if (this.res.destroyed) return;
    this.res.end('data: ' + JSON.stringify(err.toJSON()) + '\n\n' + SSE_DONE);
  }

  done(last = ''): void {
    if (this.res.destroyed) return;
    this.res.end(last + SSE_DONE);
  }
}
