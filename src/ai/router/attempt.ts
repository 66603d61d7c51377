import { type KeelError, ProviderError } from '../../errors.ts';
import type { ChatProvider, ChatRequest, StreamPart } from '../../providers/types.ts';
import type { BreakerPermit } from './breaker.ts';
import { asKeelError, isTargetFailure, RouteError } from './errors.ts';
import type { AttemptReport, RouterCallOptions, RouterClock } from './types.ts';
import { UsageMeter } from './usage.ts';

export interface LeafTarget {
  kind: 'model';
  /** `<provider>/<model>`: the breaker key and the name in attempt reports. */
  key: string;
  provider: ChatProvider;
  model: string;
  weight: number;
  timeouts: { connectMs?: number; firstByteMs?: number; totalMs?: number } | undefined;
  region: string | undefined;
}

export interface AttemptContext {
  route: string;
  clock: RouterClock;
  /** Append an estimated usage part when the upstream reports none. */
  estimate: boolean;
  report(o: RouterCallOptions, log: AttemptReport[], a: AttemptReport): void;
}

function isContent(p: StreamPart): boolean {
  return (
    (p.type === 'text-delta' && p.text.length > 0) || p.type === 'tool-call-delta' || p.type === 'finish'
  );
}

function errorInfo(e: KeelError): NonNullable<AttemptReport['error']> {
  return { code: e.code, message: e.message, status: e.status, retryable: e.retryable };
}

/**
 * One call of one target. Parts are held back until the first content part, then passed through.
 * Returns undefined on success and the error when the call failed before content (the router may
 * retry or fall back); throws a `RouteError` with `afterFirstByte` when it failed after.
 */
export async function* attempt(
  ctx: AttemptContext,
  t: LeafTarget,
  req: ChatRequest,
  o: RouterCallOptions,
  log: AttemptReport[],
  n: number,
  delayMs: number | undefined,
  permit: BreakerPermit,
): AsyncGenerator<StreamPart, KeelError | undefined> {
  const startMs = ctx.clock.now();
  const base = {
    route: ctx.route,
    target: t.key,
    provider: t.provider.id,
    model: t.model,
    region: t.region,
  };
  const ctl = new AbortController();
  let timedOut: string | undefined;
  const expire = (why: string) => () => {
    timedOut ??= why;
    ctl.abort();
  };
  const onCaller = () => ctl.abort(o.signal?.reason);
  if (o.signal?.aborted) ctl.abort(o.signal.reason);
  else o.signal?.addEventListener('abort', onCaller, { once: true });
  const to = t.timeouts;
  // From outside a provider, connecting and waiting for the first token are one wait.
  const firstMs = to?.firstByteMs === undefined ? undefined : (to.connectMs ?? 0) + to.firstByteMs;
  let cancelFirst =
    firstMs === undefined
      ? undefined
      : ctx.clock.timer(firstMs, expire(`sent no content within ${firstMs} ms`));
  const cancelTotal =
    to?.totalMs === undefined
      ? undefined
      : ctx.clock.timer(to.totalMs, expire(`did not finish within ${to.totalMs} ms`));
  const sub: ChatRequest = req.model === t.model ? req : { ...req, model: t.model };
  const meter = ctx.estimate ? new UsageMeter(sub) : undefined;
  const held: StreamPart[] = [];
  let committed = false;
  let settled = false;
  let ttftMs: number | undefined;
  let it: AsyncIterator<StreamPart> | undefined;
  try {
    it = t.provider
      .stream(sub, {
        signal: ctl.signal,
        timeouts: to && { firstByteMs: to.firstByteMs, totalMs: to.totalMs },
        streamUpstream: o.streamUpstream,
      })
      [Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const p = r.value;
      meter?.observe(p);
      if (committed) {
        yield p;
      } else if (isContent(p)) {
        committed = true;
        ttftMs = ctx.clock.now() - startMs;
        cancelFirst?.();
        cancelFirst = undefined;
        for (const h of held) yield h;
        held.length = 0;
        yield p;
      } else held.push(p);
    }
    committed = true;
    for (const h of held) yield h;
    let usage = meter?.reportedUsage;
    if (meter && usage === undefined) {
      usage = meter.usage();
      yield { type: 'usage', usage };
    }
    settled = true;
    permit.success();
    ctx.report(o, log, {
      ...base,
      attempt: n,
      startMs,
      durationMs: ctx.clock.now() - startMs,
      ttftMs,
      outcome: 'ok',
      usage,
      delayMs,
    });
    return undefined;
  } catch (e) {
    settled = true;
    const err: KeelError = o.signal?.aborted
      ? new ProviderError('aborted', 'The request was cancelled', { provider: t.provider.id })
      : timedOut !== undefined
        ? new ProviderError('upstream_timeout', `Upstream ${t.provider.id} ${timedOut}`, {
            provider: t.provider.id,
          })
        : asKeelError(e, t.provider.id);
    if (isTargetFailure(err)) permit.failure();
    else permit.release();
    const usage = committed ? meter?.usage() : undefined;
    ctx.report(o, log, {
      ...base,
      attempt: n,
      startMs,
      durationMs: ctx.clock.now() - startMs,
      ttftMs,
      outcome: err.code === 'aborted' ? 'aborted' : 'error',
      error: errorInfo(err),
      afterFirstByte: committed,
      usage,
      delayMs,
    });
    if (!committed) return err;
    throw new RouteError(err.code, err.message, {
      route: ctx.route,
      attempts: log,
      afterFirstByte: true,
      cause: err,
      status: err.status,
      retryable: false,
      usage,
    });
  } finally {
    cancelFirst?.();
    cancelTotal?.();
    o.signal?.removeEventListener('abort', onCaller);
    if (!settled) {
      // The caller stopped reading: cancel the upstream call; the target did nothing wrong.
      ctl.abort();
      permit.release();
      ctx.report(o, log, {
        ...base,
        attempt: n,
        startMs,
        durationMs: ctx.clock.now() - startMs,
        ttftMs,
        outcome: 'aborted',
        delayMs,
      });
    }
    if (!settled || !committed) void it?.return?.()?.catch(() => undefined);
  }
}
