/**
 * Docs QA: what a new user gets from `npm start` before configuring anything. Ingests Keel's own
 * `docs/` into a fresh embedded store, runs `cases.jsonl` (questions a new user asks, with the docs
 * that answer them and a reference answer) through the built-in `default` app with Keel's eval
 * runner, and reports retrieval (hit@3, MRR), whether the answer cites a gold document, the
 * answer's token F1 and ROUGE-L against the reference, and whether off-topic questions get the plain
 * "nothing found" instead of an invented answer. See bench/README.md.
 *
 *   npm run bench:docs-qa [-- --json bench/results/docs-qa.json]   (the JSON holds every answer)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ROOT, runDocsQa } from './docs-qa.ts';

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const f3 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(3));

const run = await runDocsQa();
console.log(`docs: ${run.documents} documents, ${run.chunks} chunks; ${run.cases.length} questions\n`);
console.log('| case | MRR | first citation | token F1 | answer starts |');
console.log('| --- | ---: | --- | ---: | --- |');
const citesGold: number[] = [];
const firstGold: number[] = [];
const offTopic: number[] = [];
for (const c of run.cases) {
  if (c.error) console.log(`| ${c.id} | — | — | — | error: ${c.error} |`);
  if (!c.gold) {
    offTopic.push(c.nothingFound ? 1 : 0);
    console.log(`| ${c.id} | — | — | — | ${c.nothingFound ? 'nothing found (right)' : 'ANSWERED'} |`);
    continue;
  }
  const gold = new Set(c.gold);
  const cites = c.cited.some((id) => gold.has(id));
  const first = c.cited[0] !== undefined && gold.has(c.cited[0]);
  citesGold.push(cites ? 1 : 0);
  firstGold.push(first ? 1 : 0);
  const start = c.answer.replace(/\s+/g, ' ').slice(0, 70).replaceAll('|', '\\|');
  const where = first ? 'gold' : cites ? 'other (gold later)' : 'other';
  console.log(`| ${c.id} | ${f3(c.metrics.mrr)} | ${where} | ${f3(c.metrics.token_f1)} | ${start} |`);
}
const m = run.metrics;
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
  ['off-topic questions answered "nothing found"', mean(offTopic)],
] as const)
  console.log(`| ${name} | ${f3(v)} |`);
const nothing = run.cases.filter((c) => c.gold && c.nothingFound).map((c) => c.id);
if (nothing.length > 0) console.log(`\nanswerable but "nothing found": ${nothing.join(', ')}`);

const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0 && process.argv[jsonAt + 1]) {
  const path = resolve(ROOT, process.argv[jsonAt + 1]!);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`\nwrote ${path}`);
}
