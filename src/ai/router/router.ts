import type { RouteConfig } from '../../config/schema.ts';
import { KeelError, ProviderError } from '../../errors.ts';
import type { ChatProvider, ChatRequest, StreamPart } from '../../providers/types.ts';
import { type RetryPolicy, retryDelay } from './backoff.ts';
import type { Breakers, BreakerPermit } from './breaker.ts';
import { asKeelError, canFallBack, isTargetFailure, RouteError } from './errors.ts';
import { planOrder } from './plan.ts';
import { type AttemptReport, type RouterCallOptions, type RouterClock, systemClock } from './types.ts';
import { UsageMeter } from './usage.ts';

/**
 * A route: one public model name served by several targets. The router tries them in order (or by
 * weight), retries retryable failures with backoff, skips targets whose breaker is open, and falls
 * back, all before the caller sees anything: it holds back the parts of an attempt until its first
 * content part (text, tool call or finish). Once content is out, a failure ends the stream with a
 * `RouteError` whose `afterFirstByte` is true; nothing is retried then, since the caller already
 * has half an answer.
 */

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

export interface RouteTarget {
  kind: 'route';
  weight: number;
  router: Router;
}

export interface Router extends ChatProvider {
  /** `route:<name>`. */
  readonly id: string;
  readonly name: string;
  /** Ignores `req.model`: each target names its own upstream model. */
  stream(req: ChatRequest, opts?: RouterCallOptions): AsyncIterable<StreamPart>;
  /** Every model target this route can reach, nested routes included. */
  leaves(): LeafTarget[];
}

export interface RouterOptions {
  clock?: RouterClock;
  /** Append an estimated usage part when the upstream reports none (default true). */
  estimateUsage?: boolean;
}

export interface ResolvedRoute {
  name: string;
  strategy: RouteConfig['strategy'];
  retries: RetryPolicy;
  targets: (LeafTarget | RouteTarget)[];
}

const RUN = Symbol('run');

interface InternalRouter extends Router {
  [RUN](req: ChatRequest, o: RouterCallOptions, log: AttemptReport[]): AsyncGenerator<StreamPart>;
}

function isContent(p: StreamPart): boolean {
  return (p.type === 'text-delta' && p.text.length > 0) || p.type === 'tool-call-delta' || p.type === 'finish';
}

function errorInfo(e: KeelError): NonNullable<AttemptReport['error']> {
  return { code: e.code, message: e.message, status: e.status, retryable: e.retryable };
}

