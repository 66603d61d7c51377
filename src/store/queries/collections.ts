import type { Db, Queryable } from '../db.ts';
import { isSafeId, newId } from '../ids.ts';

export interface CollectionRow {
  id: string;
  tenantId: string;
  name: string;
  embedder: string;
  dimensions: number;
  textConfig: string;
  chunkCount: number;
  totalLength: number;
}

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  embedder: string;
  dimensions: number;
  text_config: string;
  chunk_count: number;
  total_length: number;
}

const COLUMNS = 'id, tenant_id, name, embedder, dimensions, text_config, chunk_count, total_length';

const toCollection = (r: Row): CollectionRow => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  embedder: r.embedder,
  dimensions: Number(r.dimensions),
  textConfig: r.text_config,
  chunkCount: Number(r.chunk_count),
  totalLength: Number(r.total_length),
});

/** The tenant's collections among `names` (missing names are simply absent), with their BM25 statistics. */
export async function findCollections(
  q: Queryable,
  tenantId: string,
  names: string[],
): Promise<CollectionRow[]> {
  const rows = await q.query<Row>(
    `select ${COLUMNS} from collections where tenant_id = $1 and name = any($2)`,
    [tenantId, names],
  );
  return rows.map(toCollection);
}

export async function listCollections(q: Queryable, tenantId: string): Promise<CollectionRow[]> {
  const rows = await q.query<Row>(`select ${COLUMNS} from collections where tenant_id = $1 order by name`, [
    tenantId,
  ]);
  return rows.map(toCollection);
}

/** Name of the per-collection partial HNSW index. */
export function hnswIndexName(collectionId: string): string {
  return `chunks_hnsw_${collectionId}`;
}

/** The `embedding` expression the collection's HNSW index covers; queries must use it verbatim. */
export function embeddingExpr(dimensions: number, alias = ''): string {
  return `(${alias}embedding::vector(${Math.trunc(dimensions)}))`;
}

/**
 * The collection `name` of the tenant, created with its partial HNSW index if missing (one
 * transaction, so a collection never exists without its index). A concurrent creator's row wins.
 */
export async function ensureCollectionRow(
  db: Db,
  spec: { tenantId: string; name: string; embedder: string; dimensions: number; textConfig?: string },
): Promise<CollectionRow> {
  const existing = await findCollections(db, spec.tenantId, [spec.name]);
  if (existing[0]) return existing[0];
  const id = newId('col');
  // The id is generated and checked, so inlining it lets the planner match the partial index.
  if (!isSafeId(id)) throw new Error(`unsafe collection id ${id}`);
  const dims = Math.trunc(spec.dimensions);
  return db.transaction(async (tx) => {
    const inserted = await tx.query<Row>(
      `insert into collections (id, tenant_id, name, embedder, dimensions, text_config)
       values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, name) do nothing returning ${COLUMNS}`,
      [id, spec.tenantId, spec.name, spec.embedder, dims, spec.textConfig ?? 'english'],
    );
    if (!inserted[0]) {
      const row = (await findCollections(tx, spec.tenantId, [spec.name]))[0];
      if (!row) throw new Error(`collection ${spec.name} vanished while being created`);
      return row;
    }
    await tx.exec(
      `create index ${hnswIndexName(id)} on chunks using hnsw (${embeddingExpr(dims)} vector_cosine_ops) where collection_id = '${id}'`,
    );
    return toCollection(inserted[0]);
  });
}

/** Takes the collection's write lock for the rest of the transaction: ingests into one collection serialise. */
export async function lockCollection(tx: Queryable, collectionId: string): Promise<void> {
  await tx.query('select 1 from collections where id = $1 for update', [collectionId]);
}
