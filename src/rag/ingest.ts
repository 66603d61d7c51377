import { KeelError } from '../errors.ts';
import { vectorLiteral } from '../store/queries/chunks.ts';
import {
  type CollectionRow,
  dropHnswIndex,
  ensureHnswIndex,
  findCollections,
} from '../store/queries/collections.ts';
import {
  type ChunkWrite,
  type DocumentWrite,
  documentHashes,
  type WriteStatus,
  writeDocuments,
} from '../store/queries/documents.ts';
import { chunkDocument, indexText } from './chunk.ts';
import { assertEmbedder, ensureCollection } from './collections.ts';
import { contentHash } from './content-hash.ts';
import { parseDocument } from './parse/index.ts';
import type { Chunk, DocumentInput, IngestError, IngestProgress, IngestSummary, RagDeps } from './types.ts';

export interface IngestOptions {
  tenantId: string;
  /** Collection name; created on first use. */
  collection: string;
  onProgress?: ((p: IngestProgress) => void) | undefined;
  /** Stops between documents; documents already written stay written. */
  signal?: AbortSignal | undefined;
}

/** An input that failed before it became a document (unreadable file, bad JSONL line). */
export interface InputError {
  error: IngestError;
}
export type IngestItem = DocumentInput | InputError;

// Raw documents handled per round: one hash look-up, then embedding across documents in batches.
const GROUP_DOCS = 64;
const ANALYZE_AFTER_CHUNKS = 500;
// Documents in a first load that make building the vector index afterwards worth it.
const BULK_MIN_DOCS = 200;

interface Prepared {
  input: DocumentInput;
  hash: string;
  title: string;
  chunks: Chunk[];
  vectors: number[][];
  failed?: string;
}

/**
 * Ingests documents into a collection. Per document: a content hash (content, format, title, uri,
 * metadata, chunking settings, embedder) that matches the stored one means nothing is written;
 * otherwise it is parsed, chunked and embedded (in batches, before any transaction opens), then its
 * old chunks are replaced in one transaction (shared by the documents of a batch of 64; if it
 * fails, each document is retried in its own). A document that fails anywhere is reported in
 * `errors` and leaves nothing behind; the others go on.
 */
export async function ingestDocuments(
  deps: RagDeps,
  opts: IngestOptions & { documents: DocumentInput[] },
): Promise<IngestSummary> {
  return ingestItems(deps, opts, opts.documents, opts.documents.length);
}

/** The engine behind every entry point: consumes documents (or input errors) from any source. */
export async function ingestItems(
  deps: RagDeps,
  opts: IngestOptions,
  items: Iterable<IngestItem> | AsyncIterable<IngestItem>,
  knownTotal = 0,
): Promise<IngestSummary> {
  const run = new IngestRun(deps, opts, knownTotal);
  let ok = false;
  try {
    let group: DocumentInput[] = [];
    for await (const item of items) {
      if ('error' in item) {
        run.fail(item.error.uri, item.error.message);
        continue;
      }
      group.push(item);
      if (group.length >= GROUP_DOCS) {
        await run.group(group, true);
        group = [];
      }
    }
    if (group.length > 0) await run.group(group, false);
    ok = true;
  } finally {
    // Always restore the index; a failure doing so must not hide the error that ended the run.
    await run.finish().catch((e: unknown) => {
      if (ok) throw e;
    });
  }
  return run.summary;
}

class IngestRun {
  readonly summary: IngestSummary = {
    documents: 0,
    chunks: 0,
    unchanged: 0,
    skipped: 0,
    skippedFiles: [],
    errors: [],
  };
  #collection: CollectionRow | undefined;
  #looked = false;
  #seen = new Set<string>();
  #more = false;
  /** undefined until the first write decides; true while the HNSW index is dropped for a bulk load. */
  #bulk: boolean | undefined;
  #done = 0;

  constructor(
    readonly deps: RagDeps,
    readonly opts: IngestOptions,
    public total: number,
  ) {}

  fail(uri: string, message: string): void {
    this.summary.errors.push({ uri, message });
    this.#progress(uri, 'failed');
  }

