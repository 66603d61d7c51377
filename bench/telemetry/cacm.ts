import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from './common.ts';

/**
 * Retrieval quality of the default app on CACM, measured the way a user would: `keel ingest` of
 * the BEIR corpus (JSONL, each document keeping its own id), `keel eval dataset import` of its
 * queries and qrels, `keel eval run --app default --depth 1000 --json` (MAP over the top 1000, as
 * trec_eval). Each command is a real `keel` child process on a fresh embedded data dir.
 */

export const PUBLISHED_BM25_MAP = 0.3123;

function keel(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/keel.js'), ...args], {
      env,
      cwd: env.KEEL_BENCH_CWD,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

export interface CacmResult {
  documents: string;
  runId: string;
  cases: number;
  map: number;
  ndcg10: number;
  mrr: number;
  recallAt10: number;
  publishedBm25Map: number;
  ingestSeconds: number;
  evalSeconds: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export async function benchCacm(root: string, data: string): Promise<CacmResult | undefined> {
  const corpus = join(data, 'corpus.jsonl');
  if (!existsSync(corpus)) {
    log(`[cacm] skipped: ${corpus} not found (set KEEL_BENCH_CACM)`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-cacm-'));
  const config = join(dir, 'keel.yaml');
  writeFileSync(config, 'seedDocs: false\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_CONFIG: config,
    KEEL_DATA_DIR: join(dir, 'data'),
    KEEL_BENCH_CWD: dir,
  };
  delete env.DATABASE_URL;
  delete env.OPENAI_API_KEY;
  delete env.OPENAI_BASE_URL;
  try {
    log('[cacm] keel ingest corpus.jsonl');
    const t0 = performance.now();
    const ing = await keel(root, ['ingest', corpus, '-C', 'default'], env);
    if (ing.code !== 0) throw new Error(`keel ingest failed (${ing.code})`);
    const ingestSeconds = (performance.now() - t0) / 1000;
    log(`  ${ing.stdout.trim()}`);
    const imp = await keel(
      root,
      [
        'eval',
        'dataset',
        'import',
        join(data, 'queries.jsonl'),
        '--qrels',
        join(data, 'qrels.tsv'),
        '--name',
        'cacm',
      ],
      env,
    );
    if (imp.code !== 0) throw new Error(`keel eval dataset import failed (${imp.code})`);
    log(`  ${imp.stdout.trim()}`);
    log('[cacm] keel eval run --dataset cacm --app default --depth 1000 --k 10 --json');
    const t1 = performance.now();
    const run = await keel(
      root,
      [
        'eval',
        'run',
        '--dataset',
        'cacm',
        '--app',
        'default',
        '--depth',
        '1000',
        '--k',
        '10',
        '--concurrency',
        '2',
        '--json',
      ],
      env,
    );
    if (run.code !== 0) throw new Error(`keel eval run failed (${run.code})`);
    const evalSeconds = (performance.now() - t1) / 1000;
    const out = JSON.parse(run.stdout) as { run_id: string; metrics: Record<string, number> };
    const m = out.metrics;
    const cases = Number(/(\d+) cases/.exec(imp.stdout)?.[1] ?? 0);
    return {
      documents: ing.stdout.trim(),
      runId: out.run_id,
      cases,
      map: m.map ?? Number.NaN,
      ndcg10: m['ndcg@10'] ?? Number.NaN,
      mrr: m.mrr ?? Number.NaN,
      recallAt10: m['recall@10'] ?? Number.NaN,
      publishedBm25Map: PUBLISHED_BM25_MAP,
      ingestSeconds,
      evalSeconds,
      latencyP50Ms: m.latency_p50_ms ?? Number.NaN,
      latencyP95Ms: m.latency_p95_ms ?? Number.NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
