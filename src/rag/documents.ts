import { KeelError } from '../errors.ts';
import { type CollectionRow, findCollections, listCollections } from '../store/queries/collections.ts';
import { type DocumentSummary, deleteDocuments, listDocuments } from '../store/queries/documents.ts';
import type { RagDeps } from './types.ts';

export type { DocumentSummary } from '../store/queries/documents.ts';

/** The tenant's collection `name`; an unknown name is a `not_found` (param `name`). */
async function collectionNamed(
  deps: Pick<RagDeps, 'db'>,
  tenantId: string,
  name: string,
): Promise<CollectionRow> {
  const row = (await findCollections(deps.db, tenantId, [name]))[0];
  if (!row) throw new KeelError('not_found', `collection "${name}" not found`, { param: 'name' });
  return row;
}

/** The tenant's collections with their document and chunk counts. */
export async function collectionsOf(
  deps: Pick<RagDeps, 'db'>,
  tenantId: string,
): Promise<Array<CollectionRow & { documentCount: number }>> {
  const rows = await listCollections(deps.db, tenantId);
  if (rows.length === 0) return [];
  const counts = await deps.db.query<{ collection_id: string; n: number }>(
    'select collection_id, count(*)::int as n from documents where collection_id = any($1) group by collection_id',
    [rows.map((r) => r.id)],
  );
  const byId = new Map(counts.map((c) => [c.collection_id, Number(c.n)]));
  return rows.map((r) => ({ ...r, documentCount: byId.get(r.id) ?? 0 }));
}

/** One page of a collection's documents, in id order. */
export async function documentsOf(
  deps: Pick<RagDeps, 'db'>,
  tenantId: string,
  collection: string,
  opts: { limit: number; after?: string | undefined },
): Promise<DocumentSummary[]> {
  const col = await collectionNamed(deps, tenantId, collection);
  return listDocuments(deps.db, col.id, opts);
}

/**
 * Deletes documents of a collection with their chunks, in one transaction: retrieval stops finding
 * them at once, and the BM25 statistics no longer count them. Returns the ids that existed.
 */
export async function removeDocuments(
  deps: Pick<RagDeps, 'db'>,
  tenantId: string,
  collection: string,
  ids: string[],
): Promise<string[]> {
  const col = await collectionNamed(deps, tenantId, collection);
  return deps.db.transaction((tx) => deleteDocuments(tx, col.id, ids));
}