  #skip(uri: string, reason: string): void {
    this.summary.skipped++;
    this.summary.skippedFiles.push({ uri, reason });
    this.#progress(uri, 'skipped');
  }

  /** `more`: whether further groups may follow (a hint for the bulk-load decision). */
  async group(inputs: DocumentInput[], more: boolean): Promise<void> {
    this.#more = more;
    this.#checkAbort();
    this.total = Math.max(this.total, this.#done + inputs.length);
    const collection = await this.#existingCollection();
    const hashed: Array<{ input: DocumentInput; hash: string }> = [];
    for (const input of inputs) {
      try {
        if (this.#seen.has(input.externalId)) throw new Error(`duplicate document id "${input.externalId}"`);
        this.#seen.add(input.externalId);
        hashed.push({ input, hash: contentHash(input, this.deps) });
      } catch (e) {
        this.fail(input.uri || input.externalId, message(e));
      }
    }
    const stored = collection
      ? await documentHashes(
          this.deps.db,
          collection.id,
          hashed.map((h) => h.input.externalId),
        )
      : new Map<string, string>();
    const prepared: Prepared[] = [];
    for (const { input, hash } of hashed) {
      if (stored.get(input.externalId) === hash) {
        this.summary.unchanged++;
        this.#progress(input.uri, 'unchanged');
        continue;
      }
      try {
        const parsed = await parseDocument(input.format, input.content, {
          title: input.title,
          uri: input.uri,
        });
        const chunks = chunkDocument(parsed, {
          chunkTokens: this.deps.rag.chunkTokens,
          overlapTokens: this.deps.rag.chunkOverlapTokens,
        });
        if (chunks.length === 0) {
          // Nothing a question could ever retrieve: an empty stored document would only hide that.
          // A stored version of the same document is left as it was.
          this.#skip(input.uri, 'no text to index');
          continue;
        }
        prepared.push({ input, hash, title: parsed.title, chunks, vectors: [] });
      } catch (e) {
        this.fail(input.uri, message(e));
      }
    }
    await this.#embed(prepared);
    const ready: Array<{ p: Prepared; write: DocumentWrite }> = [];
    for (const p of prepared) {
      try {
        if (p.failed !== undefined) throw new Error(p.failed);
        ready.push({ p, write: await this.#toWrite(p) });
      } catch (e) {
        this.fail(p.input.uri, message(e));
      }
    }
    await this.#write(ready);
  }

  /**
   * Writes the group in one transaction (a few statements, one commit); if that fails, each
   * document is retried in its own transaction so one bad document cannot sink the others.
   */
  async #write(ready: Array<{ p: Prepared; write: DocumentWrite }>): Promise<void> {
    if (ready.length === 0) return;
    this.#checkAbort();
    const collection = this.#collection as CollectionRow;
    if (this.#bulk === undefined) {
      // A big first load into an empty collection: insert without the HNSW index, build it once at
      // the end (see dropHnswIndex). Small or incremental ingests keep the index up to date as they go.
      this.#bulk = collection.chunkCount === 0 && (this.total >= BULK_MIN_DOCS || this.#more);
      if (this.#bulk) await dropHnswIndex(this.deps.db, collection.id);
    }
    const commit = (batch: typeof ready) =>
      this.deps.db.transaction((tx) =>
        writeDocuments(
          tx,
          collection,
          batch.map((r) => r.write),
        ),
      );
    let statuses: WriteStatus[] | undefined;
    if (ready.length > 1) statuses = await commit(ready).catch(() => undefined);
    if (statuses) {
      ready.forEach((r, i) => {
        this.#written(r.p, r.write, statuses[i] as WriteStatus);
      });
      return;
    }
    for (const r of ready) {
      this.#checkAbort();
      try {
        const [status] = await commit([r]);
        this.#written(r.p, r.write, status as WriteStatus);
      } catch (e) {
        this.fail(r.p.input.uri, message(e));
      }
    }
  }

  #written(p: Prepared, write: DocumentWrite, status: WriteStatus): void {
    if (status === 'unchanged') this.summary.unchanged++;
    else {
      this.summary.documents++;
      this.summary.chunks += write.chunks.length;
    }
    this.#progress(p.input.uri, status);
  }

  /** Embeds every chunk of the group in batches across documents; a failed batch is retried per document. */
  async #embed(docs: Prepared[]): Promise<void> {
    const size = this.deps.rag.embedBatchSize;
    const flat: Array<{ doc: Prepared; i: number }> = [];
    for (const doc of docs) for (let i = 0; i < doc.chunks.length; i++) flat.push({ doc, i });
    const suspects = new Set<Prepared>();
    for (let start = 0; start < flat.length; start += size) {
      const batch = flat.slice(start, start + size);
      try {
        const vectors = await this.#embedTexts(batch.map(({ doc, i }) => indexText(doc.chunks[i] as Chunk)));
        batch.forEach(({ doc, i }, k) => {
          doc.vectors[i] = vectors[k] as number[];
        });
      } catch {
        for (const { doc } of batch) suspects.add(doc);
      }
    }
    for (const doc of suspects) {
      try {
        doc.vectors = [];
        for (let start = 0; start < doc.chunks.length; start += size) {
          doc.vectors.push(...(await this.#embedTexts(doc.chunks.slice(start, start + size).map(indexText))));
        }
      } catch (e) {
        doc.failed = `embedding failed: ${message(e)}`;
      }
    }
  }

  async #embedTexts(texts: string[]): Promise<number[][]> {
    const out = await this.deps.embedder.embed(texts, this.opts.signal ? { signal: this.opts.signal } : {});
    if (out.vectors.length !== texts.length) {
      throw new Error(`embedder returned ${out.vectors.length} vectors for ${texts.length} inputs`);
    }
    return out.vectors;
  }

  /** The store form of a prepared document; creates the collection on the first write. */
  async #toWrite(p: Prepared): Promise<DocumentWrite> {
    const collection = this.#collection ?? (await this.#createCollection(p.vectors[0]?.length));
    const chunks: ChunkWrite[] = p.chunks.map((c, i) => {
      const v = p.vectors[i];
      if (!v || v.length !== collection.dimensions) {
        throw new Error(
          `embedding has ${v?.length ?? 0} dimensions, collection "${collection.name}" expects ${collection.dimensions}`,
        );
      }
      return {
        position: c.position,
        heading: c.heading,
        text: c.text,
        tokenCount: c.tokenCount,
        indexText: indexText(c),
        embedding: vectorLiteral(v),
      };
    });
    return {
      externalId: p.input.externalId,
      title: p.title,
      uri: p.input.uri,
      contentHash: p.hash,
      metadata: p.input.metadata ?? {},
      chunks,
    };
  }

  async #existingCollection(): Promise<CollectionRow | undefined> {
    if (!this.#looked) {
      this.#collection = (await findCollections(this.deps.db, this.opts.tenantId, [this.opts.collection]))[0];
      if (this.#collection) assertEmbedder(this.deps, this.#collection);
      this.#looked = true;
    }
    return this.#collection;
  }

  /** Ends the run: rebuilds an index dropped for a bulk load (or lost to a crash), refreshes planner statistics. */
  async finish(): Promise<void> {
    if (this.#collection && (this.#bulk || this.summary.chunks > 0)) {
      await ensureHnswIndex(this.deps.db, this.#collection);
    }
    // PGlite has no autovacuum: without fresh statistics the planner misjudges how selective a
    // collection or a tsquery is and stops using the GIN index. Cheap next to a bulk load.
    if (this.summary.chunks >= ANALYZE_AFTER_CHUNKS)
      await this.deps.db.exec('analyze chunks; analyze term_stats');
  }

  async #createCollection(dims: number | undefined): Promise<CollectionRow> {
    this.#collection = await ensureCollection(this.deps, this.opts.tenantId, this.opts.collection, dims);
    return this.#collection;
  }

  #progress(uri: string, status: IngestProgress['status']): void {
    this.#done++;
    this.total = Math.max(this.total, this.#done);
    this.opts.onProgress?.({ done: this.#done, total: this.total, uri, status });
  }

  #checkAbort(): void {
    if (this.opts.signal?.aborted) throw new KeelError('aborted', 'ingest aborted');
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
