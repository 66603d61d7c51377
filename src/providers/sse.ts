/**
 * Server-sent events: an incremental parser (bytes in, events out) and the few writer helpers the
 * gateway needs. The parser follows the WHATWG event-stream rules (CRLF/LF/CR line ends, multi-line
 * `data`, comments, a BOM at the start) and keeps state across reads, so an event or even a CRLF
 * pair split between two network chunks parses the same as a whole one.
 */

import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The `data` lines joined with `\n`. */
  data: string;
  /** The `event` field; undefined means the default `message`. */
  event: string | undefined;
  id: string | undefined;
  retry: number | undefined;
}

export class SseParser {
  // StringDecoder keeps a multi-byte character split between reads whole, like TextDecoder's stream
  // mode, at a fifth of its cost per call on small chunks.
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private data = '';
  private hasData = false;
  private event: string | undefined = undefined;
  private id: string | undefined = undefined;
  private retry: number | undefined = undefined;
  private started = false;
  /** The previous chunk ended with `\r`: a `\n` opening the next chunk belongs to that line end. */
  private pendingCr = false;

  /** Parses one chunk and appends every completed event to `out`. Returns `out.length`. */
  push(chunk: Uint8Array | string, out: SseEvent[]): number {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk as Buffer);
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr && text.length > 0) {
      this.pendingCr = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    const s = this.buf.length > 0 ? this.buf + text : text;
    const len = s.length;
    let pos = 0;
    // Upstreams that use `\r` at all are rare; without one, a single indexOf per line suffices.
    const hasCr = s.indexOf('\r') !== -1;
    while (pos < len) {
      let end: number;
      let next: number;
      if (hasCr) {
        const lf = s.indexOf('\n', pos);
        const cr = s.indexOf('\r', pos);
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          end = cr;
          if (cr + 1 < len) next = s.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
          else {
            next = len;
            this.pendingCr = true;
          }
        } else if (lf !== -1) {
          end = lf;
          next = lf + 1;
        } else break;
      } else {
        end = s.indexOf('\n', pos);
        if (end === -1) break;
        next = end + 1;
      }
      this.line(s, pos, end, out);
      pos = next;
    }
    this.buf = pos === 0 ? s : pos < len ? s.slice(pos) : '';
    return out.length;
  }

  /** Ends the stream. Per the spec an unterminated last event is discarded; returns whether one was. */
  end(): boolean {
    const rest = this.buf + this.decoder.end();
    this.buf = '';
    const dangling = this.hasData || rest.trim().length > 0;
    this.reset();
    return dangling;
  }

  private line(s: string, start: number, end: number, out: SseEvent[]): void {
    if (start === end) {
      if (this.hasData) {
        out.push({ data: this.data, event: this.event, id: this.id, retry: this.retry });
      }
      this.reset();
      return;
    }
    const c0 = s.charCodeAt(start);
    if (c0 === 58 /* : comment */) return;
    // Fast path: `data: ` / `data:` is almost every line an LLM upstream sends.
    if (c0 === 100 && s.startsWith('data:', start)) {
      const v = s.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
      this.appendData(s.slice(v, end));
      return;
    }
    const colon = s.indexOf(':', start);
    let field: string;
    let value: string;
    if (colon === -1 || colon >= end) {
      field = s.slice(start, end);
      value = '';
    } else {
      field = s.slice(start, colon);
      value = s.slice(s.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1, end);
    }
    switch (field) {
      case 'data':
        this.appendData(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  private appendData(v: string): void {
    if (this.hasData) this.data += '\n' + v;
    else {
      this.data = v;
      this.hasData = true;
    }
  }

  private reset(): void {
    this.data = '';
    this.hasData = false;
    this.event = undefined;
    this.id = undefined;
    this.retry = undefined;
  }
}

/** Headers for an SSE response. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
});

/** The OpenAI stream terminator. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** One `data:` event around an already serialised JSON string (no newlines inside JSON). */
export function sseData(json: string): string {
  return 'data: ' + json + '\n\n';
}

/** A named event; multi-line payloads become several `data:` lines. */
export function sseEvent(event: string, data: string): string {
  return 'event: ' + event + '\ndata: ' + data.replace(/\r\n|\r|\n/g, '\ndata: ') + '\n\n';
}

/** A comment line, e.g. a keep-alive ping that clients ignore. */
export function sseComment(text = ''): string {
  return ': ' + text.replace(/\r\n|\r|\n/g, ' ') + '\n\n';
}
