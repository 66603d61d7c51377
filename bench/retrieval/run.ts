/**
 * Retrieval benchmark: ingests the CACM test collection through Keel's own ingestion into PGlite (and
 * PostgreSQL when DATABASE_URL is set), runs its 52 judged topics through `retrieve` in fts, vector
 * and hybrid modes, and reports MAP (top 1000), nDCG@10, ingestion rate and query latency.
 * See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { HashingEmbedder } from '../../src/providers/hashing.ts';
import { ingestPaths } from '../../src/rag/ingest-files.ts';
import { retrieve } from '../../src/rag/retrieve.ts';
import type { RagDeps, RetrievalMode } from '../../src/rag/types.ts';
import type { Db } from '../../src/store/db.ts';
import { openStore } from '../../src/store/open.ts';
import { averagePrecision, documentRanking, ndcgAt, quantile } from './metrics.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DATA = resolve(process.env.KEEL_BENCH_CACM ?? join(ROOT, '../shared/data/ir-cacm'));
/** The three modes, plus hybrid with plain 1:1 RRF (the default gives `hashing` vectors half a vote). */
const RUNS: Array<{ name: string; mode: RetrievalMode; weights?: { vector: number } }> = [
  { name: 'fts', mode: 'fts' },
  { name: 'vector', mode: 'vector' },
  { name: 'hybrid', mode: 'hybrid' },
  { name: 'hybrid-1:1', mode: 'hybrid', weights: { vector: 1 } },
];
/** MAP is computed over the top 1000, as trec_eval and Anserini do. */
const EVAL_DEPTH = 1000;
/** Latency is measured at a realistic answer depth. */
const LATENCY_TOP_K = 10;
const LATENCY_ROUNDS = 3;
const PUBLISHED_BM25_MAP = 0.3123;
const TENANT = 'ten_default';

interface Topic {
  id: string;
  text: string;
  relevant: Set<string>;
}

