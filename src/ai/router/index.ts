import type { KeelConfig, RouteConfig } from '../../config/schema.ts';
import { KeelError } from '../../errors.ts';
import type { ChatProvider } from '../../providers/types.ts';
import type { Breakers } from './breaker.ts';
import { checkRoutes } from './plan.ts';
import {
  createRouter,
  type LeafTarget,
  type Router,
  type RouterOptions,
  type RouteTarget,
} from './router.ts';

export type { BreakerPermit, BreakerSnapshot, BreakerState, Breakers } from './breaker.ts';
export { breakerStateValue, CircuitBreaker, createBreakers } from './breaker.ts';
export { partialUsage, RouteError } from './errors.ts';
export { type ConfigProblem, checkRoutes, planOrder } from './plan.ts';
export type { LeafTarget, ResolvedRoute, Router, RouterOptions } from './router.ts';
export { createRouter } from './router.ts';
export type { AttemptReport, RouterCallOptions, RouterClock } from './types.ts';
export { seededRandom, systemClock } from './types.ts';
export { estimateChatUsage, UsageMeter } from './usage.ts';

/**
 * Builds a router for every entry of `config.routes` over the chat providers, nested routes
 * included. Throws `config_invalid` listing every bad reference (unknown provider or route, a loop).
 */
export function createRoutes(
  config: Pick<KeelConfig, 'routes' | 'providers'>,
  chat: ReadonlyMap<string, ChatProvider>,
  breakers: Breakers,
  opts: RouterOptions = {},
): Map<string, Router> {
  const problems = checkRoutes(config);
  for (const [name, r] of Object.entries(config.routes)) {
    r.targets.forEach((t, i) => {
      if ('provider' in t && !chat.has(t.provider)) {
        problems.push({
          path: ['routes', name, 'targets', i, 'provider'],
          message: `no chat provider "${t.provider}"`,
        });
      }
    });
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => `  - ${p.path.join('.')}: ${p.message}`);
    throw new KeelError('config_invalid', `Invalid routes:\n${lines.join('\n')}`);
  }
  const built = new Map<string, Router>();
  const build = (name: string): Router => {
    const hit = built.get(name);
    if (hit) return hit;
    const r = config.routes[name] as RouteConfig;
    const targets = r.targets.map((t): LeafTarget | RouteTarget => {
      if ('route' in t) return { kind: 'route', weight: t.weight, router: build(t.route) };
      const provider = chat.get(t.provider)!;
      const pcfg = config.providers[t.provider] as { region?: string } | undefined;
      return {
        kind: 'model',
        key: `${t.provider}/${t.model}`,
        provider,
        model: t.model,
        weight: t.weight,
        timeouts: t.timeouts,
        region: t.region ?? pcfg?.region,
      };
    });
    const router = createRouter({ name, strategy: r.strategy, retries: r.retries, targets }, breakers, opts);
    built.set(name, router);
    return router;
  };
  for (const name of Object.keys(config.routes)) build(name);
  return built;
}
