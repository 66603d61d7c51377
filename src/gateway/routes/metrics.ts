import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { KeelError } from '../../errors.ts';
import type { GatewayDeps } from '../server.ts';

function tokenMatches(header: string | undefined, token: string): boolean {
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * `GET /metrics`: the Prometheus exposition of Keel's registry (src/telemetry/metrics.ts). Public
 * like `/healthz` so a scraper needs no Keel key, unless `telemetry.metricsToken` is set. Traces
 * waiting in the hub's current batch are observed first, so a scrape right after a request sees it.
 */
export function metricsRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const m = deps.monitoring;
  if (!m?.metrics) return;
  const metrics = m.metrics;
  app.get('/metrics', async (req, reply) => {
    if (m.metricsToken !== undefined && !tokenMatches(req.headers.authorization, m.metricsToken)) {
      throw new KeelError(
        'invalid_api_key',
        'GET /metrics needs "Authorization: Bearer <telemetry.metricsToken>"',
      );
    }
    m.observePending();
    const text = await metrics.metrics();
    reply.header('cache-control', 'no-store').type(metrics.contentType);
    return text;
  });
}
