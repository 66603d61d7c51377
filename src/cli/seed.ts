import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ingestPaths } from '../rag/ingest-files.ts';
import { listCollections } from '../store/queries/collections.ts';
import type { Keel } from './client.ts';

/** Keel's own user documentation, shipped with the package. */
export const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));

/**
 * On the first start of an empty store, ingests Keel's docs into collection `default`, so the
 * default app can answer "how do I create an API key?" before the user has ingested anything.
 */
export async function seedDocs(keel: Keel, log: (line: string) => void): Promise<void> {
  if (!existsSync(DOCS_DIR)) return;
  const tenantId = keel.defaultTenantId;
  if ((await listCollections(keel.db, tenantId)).length > 0) return;
  const s = await ingestPaths(keel.rag, { tenantId, collection: 'default', paths: [DOCS_DIR] });
  log(
    `new store: ingested Keel's docs (${s.documents} documents, ${s.chunks} chunks) into collection "default"; ` +
      'try: keel ask "how do I create an API key?"',
  );
  for (const e of s.errors) log(`warning: could not ingest ${e.uri}: ${e.message}`);
}
