import type { RouteConfig } from '../../config/schema.ts';
import { type KeelError, ProviderError } from '../../errors.ts';
import type { ChatProvider, ChatRequest, StreamPart } from '../../providers/types.ts';
import { type AttemptContext, attempt, type LeafTarget } from './attempt.ts';
import { type RetryPolicy, retryDelay } from './backoff.ts';
import type { Breakers } from './breaker.ts';
import { canFallBack, RouteError } from './errors.ts';
import { planOrder } from './plan.ts';
import { type AttemptReport, type RouterCallOptions, type RouterClock, systemClock } from './types.ts';

export type { LeafTarget } from './attempt.ts';

/**
 * A route: one public model name served by several targets. The router tries them in order (or by
 * weight), retries retryable failures with backoff, skips targets whose breaker is open, and falls
 * back, all before the caller sees anything: it holds back the parts of an attempt until its first
 * content part (text, tool call or finish). Once content is out, a failure ends the stream with a
 * `RouteError` whose `afterFirstByte` is true; nothing is retried then, since the caller already
 * has half an answer.
 */

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

export function createRouter(route: ResolvedRoute, breakers: Breakers, opts: RouterOptions = {}): Router {
  const clock = opts.clock ?? systemClock;
  const estimate = opts.estimateUsage ?? true;

  const report: AttemptContext['report'] = (o, log, a) => {
    log.push(a);
    try {
      o.onAttempt?.(a);
    } catch {
      // A broken trace callback must not break the answer.
    }
  };
  const ctx: AttemptContext = { route: route.name, clock, estimate, report };

  function finalError(
    log: AttemptReport[],
    last: KeelError | undefined,
    retryInMs: number | undefined,
  ): RouteError {
    const common = { route: route.name, attempts: log, afterFirstByte: false };
    if (last === undefined) {
      if (retryInMs !== undefined) {
        return new RouteError(
          'unavailable',
          `Every target of route '${route.name}' is unavailable (circuit open)`,
          {
            ...common,
            retryAfterMs: Math.max(0, retryInMs),
          },
        );
      }
      return new RouteError('unavailable', `Route '${route.name}' has no target in the allowed regions`, {
        ...common,
        retryable: false,
      });
    }
    if (last instanceof RouteError) return last;
    const tries = log.filter((a) => a.outcome !== 'skipped').length;
    return new RouteError(
      last.code,
      `Route '${route.name}' failed after ${tries} attempt(s): ${last.message}`,
      {
        ...common,
        cause: last,
        status: last.status,
        retryable: last.retryable,
        retryAfterMs: last.retryAfterMs,
      },
    );
  }

  async function* run(
    req: ChatRequest,
    o: RouterCallOptions,
    log: AttemptReport[],
  ): AsyncGenerator<StreamPart> {
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
          const s = {
            route: route.name,
            target: t.key,
            provider: t.provider.id,
            model: t.model,
            region: t.region,
          };
          report(o, log, {
            ...s,
            attempt: n,
            startMs: clock.now(),
            durationMs: 0,
            outcome: 'skipped',
            delayMs,
          });
          break;
        }
        const err = yield* attempt(ctx, t, req, o, log, n, delayMs, permit);
        if (err === undefined) return;
        last = err;
        if (!canFallBack(err)) throw finalError(log, err, undefined);
        delayMs = retryDelay(err, n, route.retries, clock.random);
        if (delayMs === undefined) break;
        if (delayMs > 0) {
          try {
            await clock.sleep(delayMs, o.signal);
          } catch {
            throw finalError(
              log,
              new ProviderError('aborted', 'The request was cancelled', { provider: t.provider.id }),
              undefined,
            );
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
