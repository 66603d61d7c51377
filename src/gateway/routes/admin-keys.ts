import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { getKey, listKeys, revokeKey } from '../../store/queries/keys.ts';
import { getTenant } from '../../store/queries/tenants.ts';
import { issueKey, keyView } from '../api-keys.ts';
import { requireAdmin } from '../auth.ts';
import { CreateKeyBodySchema, parseBody, parseQuery } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

const ListKeysQuerySchema = z.strictObject({
  tenant: z.string().min(1).optional(),
  include_revoked: z.enum(['true', 'false']).optional(),
});

/**
 * Key management for admins. Admin keys manage every tenant's keys (`tenant` names the target
 * tenant, created on first use). A revocation is immediate on this replica and reaches others
 * within `server.keyCacheTtlMs`.
 */
export function adminKeyRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const opts = { preHandler: requireAdmin };

  app.post('/v1/admin/keys', opts, async (req, reply) => {
    const body = parseBody(CreateKeyBodySchema, req.body);
    const { info, key } = await issueKey(deps.db, {
      tenant: body.tenant,
      user: body.user,
      name: body.name,
      role: body.role,
      allowedModels: body.allowed_models,
    });
    reply.code(201);
    return { ...keyView(info), key };
  });

  app.get('/v1/admin/keys', opts, async (req) => {
    const query = parseQuery(ListKeysQuerySchema, req.query);
    let tenantId: string | undefined;
    if (query.tenant !== undefined) {
      const tenant = await getTenant(deps.db, query.tenant);
      if (!tenant) return { object: 'list', data: [] };
      tenantId = tenant.id;
    }
    const keys = await listKeys(deps.db, { tenantId, includeRevoked: query.include_revoked !== 'false' });
    return { object: 'list', data: keys.map(keyView) };
  });

  app.delete<{ Params: { id: string } }>('/v1/admin/keys/:id', opts, async (req) => {
    const { id } = req.params;
    if (!(await revokeKey(deps.db, id))) throw new KeelError('not_found', `No API key with id '${id}'`);
    deps.auth.invalidateKey(id);
    const info = await getKey(deps.db, id);
    return { ...(info ? keyView(info) : { id }), revoked: true };
  });
}
