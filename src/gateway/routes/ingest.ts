import type { FastifyInstance } from 'fastify';
import { KeelError } from '../../errors.ts';
import { requireAdmin } from '../auth.ts';
import { CollectionNameSchema, IngestBodySchema, parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';
import type { IngestDocumentInput } from '../services.ts';

/** Documents are larger than chat requests; admins may send up to this much per ingest call. */
export const INGEST_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

/** Ingest into one of the caller's tenant's collections (created on first use). Admin only. */
export function ingestRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Params: { name: string } }>(
    '/v1/collections/:name/documents',
    {
      preHandler: requireAdmin,
      bodyLimit: Math.max(INGEST_BODY_LIMIT_BYTES, deps.config.server.bodyLimitBytes),
    },
    async (req) => {
      const name = CollectionNameSchema.safeParse(req.params.name);
      if (!name.success) {
        throw new KeelError('invalid_request', `Invalid collection name: ${name.error.issues[0]?.message}`, {
          param: 'name',
        });
      }
      const collection = name.data;
      const body = parseBody(IngestBodySchema, req.body);
      const documents: IngestDocumentInput[] = body.documents.map((d) => ({
        id: d.id,
        title: d.title,
        uri: d.uri,
        format: d.format,
        text: d.text,
        content: d.content_base64 === undefined ? undefined : Buffer.from(d.content_base64, 'base64'),
        metadata: d.metadata,
      }));
      const summary = await deps.ingest.ingest({ tenantId: req.principal.tenantId, collection, documents });
      return { object: 'ingest.summary', collection, ...summary };
    },
  );
}
