/**
 * The docs QA run shared by `bench/docs-qa/run.ts` (the figures) and `test/docs-qa.test.ts` (the
 * floor CI holds): Keel's own `docs/` in a fresh embedded store, nothing configured, and the
 * questions of `cases.jsonl` through the built-in `default` app with Keel's eval runner.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { importDatasetJsonl } from '../../src/eval/datasets.ts';
import type { RunReport } from '../../src/eval/runner.ts';
import { NOTHING_FOUND } from '../../src/providers/extractive.ts';
import { ingestPaths } from '../../src/rag/ingest-files.ts';
import { createKeel } from '../../src/runtime.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CASES = join(ROOT, 'bench/docs-qa/cases.jsonl');

export interface DocsQaCase {
  id: string;
  input: string;
  /** Documents that answer it (`docs/api-keys.md` when run from the repo root); absent for off-topic questions. */
  gold?: string[] | undefined;
  /** `readme`: a question the README's tour asks, whose answer a new user sees first. */
  tags: string[];
  answer: string;
  /** Documents the answer cites, in the answer's order. */
  cited: string[];
  nothingFound: boolean;
  metrics: Record<string, number>;
  error?: string | undefined;
}

export interface DocsQaRun {
  documents: number;
  chunks: number;
  metrics: RunReport['metrics'];
  cases: DocsQaCase[];
}

/** Document ids the answer cites, in the answer's order: `[n]` is the n-th retrieved passage. */
function citedIds(answer: string, retrieved: readonly string[]): string[] {
  const out = new Set<string>();
  for (const m of answer.matchAll(/\[(\d+)\]/g)) {
    const id = retrieved[Number(m[1]) - 1];
    if (id) out.add(id);
  }
  return [...out];
}

export async function runDocsQa(): Promise<DocsQaRun> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-docs-qa-'));
  // Only the data dir: no keel.yaml, no DATABASE_URL, no model key, as on a fresh machine.
  const config = loadConfig({ cwd: dir, env: { KEEL_DATA_DIR: join(dir, 'data') } });
  const keel = await createKeel(config, { quiet: true });
  try {
    const tenantId = keel.defaultTenantId;
    const ingest = await ingestPaths(keel.rag, {
      tenantId,
      collection: 'default',
      paths: [join(ROOT, 'docs')],
    });
    // Document ids are paths relative to the working directory; the cases name them from the repo root.
    const here = (id: string) => relative(process.cwd(), join(ROOT, id)).split(sep).join('/');
    const lines = readFileSync(CASES, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { id: string; input: string; gold_ids?: string[]; tags?: string[] })
      .map((c) => (c.gold_ids ? { ...c, gold_ids: c.gold_ids.map(here) } : c));
    const text = lines.map((c) => JSON.stringify(c)).join('\n');
    await importDatasetJsonl(keel.db, { tenantId, name: 'docs-qa', text });
    const report = await keel.evals.run({ tenantId, dataset: 'docs-qa', app: 'default', k: 3, store: false });
    const cases = report.results.map((r): DocsQaCase => {
      const line = lines[r.position]!;
      const answer = r.output ?? '';
      return {
        id: line.id,
        input: line.input,
        gold: line.gold_ids,
        tags: line.tags ?? [],
        answer,
        cited: citedIds(answer, r.retrievedIds),
        nothingFound: answer.trim() === NOTHING_FOUND,
        metrics: r.metrics,
        error: r.error,
      };
    });
    return { documents: ingest.documents, chunks: ingest.chunks, metrics: report.metrics, cases };
  } finally {
    await keel.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
