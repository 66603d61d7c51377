/**
 * Guard benchmark: PII precision/recall/F2 per entity type, injection precision/recall/F1, false
 * positives on ordinary questions, and the latency the `standard` input profile adds to a
 * 2,000-token prompt. Reads the shared evaluation data (`../shared/data` from the repo root, or
 * KEEL_DATA_DIR) and skips each part whose file is absent.
 *
 *   npm run bench:guard            # all parts
 *   npm run bench:guard -- --json bench/results/guard.json
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decode, encode } from 'gpt-tokenizer';
import { runScanners } from '../../src/guard/engine.ts';
import { compileProfile, type GuardProfile } from '../../src/guard/profiles.ts';
import { RedactionSession } from '../../src/guard/redact.ts';
import { add, type Counts, f3, type Prf, prf, quantile, type Span, tokenLabels } from './metrics.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DATA = process.env.KEEL_DATA_DIR ?? resolve(ROOT, '../shared/data');
const results: Record<string, unknown> = { data: DATA, node: process.version };

function readJsonl<T>(rel: string): T[] | null {
  const p = join(DATA, rel);
  if (!existsSync(p)) {
    console.log(`\n[skip] ${rel}: not found under ${DATA}`);
    return null;
  }
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

// Dataset labels → Keel's types. ZIP codes are part of the address family; dates of birth are the
// only dates Keel redacts, so DATE_OF_BIRTH is scored against DATE_TIME.
const GOLD: Record<string, string> = {
  PERSON: 'PERSON',
  EMAIL_ADDRESS: 'EMAIL',
  PHONE_NUMBER: 'PHONE',
  CREDIT_CARD: 'CREDIT_CARD',
  IBAN_CODE: 'IBAN',
  US_SSN: 'US_SSN',
  IP_ADDRESS: 'IP_ADDRESS',
  STREET_ADDRESS: 'ADDRESS',
  ZIP_CODE: 'ADDRESS',
};
const PRED: Record<string, string> = { DATE_OF_BIRTH: 'DATE_TIME' };
const SUPPORTED = new Set(Object.values(GOLD));

const piiOnly = (extendsName: 'standard' | 'strict'): GuardProfile =>
  compileProfile({ name: `bench-${extendsName}`, extends: extendsName, input: ['pii'] });

async function predict(profile: GuardProfile, text: string): Promise<Span[]> {
  const out = await runScanners(profile, 'input', text);
  return out.findings
    .filter((f) => f.action !== 'allow')
    .map((f) => ({ start: f.start, end: f.end, label: f.type }));
}

function row(name: string, p: Prf): string {
  return `${name.padEnd(18)} ${f3(p.precision)}  ${f3(p.recall)}  ${f3(p.f2)}  ${String(p.support).padStart(6)}`;
}

async function benchPresidio(): Promise<void> {
  type Rec = { text: string; spans: Array<{ start: number; end: number; label: string }> };
  const recs = readJsonl<Rec>('pii-presidio-synth/dev.jsonl');
  if (!recs) return;
  const out: Record<string, unknown> = {};
  for (const profileName of ['standard', 'strict'] as const) {
    const profile = piiOnly(profileName);
    const perType = new Map<string, Counts>();
    const supported: Counts = { tp: 0, fp: 0, fn: 0 };
    const all: Counts = { tp: 0, fp: 0, fn: 0 };
    for (const r of recs) {
      const gold = r.spans.map((s) => ({ ...s, label: GOLD[s.label] ?? s.label }));
      const pred = (await predict(profile, r.text)).map((s) => ({ ...s, label: PRED[s.label] ?? s.label }));
      for (const [g, p] of tokenLabels(r.text, gold, pred)) {
        if (g !== null && p === g) {
          add(perType, g, 'tp');
          all.tp++;
          if (SUPPORTED.has(g)) supported.tp++;
          continue;
        }
        if (p !== null) {
          add(perType, p, 'fp');
          all.fp++;
          supported.fp++;
        }
        if (g !== null) {
          add(perType, g, 'fn');
          all.fn++;
          if (SUPPORTED.has(g)) supported.fn++;
        }
      }
    }
    console.log(
      `\nPII on pii-presidio-synth/dev.jsonl (${recs.length} texts), profile ${profileName}, token level`,
    );
    console.log('type               prec.  recall  F2     gold tokens');
    const table: Record<string, Prf> = {};
    for (const [type, c] of [...perType.entries()].sort()) {
      table[type] = prf(c);
      console.log(row(type, table[type]) + (SUPPORTED.has(type) ? '' : '   (not a Keel type)'));
    }
    const s = prf(supported);
    const a = prf(all);
    console.log(row("overall (Keel's)", s));
    console.log(row('overall (all)', a));
    out[profileName] = { perType: table, overallKeelTypes: s, overallAllLabels: a };
  }
  results.presidio = out;
}

async function benchWnut(): Promise<void> {
  type Rec = { text: string; spans: Array<{ start: number; end: number; label: string }> };
  const recs = readJsonl<Rec>('pii-ner-wnut17/dev.jsonl');
  if (!recs) return;
  const out: Record<string, Prf> = {};
  console.log(`\nPerson names on pii-ner-wnut17/dev.jsonl (${recs.length} sentences), token level`);
  console.log('profile            prec.  recall  F2     gold tokens');
  for (const profileName of ['standard', 'strict'] as const) {
    const profile = piiOnly(profileName);
    const c: Counts = { tp: 0, fp: 0, fn: 0 };
    for (const r of recs) {
      const gold = r.spans.filter((s) => s.label === 'person');
      const pred = (await predict(profile, r.text)).filter((s) => s.label === 'PERSON');
      for (const [g, p] of tokenLabels(r.text, gold, pred)) {
        if (g && p) c.tp++;
        else if (p) c.fp++;
        else if (g) c.fn++;
      }
    }
    out[profileName] = prf(c);
    console.log(row(profileName, out[profileName]));
  }
  results.wnut17 = out;
}

async function injectionScores(texts: string[]): Promise<number[]> {
  const profile = compileProfile({
    name: 'bench-injection',
    extends: 'standard',
    input: ['injection'],
    thresholds: { PROMPT_INJECTION: 0 },
  });
  const scores: number[] = [];
  for (const t of texts)
    scores.push((await runScanners(profile, 'input', t)).metrics['injection.score'] ?? 0);
  return scores;
}

const THRESHOLDS = {
  standard: compileProfile('standard').thresholdFor('PROMPT_INJECTION'),
  strict: compileProfile('strict').thresholdFor('PROMPT_INJECTION'),
};

async function benchInjection(): Promise<void> {
  const recs = readJsonl<{ text: string; label: number }>('prompt-injection-deepset/train.jsonl');
  if (!recs) return;
  const scores = await injectionScores(recs.map((r) => r.text));
  const out: Record<string, unknown> = {};
  console.log(
    `\nPrompt injection on prompt-injection-deepset/train.jsonl (${recs.length} texts, ${recs.filter((r) => r.label === 1).length} injections)`,
  );
  console.log('profile    threshold  prec.  recall  F1     FP  FN');
  for (const [name, th] of Object.entries(THRESHOLDS)) {
    const c: Counts = { tp: 0, fp: 0, fn: 0 };
    recs.forEach((r, i) => {
      const hit = scores[i]! >= th;
      if (hit && r.label === 1) c.tp++;
      else if (hit) c.fp++;
      else if (r.label === 1) c.fn++;
    });
    const p = prf(c);
    out[name] = { threshold: th, ...p, fp: c.fp, fn: c.fn };
    console.log(
      `${name.padEnd(10)} ${th.toFixed(2).padStart(9)}  ${f3(p.precision)}  ${f3(p.recall)}  ${f3(p.f1)}  ${String(c.fp).padStart(3)} ${String(c.fn).padStart(3)}`,
    );
  }
  results.injection = out;
}

/** Injection false positives among texts with no injection in them, at each profile's threshold. */
async function injectionFalsePositives(texts: string[], what: string): Promise<Record<string, unknown>> {
  const scores = await injectionScores(texts);
  const out: Record<string, unknown> = {};
  console.log(`\nFalse positives on ordinary questions: ${what} (${texts.length}, no injections)`);
  for (const [name, th] of Object.entries(THRESHOLDS)) {
    const fp = scores.filter((s) => s >= th).length;
    out[name] = { injectionFalsePositives: fp, rate: fp / texts.length };
    console.log(
      `injection, ${name.padEnd(8)}: ${fp} of ${texts.length} flagged (${((100 * fp) / texts.length).toFixed(1)}%)`,
    );
  }
  return out;
}

