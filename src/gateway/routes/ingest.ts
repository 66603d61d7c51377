import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KeelError } from '../../errors.ts';
import { collectionsOf, documentsOf, removeDocuments } from '../../rag/documents.ts';
import { MAX_TOP_K } from '../../rag/retrieve.ts';
import { requireAdmin } from '../auth.ts';
import { CollectionNameSchema, IngestBodySchema, parseBody, parseQuery } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';
import type { IngestDocumentInput } from '../services.ts';

/** Documents are larger than chat requests; admins may send up to this much per ingest call. */
export const INGEST_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

const DocumentListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
    /** The last id of the previous page. */
    after: z.string().min(1).max(1_000).optional(),
  })
  .strict();

const SearchBodySchema = z.strictObject({
  query: z.string().trim().min(1).max(8_000),
  top_k: z.number().int().min(1).max(MAX_TOP_K).default(10),
  mode: z.enum(['hybrid', 'fts', 'vector']).default('hybrid'),
  /** Chunks whose metadata contains this object. */
  filter: z.record(z.string(), z.unknown()).optional(),
});

/** The collection named in the path, or a 400 naming `name`. */
function collectionParam(raw: string): string {
  const name = CollectionNameSchema.safeParse(raw);
  if (!name.success) {
    throw new KeelError('invalid_request', `Invalid collection name: ${name.error.issues[0]?.message}`, {
      param: 'name',
    });
  }
  return name.data;
}

/**
 * The caller's tenant's collections and their documents: ingest (collections are created on first
 * use), list, delete, and search (what an app over the collection would retrieve). Admin only.
 */
export function ingestRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/v1/collections', { preHandler: requireAdmin }, async (req) => {
    const rows = await collectionsOf(deps, req.principal.tenantId);
    return {
      object: 'list',
      data: rows.map((c) => ({
        object: 'collection',
        name: c.name,
        documents: c.documentCount,
        chunks: c.chunkCount,
        embedder: c.embedder,
        dimensions: c.dimensions,
      })),
    };
  });

  app.get<{ Params: { name: string } }>(
    '/v1/collections/:name/documents',
    { preHandler: requireAdmin },
    async (req) => {
      const collection = collectionParam(req.params.name);
      const { limit, after } = parseQuery(DocumentListQuerySchema, req.query);
      // One more than asked tells whether another page follows.
      const rows = await documentsOf(deps, req.principal.tenantId, collection, { limit: limit + 1, after });
      const page = rows.slice(0, limit);
      return {
        object: 'list',
        data: page.map((d) => ({
          object: 'document',
          id: d.id,
          title: d.title,
          uri: d.uri,
          chunks: d.chunkCount,
          content_hash: d.contentHash,
          updated_at: d.updatedAt.toISOString(),
        })),
        has_more: rows.length > limit,
        last_id: page.at(-1)?.id ?? null,
      };
    },
  );

  app.delete<{ Params: { name: string; id: string } }>(
    '/v1/collections/:name/documents/:id',
    { preHandler: requireAdmin },
    async (req) => {
      const collection = collectionParam(req.params.name);
      const id = req.params.id;
      const deleted = await removeDocuments(deps, req.principal.tenantId, collection, [id]);
      if (deleted.length === 0) {
        throw new KeelError('not_found', `document "${id}" not found in collection "${collection}"`, {
          param: 'id',
        });
      }
      return { object: 'document.deleted', id, collection, deleted: true };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/collections/:name/search',
    { preHandler: requireAdmin },
    async (req) => {
      const collection = collectionParam(req.params.name);
      const body = parseBody(SearchBodySchema, req.body);
      const hits = await deps.ingest
        .search({
          tenantId: req.principal.tenantId,
          collection,
          query: body.query,
          topK: body.top_k,
          mode: body.mode,
          filter: body.filter,
        })
        .catch((e: unknown) => {
          // The collection is the path's `name`, not a body field.
          if (e instanceof KeelError && e.code === 'not_found')
            throw new KeelError('not_found', e.message, { param: 'name' });
          throw e;
        });
      return {
        object: 'list',
        collection,
        query: body.query,
        mode: body.mode,
        data: hits.map((h, i) => ({
          object: 'search.result',
          rank: i + 1,
          score: h.score,
          fts_rank: h.ftsRank ?? null,
          vector_rank: h.vectorRank ?? null,
          chunk_id: h.chunkId,
          document_id: h.externalId,
          title: h.title,
          uri: h.uri,
          heading: h.heading,
          position: h.position,
          text: h.text,
        })),
      };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/collections/:name/documents',
    {
      preHandler: requireAdmin,
      bodyLimit: Math.max(INGEST_BODY_LIMIT_BYTES, deps.config.server.bodyLimitBytes),
    },
    async (req) => {
      const collection = collectionParam(req.params.name);
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
