import type { Pool } from 'undici';

/** Plumbing for one upstream call: the cancellation controller and bounded body reads. */

export type Body = Awaited<ReturnType<Pool['request']>>['body'];

/** Ties the caller's signal and the total deadline to one controller handed to undici. */
export class Call {
  readonly ctl = new AbortController();
  abortedBy: 'caller' | 'total-timeout' | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly signal: AbortSignal | undefined,
    totalMs: number,
  ) {
    if (signal?.aborted) {
      this.abortedBy = 'caller';
      this.ctl.abort();
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
    this.ctl.abort();
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