function loadTopics(): Topic[] {
  const qrels = new Map<string, Set<string>>();
  for (const line of readFileSync(join(DATA, 'qrels.tsv'), 'utf8').split('\n').slice(1)) {
    const [q, doc, score] = line.split('\t');
    if (!q || !doc || Number(score) <= 0) continue;
    qrels.set(q, (qrels.get(q) ?? new Set()).add(doc));
  }
  const topics: Topic[] = [];
  for (const line of readFileSync(join(DATA, 'queries.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const q = JSON.parse(line) as { _id: string; text: string };
    const relevant = qrels.get(q._id);
    // Topics without judgments are not scorable (Anserini skips them too).
    if (relevant) topics.push({ id: q._id, text: q.text, relevant });
  }
  return topics;
}

interface DriverResult {
  driver: string;
  ingest: {
    documents: number;
    chunks: number;
    errors: number;
    seconds: number;
    docsPerSec: number;
    chunksPerSec: number;
  };
  reingest: { unchanged: number; seconds: number };
  modes: Record<string, { map: number; ndcg10: number; p50ms: number; p95ms: number }>;
}

async function runDriver(name: string, db: Db, topics: Topic[]): Promise<DriverResult> {
  const deps: RagDeps = {
    db,
    embedder: new HashingEmbedder(),
    rag: { embedder: 'hashing', chunkTokens: 350, chunkOverlapTokens: 50, embedBatchSize: 64 },
  };
  const corpus = join(DATA, 'corpus.jsonl');
  let last = 0;
  const t0 = performance.now();
  const summary = await ingestPaths(deps, {
    tenantId: TENANT,
    collection: 'cacm',
    paths: [corpus],
    onProgress: (p) => {
      if (p.done - last >= 500) {
        last = p.done;
        process.stderr.write(`  [${name}] ingested ${p.done} documents\n`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (summary.errors.length > 0) console.error(`  [${name}] ingest errors:`, summary.errors.slice(0, 5));

  const t1 = performance.now();
  const again = await ingestPaths(deps, { tenantId: TENANT, collection: 'cacm', paths: [corpus] });
  const reSeconds = (performance.now() - t1) / 1000;

  const modes: DriverResult['modes'] = {};
  for (const { name: runName, mode, weights } of RUNS) {
    const extra = weights ? { weights } : {};
    let map = 0;
    let ndcg = 0;
    for (const t of topics) {
      const hits = await retrieve(deps, {
        tenantId: TENANT,
        collections: ['cacm'],
        query: t.text,
        topK: EVAL_DEPTH,
        mode,
        ...extra,
      });
      const ranked = documentRanking(hits.map((h) => h.externalId));
      map += averagePrecision(ranked, t.relevant);
      ndcg += ndcgAt(ranked, t.relevant, 10);
    }
    const latencies: number[] = [];
    for (let round = 0; round <= LATENCY_ROUNDS; round++) {
      for (const t of topics) {
        const s = performance.now();
        await retrieve(deps, {
          tenantId: TENANT,
          collections: ['cacm'],
          query: t.text,
          topK: LATENCY_TOP_K,
          mode,
          ...extra,
        });
        // Round 0 warms caches and JIT; it is not counted.
        if (round > 0) latencies.push(performance.now() - s);
      }
    }
    modes[runName] = {
      map: map / topics.length,
      ndcg10: ndcg / topics.length,
      p50ms: quantile(latencies, 0.5),
      p95ms: quantile(latencies, 0.95),
    };
  }
  return {
    driver: name,
    ingest: {
      documents: summary.documents,
      chunks: summary.chunks,
      errors: summary.errors.length,
      seconds,
      docsPerSec: summary.documents / seconds,
      chunksPerSec: summary.chunks / seconds,
    },
    reingest: { unchanged: again.unchanged, seconds: reSeconds },
    modes,
  };
}

function report(r: DriverResult, topics: number): string {
  const f = (x: number, d = 4) => x.toFixed(d);
  const lines = [
    `## ${r.driver}`,
    `ingest: ${r.ingest.documents} documents, ${r.ingest.chunks} chunks in ${f(r.ingest.seconds, 1)} s ` +
      `(${f(r.ingest.docsPerSec, 0)} docs/s, ${f(r.ingest.chunksPerSec, 0)} chunks/s), ${r.ingest.errors} errors`,
    `re-ingest unchanged: ${r.reingest.unchanged} documents skipped in ${f(r.reingest.seconds, 1)} s`,
    `${topics} judged topics; MAP over the top ${EVAL_DEPTH}, latency at top-${LATENCY_TOP_K}:`,
    '| mode        | MAP    | nDCG@10 | p50 ms | p95 ms |',
    '| ----------- | ------ | ------- | ------ | ------ |',
  ];
  for (const [mode, m] of Object.entries(r.modes)) {
    lines.push(
      `| ${mode.padEnd(11)} | ${f(m.map)} | ${f(m.ndcg10).padEnd(7)} | ${f(m.p50ms, 1).padStart(6)} | ${f(m.p95ms, 1).padStart(6)} |`,
    );
  }
  const hybrid = r.modes.hybrid?.map ?? 0;
  lines.push(
    `hybrid MAP ${f(hybrid)} vs published BM25 ${PUBLISHED_BM25_MAP}: ${hybrid >= PUBLISHED_BM25_MAP ? 'target met' : 'BELOW target'}`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(join(DATA, 'corpus.jsonl'))) {
    console.log(`bench:retrieval skipped: CACM data not found at ${DATA} (see bench/README.md)`);
    return;
  }
  const topics = loadTopics();
  const results: DriverResult[] = [];
  const only = process.env.KEEL_BENCH_DRIVER;
  if (!only || only === 'pglite') {
    const db = await openStore({ dataDir: 'memory://' });
    try {
      results.push(await runDriver('pglite', db, topics));
    } finally {
      await db.close();
    }
    console.log(report(results.at(-1) as DriverResult, topics.length));
  }
  const url = process.env.DATABASE_URL;
  if (url && (!only || only === 'postgres')) {
    const schema = `keel_bench_${randomBytes(4).toString('hex')}`;
    const db = await openStore({ databaseUrl: url, schema });
    try {
      results.push(await runDriver('postgres', db, topics));
    } finally {
      await db.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    }
    console.log(report(results.at(-1) as DriverResult, topics.length));
  } else if (!url) console.log('(PostgreSQL skipped: DATABASE_URL is not set)');

  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `retrieval-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), dataset: 'cacm', topics: topics.length, results }, null, 2)}\n`,
  );
  console.log(`results written to ${file}`);
}

await main();