async function benchCacm(): Promise<void> {
  const recs = readJsonl<{ text: string }>('ir-cacm/queries.jsonl');
  if (!recs) return;
  const out = await injectionFalsePositives(
    recs.map((r) => r.text),
    'ir-cacm/queries.jsonl topics',
  );
  const types = new Map<string, number>();
  for (const r of recs)
    for (const s of await predict(piiOnly('standard'), r.text))
      types.set(s.label, (types.get(s.label) ?? 0) + 1);
  const summary = [...types.entries()].map(([t, n]) => `${t} ${n}`).join(', ') || 'none';
  console.log(`PII findings (standard; these topics do name real authors): ${summary}`);
  out.piiFindings = Object.fromEntries(types);
  results.cacm = out;
}

/**
 * The questions of bench/docs-qa: what users of an AI gateway ask about it, system prompts and
 * instructions included, which naive extraction rules take for attacks.
 */
async function benchProductQuestions(): Promise<void> {
  const file = join(ROOT, 'bench/docs-qa/cases.jsonl');
  const texts = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { input: string }).input);
  results.productQuestions = await injectionFalsePositives(texts, 'bench/docs-qa questions about Keel');
}

function prompt2000(): string {
  type Doc = { text: string };
  const docs = readJsonl<Doc>('ir-cacm/corpus.jsonl');
  // Prose lines only (titles, authors, abstracts): the citation tables are numbers, not a prompt.
  const prose = (t: string) =>
    t
      .split('\n')
      .filter((l) => (l.match(/[A-Za-z]{3,}/g) ?? []).length >= 4)
      .join('\n');
  const filler = docs
    ? docs.map((d) => prose(d.text)).join('\n\n')
    : 'The committee reviewed the quarterly figures and the plan for the next release. '.repeat(300);
  const tokens = encode(filler).slice(0, 1975);
  const half = Math.floor(tokens.length / 2);
  const text = `${decode(tokens.slice(0, half))}\nPlease reply to Jane Miller at jane.miller@example.com or +1 415 555 0132.\n${decode(tokens.slice(half))}`;
  // A request's text comes out of JSON.parse as one flat string; a concatenation is a rope that
  // every character access walks, which would time the rope, not the scanners.
  return JSON.parse(JSON.stringify(text)) as string;
}

