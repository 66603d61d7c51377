import type { FastifyInstance } from 'fastify';
import type { BreakerSnapshot } from '../../ai/router/breaker.ts';
import type { Routing } from '../../ai/router/wiring.ts';
import { requireAdmin } from '../auth.ts';
import type { GatewayDeps } from '../server.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function view(s: BreakerSnapshot, routes: readonly string[], now: number) {
  return {
    target: s.target,
    state: s.state,
    routes,
    consecutive_failures: s.consecutiveFailures,
    window_requests: s.windowRequests,
    window_failures: s.windowFailures,
    opens: s.opens,
    opened_at: iso(s.openedAt),
    /** When an open circuit lets its next probe through. */
    probe_at: iso(s.probeAt),
    retry_in_ms: s.probeAt === undefined ? 0 : Math.max(0, s.probeAt - now),
  };
}

/** The routes that reach each target, so an operator sees what an open circuit affects. */
function routesByTarget(routing: Routing): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, r] of routing.routes) {
    for (const leaf of r.leaves()) {
      const list = out.get(leaf.key) ?? [];
      if (!list.includes(name)) list.push(name);
      out.set(leaf.key, list);
    }
  }
  return out;
}

/**
 * `GET /v1/admin/breakers` (admin): every route target's circuit breaker as this replica sees it
 * (breakers are per process: each replica learns a target's health from its own calls).
 */
export function adminBreakerRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const routing = deps.routing;
  const targets = routing ? routesByTarget(routing) : new Map<string, string[]>();
  app.get('/v1/admin/breakers', { preHandler: requireAdmin }, async () => {
    const now = Date.now();
    const data = (routing?.breakers.snapshot() ?? []).map((s) => view(s, targets.get(s.target) ?? [], now));
    return { object: 'list', data };
  });
}
