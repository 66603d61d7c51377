import type { KeelConfig, RouteConfig } from '../../config/schema.ts';

/**
 * Route config checks and the order targets are tried in. Kept apart from the streaming loop so
 * config loading can report every bad reference at once, and tests can pin weighted choices.
 */

export interface ConfigProblem {
  path: (string | number)[];
  message: string;
}

/** Problems in `config.routes`: unknown providers or routes, embedder-only providers, cycles. */
export function checkRoutes(config: Pick<KeelConfig, 'routes' | 'providers'>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const routes = config.routes;
  for (const [name, route] of Object.entries(routes)) {
    route.targets.forEach((t, i) => {
      const path = ['routes', name, 'targets', i];
      if ('route' in t) {
        if (!Object.hasOwn(routes, t.route)) {
          problems.push({ path: [...path, 'route'], message: `unknown route "${t.route}"` });
        }
        return;
      }
      const p = t.provider === 'extractive' ? { type: 'extractive' } : config.providers[t.provider];
      if (p === undefined) {
        problems.push({
          path: [...path, 'provider'],
          message: `unknown provider "${t.provider}" (expected one of: ${Object.keys(config.providers).join(', ')})`,
        });
      } else if (p.type === 'hashing' || p.type === 'onnx-embeddings') {
        problems.push({ path: [...path, 'provider'], message: `provider "${t.provider}" only embeds` });
      }
    });
    if (route.strategy === 'weighted' && route.targets.every((t) => t.weight === 0)) {
      problems.push({
        path: ['routes', name, 'targets'],
        message: 'a weighted route needs a target with weight > 0',
      });
    }
  }
  for (const name of Object.keys(routes)) {
    const cycle = findCycle(name, routes, []);
    if (cycle) {
      problems.push({
        path: ['routes', name],
        message: `routes refer to each other in a loop: ${cycle.join(' → ')}`,
      });
    }
  }
  return problems;
}

function findCycle(name: string, routes: Record<string, RouteConfig>, stack: string[]): string[] | undefined {
  if (stack.includes(name)) return stack[0] === name ? [...stack, name] : undefined;
  const r = routes[name];
  if (r === undefined) return undefined;
  for (const t of r.targets) {
    if ('route' in t) {
      const c = findCycle(t.route, routes, [...stack, name]);
      if (c) return c;
    }
  }
  return undefined;
}

/**
 * The order to try `items` in. `fallback`: as configured. `weighted`: a weighted draw without
 * replacement (so a failed pick falls back to the others, in weight order on average); weight-0
 * items only ever serve as the last resort, in configured order.
 */
export function planOrder<T extends { weight: number }>(
  items: readonly T[],
  strategy: 'fallback' | 'weighted',
  random: () => number,
): T[] {
  if (strategy === 'fallback' || items.length < 2) return items.slice();
  const pool = items.filter((t) => t.weight > 0);
  const out: T[] = [];
  let total = 0;
  for (const t of pool) total += t.weight;
  while (pool.length > 0) {
    let x = random() * total;
    let i = 0;
    while (i < pool.length - 1 && x >= pool[i]!.weight) {
      x -= pool[i]!.weight;
      i++;
    }
    const [picked] = pool.splice(i, 1);
    total -= picked!.weight;
    out.push(picked!);
  }
  for (const t of items) if (t.weight === 0) out.push(t);
  return out;
}
