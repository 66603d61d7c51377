import type { FastifyInstance } from 'fastify';
import type { ModelInfo } from '../../ai/service.ts';
import { KeelError } from '../../errors.ts';
import type { Principal } from '../auth.ts';
import type { GatewayDeps } from '../server.ts';

const CREATED = Math.floor(Date.now() / 1000);

function modelObject(m: ModelInfo): Record<string, unknown> {
  return {
    id: m.id,
    object: 'model',
    created: CREATED,
    owned_by: m.ownedBy,
    keel: { kind: m.kind, ...(m.description ? { description: m.description } : {}) },
  };
}

/**
 * The apps, aliases, built-in and upstream models this key may use. A key with an allow-list sees
 * exactly the names on it (pass-through names included, even when the upstream does not list them).
 */
async function visibleModels(deps: GatewayDeps, p: Principal): Promise<ModelInfo[]> {
  const listed = await deps.ai.models();
  // The tenant's allow-list (src/gateway/policy) narrows what any of its keys sees.
  const tenantAllowed = deps.policy?.book.resolve(p, null).allowedModels;
  const all = tenantAllowed ? listed.filter((m) => tenantAllowed.includes(m.id)) : listed;
  if (!p.allowedModels) return all;
  const allowed = new Set(p.allowedModels);
  const out = all.filter((m) => allowed.has(m.id));
  const known = new Set(all.map((m) => m.id));
  for (const id of p.allowedModels) {
    if (tenantAllowed && !tenantAllowed.includes(id)) continue;
    if (!known.has(id)) out.push({ id, kind: 'model', ownedBy: deps.config.passthroughProvider ?? 'keel' });
  }
  return out;
}

export function modelRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/v1/models', async (req) => ({
    object: 'list',
    data: (await visibleModels(deps, req.principal)).map(modelObject),
  }));

  app.get<{ Params: { id: string } }>('/v1/models/*', async (req) => {
    const id = (req.params as Record<string, string>)['*'] ?? '';
    const m = (await visibleModels(deps, req.principal)).find((x) => x.id === id);
    if (!m) throw new KeelError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
    return modelObject(m);
  });
}
