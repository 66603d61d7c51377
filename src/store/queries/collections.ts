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

function hnswIndexDdl(collectionId: string, dimensions: number, concurrently: boolean): string {
  if (!isSafeId(collectionId)) throw new Error(`unsafe collection id ${collectionId}`);
  return `create index ${concurrently ? 'concurrently if not exists ' : ''}${hnswIndexName(collectionId)} on chunks
    using hnsw (${embeddingExpr(dimensions)} vector_cosine_ops) where collection_id = '${collectionId}'`;
}

/**
 * Drops the collection's HNSW index ahead of a bulk load: pgvector builds a graph over existing rows
 * several times faster than it inserts them one by one. Reads keep working meanwhile (exact scans).
 * Concurrently, so neither step blocks other collections' reads or writes on PostgreSQL.
 */
export async function dropHnswIndex(db: Db, collectionId: string): Promise<void> {
  if (!isSafeId(collectionId)) throw new Error(`unsafe collection id ${collectionId}`);
  await db.exec(`drop index concurrently if exists ${hnswIndexName(collectionId)}`);
}

/**
 * Makes sure the collection's HNSW index exists and is valid, (re)building it when a bulk load
 * dropped it or a crash left it missing or half-built. A no-op catalog look-up otherwise.
 */
export async function ensureHnswIndex(
  db: Db,
  collection: { id: string; dimensions: number },
): Promise<boolean> {
  const name = hnswIndexName(collection.id);
  const [row] = await db.query<{ valid: boolean | null }>(
    'select (select indisvalid from pg_index where indexrelid = to_regclass($1)) as valid',
    [name],
  );
  if (row?.valid === true) return false;
  if (row?.valid === false) await dropHnswIndex(db, collection.id);
  try {
    await db.exec(hnswIndexDdl(collection.id, collection.dimensions, true));
  } catch (e) {
    // A concurrent builder may have won; anything else leaves no half-built index behind.
    const [again] = await db.query<{ valid: boolean | null }>(
      'select (select indisvalid from pg_index where indexrelid = to_regclass($1)) as valid',
      [name],
    );
    if (again?.valid !== true) {
      await dropHnswIndex(db, collection.id).catch(() => undefined);
      throw e;
    }
  }
  return true;
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
    await tx.exec(hnswIndexDdl(id, dims, false));
    return toCollection(inserted[0]);
  });
}

/** Takes the collection's write lock for the rest of the transaction: ingests into one collection serialise. */
export async function lockCollection(tx: Queryable, collectionId: string): Promise<void> {
  await tx.query('select 1 from collections where id = $1 for update', [collectionId]);
}
