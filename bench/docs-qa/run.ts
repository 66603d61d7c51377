/**
 * Docs QA: what a new user gets from `npm start` before configuring anything. Ingests Keel's own
 * `docs/` into a fresh embedded store, runs `cases.jsonl` (questions a new user asks, with the docs
 * that answer them and a reference answer) through the built-in `default` app with Keel's eval
 * runner, and reports retrieval (hit@1, hit@3, MRR), whether the answer cites a gold document, the
 * answer's token F1 and ROUGE-L against the reference, and whether off-topic questions get the plain
 * "nothing found" instead of an invented answer. See bench/README.md.
 *
 *   npm run bench:docs-qa [-- --json bench/results/docs-qa.json]   (the JSON holds every answer)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { importDatasetJsonl } from '../../src/eval/datasets.ts';
import { NOTHING_FOUND } from '../../src/providers/extractive.ts';
import { ingestPaths } from '../../src/rag/ingest-files.ts';
import { createKeel } from '../../src/runtime.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CASES = join(ROOT, 'bench/docs-qa/cases.jsonl');

interface CaseLine {
  id: string;
  input: string;
  gold_ids?: string[];
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

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const f3 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(3));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-docs-qa-'));
  // Only the data dir: no keel.yaml, no DATABASE_URL, no model key, as on a fresh machine.
  const config = loadConfig({ cwd: dir, env: { KEEL_DATA_DIR: join(dir, 'data') } });
  const keel = await createKeel(config, { quiet: true });
  try {
    const tenantId = keel.defaultTenantId;
    // Document ids are paths relative to the working directory: `docs/api-keys.md`, as `npm start` seeds them.
    process.chdir(ROOT);
    const ingest = await ingestPaths(keel.rag, { tenantId, collection: 'default', paths: ['docs'] });
    const text = readFileSync(CASES, 'utf8');
    const lines = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as CaseLine);
    await importDatasetJsonl(keel.db, { tenantId, name: 'docs-qa', text });
    const report = await keel.evals.run({ tenantId, dataset: 'docs-qa', app: 'default', k: 3, store: false });

    console.log(`docs: ${ingest.documents} documents, ${ingest.chunks} chunks; ${lines.length} questions\n`);
    console.log('| case | MRR | first citation | token F1 | answer starts |');
    console.log('| --- | ---: | --- | ---: | --- |');
    const citesGold: number[] = [];
    const firstGold: number[] = [];
    const perCase: unknown[] = [];
    const nothingOnAnswerable: string[] = [];
    const offTopic: boolean[] = [];
    for (const r of report.results) {
      const line = lines[r.position]!;
      const answer = r.output ?? '';
      const nothing = answer.trim() === NOTHING_FOUND;
      if (!line.gold_ids) {
        offTopic.push(nothing);
        console.log(`| ${line.id} | — | — | — | ${nothing ? 'nothing found (right)' : 'ANSWERED'} |`);
        continue;
      }
      const gold = new Set(line.gold_ids);
      const cited = citedIds(answer, r.retrievedIds);
      const cites = cited.some((id) => gold.has(id));
      const first = cited[0] !== undefined && gold.has(cited[0]);
      citesGold.push(cites ? 1 : 0);
      firstGold.push(first ? 1 : 0);
      perCase.push({ id: line.id, input: line.input, answer, cited, metrics: r.metrics });
      if (nothing) nothingOnAnswerable.push(line.id);
      if (r.error) console.log(`| ${line.id} | — | — | — | error: ${r.error} |`);
      const start = answer.replace(/\s+/g, ' ').slice(0, 70).replaceAll('|', '\\|');
      console.log(
        `| ${line.id} | ${f3(r.metrics.mrr)} | ${first ? 'gold' : cites ? 'other (gold later)' : 'other'} | ${f3(r.metrics.token_f1)} | ${start} |`,
      );
    }
    const m = report.metrics;
    console.log('\n| metric | value |');
    console.log('| --- | ---: |');
    for (const [name, v] of [
      ['hit@3', m['hit@3']],
      ['mrr', m.mrr],
      ['answer cites a gold document', mean(citesGold)],
      ['first citation is a gold document', mean(firstGold)],
      ['token F1 vs reference', m.token_f1],
      ['ROUGE-L vs reference', m.rouge_l],
      ['answer relevance', m.answer_relevance],
      ['groundedness', m.groundedness],
      ['off-topic questions answered "nothing found"', mean(offTopic.map(Number))],
    ] as const)
      console.log(`| ${name} | ${f3(v)} |`);
    if (nothingOnAnswerable.length > 0)
      console.log(`\nanswerable but "nothing found": ${nothingOnAnswerable.join(', ')}`);
    if (report.failed > 0) console.log(`\n${report.failed} cases failed`);
    const jsonAt = process.argv.indexOf('--json');
    if (jsonAt > 0 && process.argv[jsonAt + 1]) {
      const path = resolve(ROOT, process.argv[jsonAt + 1]!);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${JSON.stringify({ metrics: m, cases: perCase }, null, 2)}\n`);
      console.log(`\nwrote ${path}`);
    }
  } finally {
    await keel.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
