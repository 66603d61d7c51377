import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../src/providers/hashing.ts';
import type { EmbeddingProvider, EmbeddingResult } from '../src/providers/types.ts';
import { ingestDocuments } from '../src/rag/ingest.ts';
import { ingestPaths } from '../src/rag/ingest-files.ts';
import type { DocumentInput, RagDeps } from '../src/rag/types.ts';
import type { Db, Queryable } from '../src/store/db.ts';
import { driverCases } from './helpers/stores.ts';

const RAG = { embedder: 'hashing', chunkTokens: 120, chunkOverlapTokens: 20, embedBatchSize: 4 };
const TENANT = 'ten_default';

/** An embedder that fails for any batch containing `marker` (a real failure, not a stub of our code). */
class FailingEmbedder implements EmbeddingProvider {
  readonly id = 'hashing';
  readonly model = 'hashing';
  readonly dimensions = 512;
  calls = 0;
  readonly #inner = new HashingEmbedder();
  constructor(readonly marker: string) {}
  async embed(input: string[]): Promise<EmbeddingResult> {
    this.calls++;
    if (input.some((t) => t.includes(this.marker))) throw new Error('upstream embedding service exploded');
    return this.#inner.embed(input);
  }
}

/** A store whose transactions fail on the chunk insert that carries `marker`, after the old chunks were deleted. */
function failingDb(db: Db, marker: string): Db & { transactions: number } {
  const wrapped = {
    ...db,
    engine: db.engine,
    transactions: 0,
    query: db.query,
    exec: db.exec,
    close: db.close,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      wrapped.transactions++;
      return db.transaction((tx) =>
        fn({
          exec: (sql) => tx.exec(sql),
          async query<R>(sql: string, params?: unknown[]) {
            if (sql.includes('insert into chunks') && JSON.stringify(params).includes(marker)) {
              throw new Error('disk full (injected)');
            }
            return tx.query<R>(sql, params as never);
          },
        }),
      );
    },
  };
  return wrapped;
}

const doc = (id: string, text: string, extra: Partial<DocumentInput> = {}): DocumentInput => ({
  externalId: id,
  uri: `mem://${id}`,
  format: 'md',
  content: text,
  ...extra,
});

async function chunkRows(db: Queryable, collection: string) {
  return db.query<{ id: string; external_id: string; text: string; position: number }>(
    `select c.id, d.external_id, c.text, c.position from chunks c join documents d on d.id = c.document_id
     join collections k on k.id = c.collection_id where k.name = $1 order by d.external_id, c.position`,
    [collection],
  );
}

/** The BM25 statistics must equal what the chunks say, whatever happened before. */
async function expectConsistentStats(db: Queryable, collection: string) {
  const [col] = await db.query<{ id: string; chunk_count: number; total_length: number }>(
    'select id, chunk_count, total_length from collections where name = $1',
    [collection],
  );
  const [actual] = await db.query<{ n: number; total: number }>(
    'select count(*)::int as n, coalesce(sum(length), 0)::int as total from chunks where collection_id = $1',
    [col?.id ?? null],
  );
  expect(Number(col?.chunk_count)).toBe(actual?.n);
  expect(Number(col?.total_length)).toBe(actual?.total);
  const drift = await db.query(
    `with real as (select p.lexeme, count(*)::int as df from chunks c, unnest(c.tsv) p where c.collection_id = $1 group by p.lexeme)
     select coalesce(r.lexeme, t.lexeme) as lexeme, r.df as real, t.df as stored
     from real r full join (select lexeme, df from term_stats where collection_id = $1 and df > 0) t on t.lexeme = r.lexeme
     where r.df is distinct from t.df`,
    [col?.id ?? null],
  );
  expect(drift).toEqual([]);
}

