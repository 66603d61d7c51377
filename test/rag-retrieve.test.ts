import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeelError } from '../src/errors.ts';
import { HashingEmbedder } from '../src/providers/hashing.ts';
import { BM25_B, BM25_K1, bm25, idf } from '../src/rag/bm25.ts';
import { indexText } from '../src/rag/chunk.ts';
import { resolveCollections } from '../src/rag/collections.ts';
import { rrf } from '../src/rag/fuse.ts';
import { ingestDocuments } from '../src/rag/ingest.ts';
import { defaultVectorWeight, fusionDepth, retrieve } from '../src/rag/retrieve.ts';
import type { DocumentInput, RagDeps, RetrievalHit } from '../src/rag/types.ts';
import type { Db } from '../src/store/db.ts';
import { vectorLiteral, vectorSearch } from '../src/store/queries/chunks.ts';
import { ensureTenant } from '../src/store/queries/tenants.ts';
import { driverCases } from './helpers/stores.ts';

const RAG = { embedder: 'hashing', chunkTokens: 350, chunkOverlapTokens: 50, embedBatchSize: 64 };
const TENANT = 'ten_default';

// Varied lengths and repetitions, so IDF, tf saturation and length normalisation all matter.
const CORPUS: Array<[string, string]> = [
  ['gc', 'Garbage collection reclaims memory. A copying garbage collector moves live objects.'],
  ['gc2', 'Reference counting is a form of garbage collection; cycles need a backup collector.'],
  [
    'alloc',
    'Memory allocation with free lists and buddy systems; allocation speed versus fragmentation in memory.',
  ],
  ['sort', 'Sorting algorithms: quicksort, merge sort and heap sort compared on random keys.'],
  [
    'sortlong',
    `Merge sort is stable. ${'Many words about unrelated matters fill this long document. '.repeat(8)}`,
  ],
  ['parse', 'Parsing expression grammars and recursive descent parsers for programming languages.'],
  ['net', 'Packet switching networks route messages; network congestion control.'],
  ['mem', 'Virtual memory paging: page faults, working sets and memory hierarchies.'],
];

const docs = (rows: Array<[string, string]>, tag?: (i: number) => Record<string, unknown>): DocumentInput[] =>
  rows.map(([id, text], i) => ({
    externalId: id,
    uri: `mem://${id}`,
    format: 'txt',
    title: id.toUpperCase(),
    content: text,
    ...(tag ? { metadata: tag(i) } : {}),
  }));

/** BM25 computed here from the raw tsvectors, without Keel's term_stats or scoring SQL. */
async function referenceBm25(db: Db, collection: string, query: string): Promise<Map<string, number>> {
  const rows = await db.query<{ id: string; lexeme: string; tf: number }>(
    `select c.id, p.lexeme, array_length(p.positions, 1) as tf from chunks c
     join collections k on k.id = c.collection_id, unnest(c.tsv) p where k.name = $1 and k.tenant_id = $2`,
    [collection, TENANT],
  );
  const q = await db.query<{ lexeme: string; qtf: number }>(
    "select lexeme, array_length(positions, 1) as qtf from unnest(to_tsvector('english', $1))",
    [query],
  );
  const tf = new Map<string, Map<string, number>>();
  for (const r of rows) tf.set(r.id, (tf.get(r.id) ?? new Map()).set(r.lexeme, Number(r.tf)));
  const n = tf.size;
  const len = (id: string) => [...(tf.get(id) as Map<string, number>).values()].reduce((a, b) => a + b, 0);
  const avg = [...tf.keys()].reduce((s, id) => s + len(id), 0) / n;
  const scores = new Map<string, number>();
  for (const [id, terms] of tf) {
    let s = 0;
    for (const { lexeme, qtf } of q) {
      const f = terms.get(lexeme);
      if (!f) continue;
      const df = [...tf.values()].filter((t) => t.has(lexeme)).length;
      const idfv = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      s +=
        Number(qtf) * idfv * ((f * (BM25_K1 + 1)) / (f + BM25_K1 * (1 - BM25_B + (BM25_B * len(id)) / avg)));
    }
    if (s > 0) scores.set(id, s);
  }
  return scores;
}

