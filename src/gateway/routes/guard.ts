import type { FastifyInstance } from 'fastify';
import { GuardRegistry } from '../../guard/registry.ts';
import { GuardScanRequestSchema, scanText } from '../../guard/scan.ts';
import { parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

/**
 * `POST /v1/guard/scan`: one text through one stage of a guard profile (or an ad-hoc scanner list),
 * without a model call. Any authenticated key may scan: the answer describes only the caller's own
 * text (findings are spans and types, the transformed text has placeholders), and nothing is stored.
 */
export function guardRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const registry = deps.guard ?? new GuardRegistry({ profiles: deps.config.guardProfiles });
  app.post('/v1/guard/scan', async (req) => {
    const body = parseBody(GuardScanRequestSchema, req.body);
    return scanText(registry, body);
  });
}