export function createRouter(route: ResolvedRoute, breakers: Breakers, opts: RouterOptions = {}): Router {
  const clock = opts.clock ?? systemClock;
  const estimate = opts.estimateUsage ?? true;

  const report = (o: RouterCallOptions, log: AttemptReport[], a: AttemptReport) => {
    log.push(a);
    try {
      o.onAttempt?.(a);
    } catch {
      // A broken trace callback must not break the answer.
    }
  };

  /** One call of one target. Returns undefined on success, the error when it failed before content. */
  async function* attempt(
    t: LeafTarget,
    req: ChatRequest,
    o: RouterCallOptions,
    log: AttemptReport[],
    n: number,
    delayMs: number | undefined,
    permit: BreakerPermit,
  ): AsyncGenerator<StreamPart, KeelError | undefined> {
    const startMs = clock.now();
    const base = { route: route.name, target: t.key, provider: t.provider.id, model: t.model, region: t.region };
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
      firstMs === undefined ? undefined : clock.timer(firstMs, expire(`sent no content within ${firstMs} ms`));
    const cancelTotal =
      to?.totalMs === undefined ? undefined : clock.timer(to.totalMs, expire(`did not finish within ${to.totalMs} ms`));
    const sub: ChatRequest = req.model === t.model ? req : { ...req, model: t.model };
    const meter = estimate ? new UsageMeter(sub) : undefined;
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
          ttftMs = clock.now() - startMs;
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
      report(o, log, { ...base, attempt: n, startMs, durationMs: clock.now() - startMs, ttftMs, outcome: 'ok', usage, delayMs });
      return undefined;
    } catch (e) {
      settled = true;
      const err: KeelError = o.signal?.aborted
        ? new ProviderError('aborted', 'The request was cancelled', { provider: t.provider.id })
        : timedOut !== undefined
          ? new ProviderError('upstream_timeout', `Upstream ${t.provider.id} ${timedOut}`, { provider: t.provider.id })
          : asKeelError(e, t.provider.id);
      if (isTargetFailure(err)) permit.failure();
      else permit.release();
      const usage = committed ? meter?.usage() : undefined;
      report(o, log, {
        ...base,
        attempt: n,
        startMs,
        durationMs: clock.now() - startMs,
        ttftMs,
        outcome: err.code === 'aborted' ? 'aborted' : 'error',
        error: errorInfo(err),
        afterFirstByte: committed,
        usage,
        delayMs,
      });
      if (!committed) return err;
      throw new RouteError(err.code, err.message, {
        route: route.name,
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
        report(o, log, { ...base, attempt: n, startMs, durationMs: clock.now() - startMs, ttftMs, outcome: 'aborted', delayMs });
      }
      if (!settled || !committed) void it?.return?.()?.catch(() => undefined);
    }
  }

  function finalError(log: AttemptReport[], last: KeelError | undefined, retryInMs: number | undefined): RouteError {
    const common = { route: route.name, attempts: log, afterFirstByte: false };
    if (last === undefined) {
      if (retryInMs !== undefined) {
        return new RouteError('unavailable', `Every target of route '${route.name}' is unavailable (circuit open)`, {
          ...common,
          retryAfterMs: Math.max(0, retryInMs),
        });
      }
      return new RouteError('unavailable', `Route '${route.name}' has no target in the allowed regions`, {
        ...common,
        retryable: false,
      });
    }
    if (last instanceof RouteError) return last;
    const tries = log.filter((a) => a.outcome !== 'skipped').length;
    return new RouteError(last.code, `Route '${route.name}' failed after ${tries} attempt(s): ${last.message}`, {
      ...common,
      cause: last,
      status: last.status,
      retryable: last.retryable,
      retryAfterMs: last.retryAfterMs,
    });
  }

  async function* run(req: ChatRequest, o: RouterCallOptions, log: AttemptReport[]): AsyncGenerator<StreamPart> {
    let last: KeelError | undefined;
    let retryInMs: number | undefined;
    for (const t of planOrder(route.targets, route.strategy, clock.random)) {
      if (t.kind === 'route') {
        try {
          yield* (t.router as InternalRouter)[RUN](req, o, log);
          return;
        } catch (e) {
          if (!(e instanceof RouteError) || e.afterFirstByte || !canFallBack(e)) throw e;
          last = e;
          if (e.code === 'unavailable' && e.retryAfterMs !== undefined) {
            retryInMs = Math.min(retryInMs ?? e.retryAfterMs, e.retryAfterMs);
          }
          continue;
        }
      }
      if (o.regions !== undefined && !o.regions.includes(t.region ?? '')) continue;
      const breaker = breakers.get(t.key);
      let delayMs: number | undefined;
      for (let n = 0; ; n++) {
        const permit = breaker.acquire();
        if (permit === undefined) {
          const wait = breaker.retryInMs();
          retryInMs = Math.min(retryInMs ?? wait, wait);
          const s = { route: route.name, target: t.key, provider: t.provider.id, model: t.model, region: t.region };
          report(o, log, { ...s, attempt: n, startMs: clock.now(), durationMs: 0, outcome: 'skipped', delayMs });
          break;
        }
        const err = yield* attempt(t, req, o, log, n, delayMs, permit);
        if (err === undefined) return;
        last = err;
        if (!canFallBack(err)) throw finalError(log, err, undefined);
        delayMs = retryDelay(err, n, route.retries, clock.random);
        if (delayMs === undefined) break;
        if (delayMs > 0) {
          try {
            await clock.sleep(delayMs, o.signal);
          } catch {
            throw finalError(log, new ProviderError('aborted', 'The request was cancelled', { provider: t.provider.id }), undefined);
          }
        }
      }
    }
    throw finalError(log, last, retryInMs);
  }

  const router: InternalRouter = {
    id: `route:${route.name}`,
    name: route.name,
    stream(req, o = {}) {
      return run(req, o, []);
    },
    [RUN]: run,
    leaves() {
      return route.targets.flatMap((t) => (t.kind === 'model' ? [t] : t.router.leaves()));
    },
  };
  return router;
}