const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe.each(driverCases)('RAG retrieval on $name', (driver) => {
  let db: Db;
  let other: string;
  const embedder = new HashingEmbedder();
  const deps = (): RagDeps => ({ db, embedder, rag: RAG });

  beforeAll(async () => {
    if (driver.skip) return;
    db = await driver.open();
    await ingestDocuments(deps(), { tenantId: TENANT, collection: 'papers', documents: docs(CORPUS) });
    other = (await ensureTenant(db, 'other')).id;
    await ingestDocuments(deps(), {
      tenantId: other,
      collection: 'papers',
      documents: docs([['secret', 'Garbage collection notes of the other tenant.']]),
    });
    // Many near neighbours of the query tagged `a`, the wanted ones tagged `b`: large enough that
    // the planner takes the HNSW index, where a plain scan would run out of `b` rows. Metadata holds
    // only the tag, so the planner's statistics see the filter keep half the rows. This first load
    // into an empty collection also goes through the bulk path (index dropped, rebuilt at the end).
    const filler = ['kernel', 'scheduler', 'driver', 'interrupt'];
    const rows: Array<[string, string]> = Array.from({ length: 3000 }, (_, i) => [
      `f${i}`,
      i % 2
        ? `kernel network ${filler[i % 4]} item ${i}`
        : `recipe ${['apple', 'pear', 'plum', 'fig'][i % 4]} dessert ${i}`,
    ]);
    await ingestDocuments(deps(), {
      tenantId: TENANT,
      collection: 'filtered',
      documents: docs(rows, (i) => ({ tag: i % 2 ? 'a' : 'b' })),
    });
  }, 180_000); // 3,000 documents: generous for a loaded CI machine
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('ranks full-text hits by BM25 exactly as an independent computation', async () => {
    for (const query of ['garbage collection memory', 'memory', 'merge sort', 'network of memory pages']) {
      const hits = await retrieve(deps(), {
        tenantId: TENANT,
        collections: ['papers'],
        query,
        topK: 8,
        mode: 'fts',
      });
      const ref = await referenceBm25(db, 'papers', query);
      const expected = [...ref].sort((a, b) => b[1] - a[1]);
      expect(hits.map((h) => h.chunkId)).toEqual(expected.map(([id]) => id));
      hits.forEach((h, i) => {
        expect(h.score).toBeCloseTo(expected[i]?.[1] as number, 9);
        expect(h.ftsRank).toBe(i + 1);
        expect(h.vectorRank).toBeUndefined();
      });
    }
    // Length normalisation: the short document beats the long one for the same single match.
    const hits = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query: 'merge',
      topK: 2,
      mode: 'fts',
    });
    expect(hits.map((h) => h.externalId)).toEqual(['sort', 'sortlong']);
    expect(idf(10, 10)).toBeGreaterThan(0);
  });

  it.skipIf(driver.skip)('returns exactly the same top list with MaxScore pruning', async () => {
    const cols = await resolveCollections(deps(), TENANT, ['filtered']);
    const queries = [
      'kernel network scheduler 17',
      'recipe plum dessert 42',
      'kernel recipe',
      'kernel kernel network item 1203 fig',
      'apple pear dessert recipe interrupt driver 7 8 9',
    ];
    for (const query of queries) {
      for (const limit of [1, 5, 20]) {
        const full = await bm25(db, cols, query, limit, undefined, Number.POSITIVE_INFINITY);
        expect(full).toHaveLength(limit);
        for (const budget of [1, 40, 800]) {
          const pruned = await bm25(db, cols, query, limit, undefined, budget);
          expect(pruned.map((h) => h.id)).toEqual(full.map((h) => h.id));
          expect(pruned.map((h) => h.score)).toEqual(full.map((h) => h.score));
        }
      }
    }
  });

  it.skipIf(driver.skip)('carries what a citation needs', async () => {
    const [hit] = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query: 'quicksort',
      topK: 1,
    });
    expect(hit).toMatchObject({
      externalId: 'sort',
      collection: 'papers',
      title: 'SORT',
      uri: 'mem://sort',
      position: 0,
      heading: 'SORT',
      text: CORPUS[3]?.[1],
      ftsRank: 1,
    });
    expect(hit?.chunkId).toMatch(/^chk_/);
    expect(hit?.documentId).toMatch(/^doc_/);
  });

  it.skipIf(driver.skip)('finds the cosine nearest chunks with the vector index', async () => {
    const query = 'garbage collector for memory';
    const hits = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query,
      topK: 4,
      mode: 'vector',
    });
    const [qv] = (await embedder.embed([query])).vectors as [number[]];
    const ranked = await Promise.all(
      CORPUS.map(async ([id, text]) => {
        const [v] = (await embedder.embed([indexText({ heading: id.toUpperCase(), text })])).vectors as [
          number[],
        ];
        return { id, sim: cos(qv, v) };
      }),
    );
    ranked.sort((a, b) => b.sim - a.sim);
    expect(hits.map((h) => h.externalId)).toEqual(ranked.slice(0, 4).map((r) => r.id));
    hits.forEach((h, i) => {
      expect(h.score).toBeCloseTo(ranked[i]?.sim as number, 5);
      expect(h.vectorRank).toBe(i + 1);
    });
  });

  it.skipIf(driver.skip)('fuses both lists by reciprocal rank', async () => {
    const query = 'memory allocation and garbage collection';
    const topK = 6;
    const hits = await retrieve(deps(), { tenantId: TENANT, collections: ['papers'], query, topK });
    const fts = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query,
      topK: fusionDepth(topK),
      mode: 'fts',
    });
    expect(hits).toHaveLength(topK);
    let prev = Number.POSITIVE_INFINITY;
    for (const h of hits) {
      const expected =
        (h.ftsRank ? 1 / (60 + h.ftsRank) : 0) +
        (h.vectorRank ? defaultVectorWeight(RAG.embedder) / (60 + h.vectorRank) : 0);
      expect(h.score).toBeCloseTo(expected, 12);
      expect(h.score).toBeLessThanOrEqual(prev);
      prev = h.score;
      if (h.ftsRank) expect(fts[h.ftsRank - 1]?.chunkId).toBe(h.chunkId);
    }
    expect(defaultVectorWeight('hashing')).toBe(0.5);
    expect(defaultVectorWeight('openai/text-embedding-3-small')).toBe(1);
    const equal = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query,
      topK,
      weights: { vector: 1 },
    });
    for (const h of equal) {
      expect(h.score).toBeCloseTo(
        (h.ftsRank ? 1 / (60 + h.ftsRank) : 0) + (h.vectorRank ? 1 / (60 + h.vectorRank) : 0),
        12,
      );
    }
    // The vector arm reaches chunks without any query term.
    expect(hits.some((h) => h.ftsRank === undefined && h.vectorRank !== undefined)).toBe(true);
    expect(hits[0]?.ftsRank).toBeDefined();
    expect(hits[0]?.vectorRank).toBeDefined();
  });

  it.skipIf(driver.skip)('rrf weights ranks, not scores, and breaks ties deterministically', () => {
    const fused = rrf([{ ids: ['a', 'b', 'c'] }, { ids: ['c', 'a'], weight: 0.5 }]);
    expect(fused.map((f) => f.id)).toEqual(['a', 'c', 'b']);
    expect(fused[0]).toEqual({ id: 'a', score: 1 / 61 + 0.5 / 62, ranks: [1, 2] });
    expect(rrf([{ ids: ['x'] }, { ids: ['y'] }]).map((f) => f.id)).toEqual(['x', 'y']);
  });

  it.skipIf(driver.skip)(
    'a selective metadata filter still returns a full top-k (iterative index scan)',
    async () => {
      const filter = { tag: 'b' };
      const [col] = await resolveCollections(deps(), TENANT, ['filtered']);
      const [index] = await db.query<{ valid: boolean }>(
        'select indisvalid as valid from pg_index where indexrelid = to_regclass($1)',
        [`chunks_hnsw_${col?.id}`],
      );
      expect(index?.valid).toBe(true);
      const [qv] = (await embedder.embed(['kernel network'])).vectors as [number[]];
      // Without iterative scans the index's candidate list holds only `a` chunks: the filter starves it.
      const plain = await vectorSearch(db, {
        collections: [col as never],
        embedding: vectorLiteral(qv),
        limit: 10,
        filter,
        efSearch: 40,
        iterative: false,
      });
      expect(plain.length).toBeLessThan(10);
      for (const mode of ['vector', 'hybrid', 'fts'] as const) {
        const hits = await retrieve(deps(), {
          tenantId: TENANT,
          collections: ['filtered'],
          query: mode === 'fts' ? 'dessert kernel' : 'kernel network',
          topK: 10,
          mode,
          filter,
        });
        expect(hits).toHaveLength(10);
        const tags = await db.query<{ tag: string }>(
          "select metadata->>'tag' as tag from chunks where id = any($1)",
          [hits.map((h: RetrievalHit) => h.chunkId)],
        );
        expect(tags.every((t) => t.tag === 'b')).toBe(true);
      }
      const none = await retrieve(deps(), {
        tenantId: TENANT,
        collections: ['filtered'],
        query: 'kernel',
        topK: 5,
        filter: { tag: 'zzz' },
      });
      expect(none).toEqual([]);
    },
  );

  it.skipIf(driver.skip)('resolves collections in the caller tenant only', async () => {
    const mine = await retrieve(deps(), {
      tenantId: TENANT,
      collections: ['papers'],
      query: 'garbage collection',
      topK: 20,
    });
    expect(mine.map((h) => h.externalId)).not.toContain('secret');
    const theirs = await retrieve(deps(), {
      tenantId: other,
      collections: ['papers'],
      query: 'garbage collection',
      topK: 20,
    });
    expect(theirs.map((h) => h.externalId)).toEqual(['secret']);
    for (const [tenantId, collections] of [
      [other, ['filtered']],
      [TENANT, ['papers', 'nope']],
    ] as const) {
      const err = await retrieve(deps(), {
        tenantId,
        collections: [...collections],
        query: 'x',
        topK: 3,
      }).catch((e) => e);
      expect(err).toBeInstanceOf(KeelError);
      expect(err.code).toBe('not_found');
      expect(err.status).toBe(404);
    }
  });

  it.skipIf(driver.skip)('validates topK and answers an empty or word-less query with nothing', async () => {
    await expect(
      retrieve(deps(), { tenantId: TENANT, collections: ['papers'], query: 'x', topK: 0 }),
    ).rejects.toMatchObject({ code: 'invalid_request' });
    expect(
      await retrieve(deps(), { tenantId: TENANT, collections: ['papers'], query: '  ', topK: 3 }),
    ).toEqual([]);
    expect(
      await retrieve(deps(), { tenantId: TENANT, collections: ['papers'], query: 'the of and', topK: 3 }),
    ).toEqual([]);
  });
});
