import { KeelError } from '../errors.ts';
import { type CollectionRow, ensureCollectionRow, findCollections } from '../store/queries/collections.ts';
import type { RagDeps } from './types.ts';

export type { CollectionRow } from '../store/queries/collections.ts';

/** The embedder's output dimension: declared, or learnt from one probe embedding. */
export async function embedderDimensions(deps: Pick<RagDeps, 'embedder'>): Promise<number> {
  if (deps.embedder.dimensions) return deps.embedder.dimensions;
  const probe = await deps.embedder.embed(['dimension probe']);
  const dims = probe.vectors[0]?.length;
  if (!dims) throw new KeelError('internal_error', `embedder ${deps.embedder.id} returned no vector`);
  return dims;
}

/**
 * The tenant's collection `name`, created on first use with the configured embedder, its dimension
 * and its partial HNSW index. `dimensions` may be passed when already known (from embeddings just made).
 */
export async function ensureCollection(
  deps: RagDeps,
  tenantId: string,
  name: string,
  dimensions?: number,
): Promise<CollectionRow> {
  const existing = (await findCollections(deps.db, tenantId, [name]))[0];
  if (existing) {
    assertEmbedder(deps, existing);
    return existing;
  }
  const row = await ensureCollectionRow(deps.db, {
    tenantId,
    name,
    embedder: deps.rag.embedder,
    dimensions: dimensions ?? (await embedderDimensions(deps)),
  });
  assertEmbedder(deps, row);
  return row;
}

/** The named collections of the tenant, in the order given; an unknown name is a `not_found`. */
export async function resolveCollections(
  deps: RagDeps,
  tenantId: string,
  names: string[],
): Promise<CollectionRow[]> {
  const unique = [...new Set(names)];
  const rows = await findCollections(deps.db, tenantId, unique);
  const byName = new Map(rows.map((r) => [r.name, r]));
  return unique.map((n) => {
    const row = byName.get(n);
    if (!row) throw new KeelError('not_found', `collection "${n}" not found`, { param: 'collections' });
    return row;
  });
}

/**
 * Vectors of different embedders (or dimensions) are not comparable: a collection is searched and
 * extended only with the embedder it was built with.
 */
export function assertEmbedder(deps: RagDeps, col: CollectionRow): void {
  const dims = deps.embedder.dimensions;
  if (col.embedder !== deps.rag.embedder || (dims !== undefined && dims !== col.dimensions)) {
    throw new KeelError(
      'invalid_request',
      `collection "${col.name}" was built with embedder "${col.embedder}" (${col.dimensions} dimensions), ` +
        `but the configured embedder is "${deps.rag.embedder}"${dims ? ` (${dims} dimensions)` : ''}; ` +
        're-create the collection to switch embedders',
      { param: 'collection' },
    );
  }
}
