import type { KeelConfig } from '../../config/schema.ts';
import type { ChatProvider } from '../../providers/types.ts';
import { type BreakerState, type Breakers, createBreakers } from './breaker.ts';
import { createRoutes } from './index.ts';
import type { Router, RouterOptions } from './router.ts';

/**
 * The process's routing: one breaker registry shared by every route (a target used by two routes
 * has one health), and a router per `config.routes` entry. Built once at start-up by the runtime.
 */
export interface Routing {
  breakers: Breakers;
  routes: ReadonlyMap<string, Router>;
}

export function createRouting(
  config: Pick<KeelConfig, 'routes' | 'providers' | 'breakers'>,
  chat: ReadonlyMap<string, ChatProvider>,
  opts: RouterOptions = {},
): Routing {
  const breakers = createBreakers(config.breakers);
  const routes = createRoutes(config, chat, breakers, opts);
  // Every target gets its breaker now, so the admin view and the gauge list healthy targets too.
  for (const r of routes.values()) for (const leaf of r.leaves()) breakers.get(leaf.key);
  return { breakers, routes };
}

/** Whether `p` is a route (has targets behind it) rather than one provider. */
export function isRouter(p: ChatProvider): p is Router {
  return typeof (p as Partial<Router>).leaves === 'function';
}

export interface BreakerGauge {
  setBreakerState(target: string, state: BreakerState): void;
}

/**
 * Mirrors every breaker's state into a gauge (`KeelMetrics.setBreakerState`): the current states
 * now, then each change as it happens. Returns a function that stops mirroring.
 */
export function bindBreakerGauge(breakers: Breakers, gauge: BreakerGauge): () => void {
  const stop = breakers.watch((target, _from, to) => gauge.setBreakerState(target, to));
  for (const s of breakers.snapshot()) gauge.setBreakerState(s.target, s.state);
  return stop;
}
