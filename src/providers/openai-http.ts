import { EventEmitter } from 'node:events';
import type { Pool } from 'undici';

/** Plumbing for one upstream call: the cancellation controller and bounded body reads. */

export type Body = Awaited<ReturnType<Pool['request']>>['body'];

/**
 * What undici gets as a call's `signal`. undici takes an EventEmitter there as well as an
 * AbortSignal; this one costs a plain object per call, where an AbortController builds an
 * EventTarget signal whose listeners are added and removed through the slower DOM event path.
 */
export class CallSignal extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new Error('This operation was aborted');
    this.emit('abort');
  }
}

/** Ties the caller's signal and the total deadline to one signal handed to undici. */
export class Call {
  /** `ctl.signal` is what to pass to undici (shaped like an AbortController's). */
  readonly ctl: { readonly signal: CallSignal } = { signal: new CallSignal() };
  abortedBy: 'caller' | 'total-timeout' | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly signal: AbortSignal | undefined,
    totalMs: number,
  ) {
    if (signal?.aborted) {
      this.abortedBy = 'caller';
      this.ctl.signal.abort();
    } else if (signal) {
      this.onAbort = () => this.abort('caller');
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    this.timer = setTimeout(() => this.abort('total-timeout'), totalMs);
    this.timer.unref();
  }

  private abort(by: 'caller' | 'total-timeout'): void {
    if (this.abortedBy !== undefined) return;
    this.abortedBy = by;
    this.ctl.signal.abort();
  }

  dispose(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

export async function readCapped(body: Body, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    parts.push(b);
    size += b.length;
    if (size >= limit) break;
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

export function headerValue(h: Record<string, string | string[] | undefined>, name: string): string {
  const v = h[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}