describe.each(driverCases)('RAG ingestion on $name', (driver) => {
  let db: Db;
  let dir: string;
  const deps = (): RagDeps => ({ db, embedder: new HashingEmbedder(), rag: RAG });

  beforeAll(async () => {
    if (driver.skip) return;
    db = await driver.open();
    dir = mkdtempSync(join(tmpdir(), 'keel-rag-'));
  });
  afterAll(async () => {
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(driver.skip)(
    'ingests a folder, skips hidden and unsupported files, reports a broken one',
    async () => {
      mkdirSync(join(dir, 'docs/sub'), { recursive: true });
      mkdirSync(join(dir, 'docs/.git'));
      writeFileSync(
        join(dir, 'docs/guide.md'),
        '# Guide\n\nKeel answers questions over documents.\n\n## Keys\n\nCreate a key.',
      );
      writeFileSync(
        join(dir, 'docs/sub/page.html'),
        '<title>Page</title><h1>Page</h1><p>Readable <b>HTML</b> text.</p>',
      );
      writeFileSync(join(dir, 'docs/sub/notes.txt'), 'Notes\n\nPlain text notes about budgets.');
      writeFileSync(join(dir, 'docs/broken.txt'), Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x00]));
      writeFileSync(join(dir, 'docs/image.png'), Buffer.from([0x89, 0x50]));
      writeFileSync(join(dir, 'docs/.hidden.md'), '# secret');
      writeFileSync(join(dir, 'docs/.git/config.md'), '# git');
      const progress: string[] = [];
      const s = await ingestPaths(deps(), {
        tenantId: TENANT,
        collection: 'folder',
        paths: [join(dir, 'docs'), join(dir, 'missing.md')],
        onProgress: (p) => progress.push(`${p.status}:${p.uri.split('/').pop()}`),
      });
      expect(s.documents).toBe(3);
      expect(s.unchanged).toBe(0);
      expect(s.errors.map((e) => [e.uri.split('/').pop(), e.message])).toEqual([
        ['missing.md', 'no such file or directory'],
        ['broken.txt', 'content is not valid UTF-8 text'],
      ]);
      expect(s.skippedFiles.map((f) => [f.uri.split('/').pop(), f.reason]).sort()).toEqual([
        ['.git', 'hidden'],
        ['.hidden.md', 'hidden'],
        ['image.png', 'unsupported file type ".png"'],
      ]);
      expect(s.skipped).toBe(3);
      expect(progress).toContain('ingested:guide.md');
      expect(progress).toContain('failed:broken.txt');
      const rows = await chunkRows(db, 'folder');
      expect(s.chunks).toBe(rows.length);
      const texts = rows.map((r) => r.text).join('\n');
      expect(texts).toContain('Readable HTML text.');
      expect(texts).not.toMatch(/<|secret/);
      const [page] = await db.query<{ title: string; uri: string }>(
        "select title, uri from documents where external_id like '%page.html'",
      );
      expect(page?.title).toBe('Page');
      await expectConsistentStats(db, 'folder');
      // The collection was created with the embedder's name, dimension and its partial HNSW index.
      const [col] = await db.query<{ id: string; embedder: string; dimensions: number }>(
        "select id, embedder, dimensions from collections where name = 'folder'",
      );
      expect(col).toMatchObject({ embedder: 'hashing', dimensions: 512 });
      const idx = await db.query<{ indexdef: string }>(
        'select indexdef from pg_indexes where indexname = $1',
        [`chunks_hnsw_${col?.id}`],
      );
      expect(idx[0]?.indexdef).toMatch(/hnsw .*vector\(512\).*vector_cosine_ops.*WHERE \(collection_id = /);
    },
  );

  it.skipIf(driver.skip)('re-ingesting unchanged documents writes nothing', async () => {
    const docs = [doc('a', '# A\n\nAlpha text.'), doc('b', '# B\n\nBeta text.', { metadata: { team: 'x' } })];
    await ingestDocuments(deps(), { tenantId: TENANT, collection: 'same', documents: docs });
    const before = await chunkRows(db, 'same');
    const counting = failingDb(db, 'never-matches');
    const embedder = new FailingEmbedder('never-matches');
    const s = await ingestDocuments(
      { db: counting, embedder, rag: RAG },
      {
        tenantId: TENANT,
        collection: 'same',
        documents: [doc('b', '# B\n\nBeta text.', { metadata: { team: 'x' } }), docs[0] as DocumentInput],
      },
    );
    expect(s).toMatchObject({ documents: 0, chunks: 0, unchanged: 2, errors: [] });
    expect(counting.transactions).toBe(0);
    expect(embedder.calls).toBe(0);
    expect(await chunkRows(db, 'same')).toEqual(before);
  });

  it.skipIf(driver.skip)('skips a document with no text, and keeps a stored version as it was', async () => {
    const progress: string[] = [];
    const first = await ingestDocuments(deps(), {
      tenantId: TENANT,
      collection: 'empties',
      documents: [doc('a', '# A\n\nKeel answers questions.'), doc('e', ''), doc('w', '  \n\n \t\n')],
      onProgress: (p) => progress.push(`${p.status}:${p.uri}`),
    });
    expect(first).toMatchObject({ documents: 1, skipped: 2, errors: [] });
    expect(first.skippedFiles).toEqual([
      { uri: 'mem://e', reason: 'no text to index' },
      { uri: 'mem://w', reason: 'no text to index' },
    ]);
    expect(progress).toContain('skipped:mem://e');
    const stored = await db.query<{ external_id: string }>(
      "select d.external_id from documents d join collections k on k.id = d.collection_id where k.name = 'empties'",
    );
    expect(stored.map((r) => r.external_id)).toEqual(['a']);
    // The file behind `a` was emptied: nothing is written, its chunks stay retrievable.
    const before = await chunkRows(db, 'empties');
    const again = await ingestDocuments(deps(), {
      tenantId: TENANT,
      collection: 'empties',
      documents: [doc('a', '')],
    });
    expect(again).toMatchObject({ documents: 0, unchanged: 0, skipped: 1 });
    expect(await chunkRows(db, 'empties')).toEqual(before);
    expect(before.map((r) => r.text).join(' ')).toContain('Keel answers questions.');
    await expectConsistentStats(db, 'empties');
  });

  it.skipIf(driver.skip)(
    'a changed document replaces its chunks and keeps the statistics exact',
    async () => {
      const long = Array.from({ length: 30 }, (_, i) => `Sentence ${i} about gateways and budgets.`).join(
        ' ',
      );
      await ingestDocuments(deps(), {
        tenantId: TENANT,
        collection: 'change',
        documents: [doc('x', `# X\n\n${long}`), doc('y', '# Y\n\nStable.')],
      });
      const before = await chunkRows(db, 'change');
      expect(before.filter((r) => r.external_id === 'x').length).toBeGreaterThan(1);
      const s = await ingestDocuments(deps(), {
        tenantId: TENANT,
        collection: 'change',
        documents: [doc('x', '# X\n\nRewritten: now about telescopes.'), doc('y', '# Y\n\nStable.')],
      });
      expect(s).toMatchObject({ documents: 1, chunks: 1, unchanged: 1 });
      const after = await chunkRows(db, 'change');
      const x = after.filter((r) => r.external_id === 'x');
      expect(x.map((r) => r.text)).toEqual(['Rewritten: now about telescopes.']);
      expect(after.filter((r) => r.external_id === 'y')).toEqual(before.filter((r) => r.external_id === 'y'));
      await expectConsistentStats(db, 'change');
      const [d] = await db.query<{ n: number; chunk_count: number }>(
        "select count(*)::int as n, max(d.chunk_count) as chunk_count from documents d join collections c on c.id = d.collection_id where c.name = 'change' and d.external_id = 'x'",
      );
      expect(d).toEqual({ n: 1, chunk_count: 1 });
      // Metadata changes count as changes too, and reach the chunks.
      await ingestDocuments(deps(), {
        tenantId: TENANT,
        collection: 'change',
        documents: [doc('y', '# Y\n\nStable.', { metadata: { tag: 'new' } })],
      });
      const meta = await db.query<{ metadata: unknown }>(
        "select c.metadata from chunks c join documents d on d.id = c.document_id where d.external_id = 'y' and d.uri = 'mem://y'",
      );
      expect(meta.map((m) => m.metadata)).toContainEqual({ tag: 'new' });
    },
  );

  it.skipIf(driver.skip)(
    'an embedding failure on one document leaves nothing of it and the rest go in',
    async () => {
      const embedder = new FailingEmbedder('EXPLODE');
      const s = await ingestDocuments(
        { db, embedder, rag: RAG },
        {
          tenantId: TENANT,
          collection: 'embedfail',
          documents: [
            doc('1', '# One\n\nFirst.'),
            doc('2', '# Two\n\nEXPLODE here.'),
            doc('3', '# Three\n\nThird.'),
          ],
        },
      );
      expect(s.documents).toBe(2);
      expect(s.errors).toEqual([
        { uri: 'mem://2', message: 'embedding failed: upstream embedding service exploded' },
      ]);
      const rows = await chunkRows(db, 'embedfail');
      expect([...new Set(rows.map((r) => r.external_id))]).toEqual(['1', '3']);
      const docs = await db.query("select external_id from documents where external_id = '2'");
      expect(docs).toEqual([]);
      await expectConsistentStats(db, 'embedfail');
    },
  );

  it.skipIf(driver.skip)(
    'a store failure mid-document rolls it back whole, keeping its previous version',
    async () => {
      await ingestDocuments(deps(), {
        tenantId: TENANT,
        collection: 'txfail',
        documents: [doc('p', '# P\n\nOld p.'), doc('q', '# Q\n\nOld q.'), doc('r', '# R\n\nOld r.')],
      });
      const before = await chunkRows(db, 'txfail');
      const bad = failingDb(db, 'BOOM');
      const s = await ingestDocuments(
        { db: bad, embedder: new HashingEmbedder(), rag: RAG },
        {
          tenantId: TENANT,
          collection: 'txfail',
          documents: [doc('p', '# P\n\nNew p.'), doc('q', '# Q\n\nNew q BOOM.'), doc('r', '# R\n\nNew r.')],
        },
      );
      expect(s.documents).toBe(2);
      expect(s.errors).toEqual([{ uri: 'mem://q', message: 'disk full (injected)' }]);
      const after = await chunkRows(db, 'txfail');
      expect(after.find((r) => r.external_id === 'q')).toEqual(before.find((r) => r.external_id === 'q'));
      expect(after.map((r) => r.text)).toEqual(['New p.', 'Old q.', 'New r.']);
      await expectConsistentStats(db, 'txfail');
    },
  );

  it.skipIf(driver.skip)('ingests a JSONL corpus keeping each document id, reporting bad lines', async () => {
    const file = join(dir, 'corpus.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ _id: 'D-1', title: 'Sorting networks', text: 'Batcher odd-even merge sort.' }),
        '{not json',
        JSON.stringify({ id: 7, text: 'Numbered id, no title.', metadata: { year: 1970 } }),
        JSON.stringify({ title: 'no id', text: 'x' }),
        '',
      ].join('\n'),
    );
    const s = await ingestPaths(deps(), { tenantId: TENANT, collection: 'jsonl', paths: [file] });
    expect(s.documents).toBe(2);
    expect(s.errors.map((e) => [e.uri.split('/').pop(), e.message])).toEqual([
      ['corpus.jsonl:2', 'invalid JSON'],
      ['corpus.jsonl:4', 'a JSONL document needs "_id" (or "id") and "text"'],
    ]);
    const docs = await db.query<{ external_id: string; title: string; metadata: unknown }>(
      "select d.external_id, d.title, d.metadata from documents d join collections c on c.id = d.collection_id where c.name = 'jsonl' order by 1",
    );
    expect(docs).toEqual([
      { external_id: '7', title: 'corpus', metadata: { year: 1970 } },
      { external_id: 'D-1', title: 'Sorting networks', metadata: {} },
    ]);
    const [chunk] = await chunkRows(db, 'jsonl');
    expect(chunk?.text).toBe('Numbered id, no title.');
  });
});