async function benchLatency(): Promise<void> {
  const text = prompt2000();
  const n = encode(text).length;
  const time = async (profile: GuardProfile | 'off' | 'standard' | 'strict', iters: number) => {
    for (let i = 0; i < 20; i++)
      await runScanners(profile, 'input', text, { session: new RedactionSession() });
    const ms: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      await runScanners(profile, 'input', text, { session: new RedactionSession() });
      ms.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    return { ms: ms.sort((a, b) => a - b), cpuMs: (cpu.user + cpu.system) / 1000 / iters };
  };
  // Wall-clock quantiles suffer from other processes on a shared machine; CPU time per call less so.
  console.log(`\nAdded latency, input stage, ${n}-token prompt (${text.length} chars), per call`);
  console.log('profile             p50 ms   p95 ms   cpu ms/call');
  const out: Record<string, { p50: number; p95: number; cpuMs: number }> = {};
  const cases: Array<[string, GuardProfile | 'off' | 'standard' | 'strict', number]> = [
    ['off (engine only)', 'off', 300],
    ['standard', 'standard', 300],
    ['  pii only', compileProfile({ name: 'pii', extends: 'standard', input: ['pii'] }), 300],
    ['  injection only', compileProfile({ name: 'inj', extends: 'standard', input: ['injection'] }), 300],
    ['strict', 'strict', 30],
  ];
  for (const [name, profile, iters] of cases) {
    const { ms, cpuMs } = await time(profile, iters);
    out[name.trim()] = { p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), cpuMs };
    console.log(
      `${name.padEnd(18)} ${quantile(ms, 0.5).toFixed(3).padStart(7)}  ${quantile(ms, 0.95).toFixed(3).padStart(7)}  ${cpuMs.toFixed(3).padStart(8)}`,
    );
  }
  results.latency = { promptTokens: n, ...out };
}

async function main(): Promise<void> {
  console.log(`Keel guard benchmark; data: ${DATA}`);
  await benchPresidio();
  await benchWnut();
  await benchInjection();
  await benchCacm();
  await benchProductQuestions();
  await benchLatency();
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt > 0 && process.argv[jsonAt + 1]) {
    const path = resolve(process.argv[jsonAt + 1]!);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwrote ${path}`);
  }
}

await main();
