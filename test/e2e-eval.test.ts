import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel, type ServeHandle, startServe } from './helpers/cli.ts';

/**
 * `keel eval` end to end against a real `keel serve` (PGlite on a temp data dir): a BEIR-style JSONL
 * corpus ingested with its own ids, a dataset with known answers, runs of a good and a broken app
 * with the metric values this data must give, `compare` failing CI with JUnit XML, and production
 * traces (thumbs-down) promoted into a dataset.
 */

const CORPUS = [
  { _id: 'doc-refund', title: 'Refunds', text: 'Refunds are paid within fourteen days.' },
  { _id: 'doc-ship', title: 'Shipping', text: 'Orders ship within two business days.' },
  { _id: 'doc-warranty', title: 'Warranty', text: 'The warranty covers defects for two years.' },
  { _id: 'doc-gift', title: 'Gift cards', text: 'Gift cards never expire and work in every store.' },
];
const NOISE = [
  { _id: 'noise-1', title: 'Tides', text: 'Tides follow the moon across the bay.' },
  { _id: 'noise-2', title: 'Bread', text: 'Sourdough rises slowly overnight in a cool kitchen.' },
];
const DATASET = [
  {
    id: 'q1',
    input: 'How long until refunds are paid?',
    reference: 'Refunds are paid within fourteen days.',
    gold_ids: ['doc-refund'],
  },
  {
    id: 'q2',
    input: 'When do orders ship?',
    reference: 'Orders ship within two business days.',
    gold_ids: ['doc-ship'],
  },
  {
    id: 'q3',
    input: 'What does the warranty cover?',
    reference: 'The warranty covers defects for two years.',
    gold_ids: ['doc-warranty'],
  },
];

const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

let root: string;
let env: Record<string, string>;
let server: ServeHandle | undefined;
let token: string;
const keel = (...args: string[]) => runKeel(args, { cwd: root, env, timeoutMs: 120_000 });
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(server!.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'keel-e2e-eval-'));
  env = { KEEL_DATA_DIR: join(root, 'data'), KEEL_PORT: '0' };
  writeFileSync(join(root, 'kb.jsonl'), jsonl(CORPUS));
  writeFileSync(join(root, 'noise.jsonl'), jsonl(NOISE));
  writeFileSync(join(root, 'qa.jsonl'), jsonl(DATASET));
  writeFileSync(
    join(root, 'keel.yaml'),
    [
      'seedDocs: false',
      'apps:',
      '  good: { model: extractive, collections: [kb], topK: 3 }',
      '  broken: { model: extractive, collections: [noise], topK: 3 }',
      '',
    ].join('\n'),
  );
  server = await startServe([], { cwd: root, env, timeoutMs: 180_000 });
  token = (JSON.parse(readFileSync(join(root, 'data', 'server.json'), 'utf8')) as { localToken: string })
    .localToken;
}, 200_000);

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('keel eval through a running server', { timeout: 180_000 }, () => {
  let good = '';
  let broken = '';

  it('ingests a JSONL corpus keeping each document id, and imports a dataset', async () => {
    const a = await keel('ingest', 'kb.jsonl', '-C', 'kb');
    expect(a.code, a.stderr).toBe(0);
    expect((await keel('ingest', 'noise.jsonl', '-C', 'noise')).code).toBe(0);
    const d = await keel('eval', 'dataset', 'import', 'qa.jsonl', '--name', 'qa');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('dataset "qa" version 1: 3 cases');
  });

  it('runs a dataset with known answers and gets the expected metrics', async () => {
    const r = await keel('eval', 'run', '--dataset', 'qa', '--app', 'good', '--k', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/eval \[#+\] 3\/3 cases/);
    const out = JSON.parse(r.stdout) as { run_id: string; status: string; metrics: Record<string, number> };
    good = out.run_id;
    expect(out.status).toBe('completed');
    expect(good).toMatch(/^run_/);
    // Each question's one gold document is the first retrieved: every retrieval metric is 1.
    for (const m of ['hit@3', 'recall@3', 'mrr', 'ndcg@10', 'map']) expect(out.metrics[m], m).toBe(1);
    // The extractive answerer quotes the gold sentence, which is the reference.
    expect(out.metrics.exact_match).toBe(1);
    expect(out.metrics.token_f1).toBe(1);
    expect(out.metrics.rouge_l).toBe(1);
    expect(out.metrics.groundedness).toBe(1);
    expect(out.metrics.error_rate).toBe(0);
    expect(out.metrics.cost_total_usd).toBe(0);
    expect(out.metrics.latency_p50_ms).toBeGreaterThan(0);

    const stored = await api('GET', `/v1/eval/runs/${good}`);
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({
      status: 'completed',
      app: 'good',
      case_count: 3,
      completed_cases: 3,
    });
    expect(stored.body.results.map((x: { retrieved_ids: string[] }) => x.retrieved_ids[0])).toEqual([
      'doc-refund',
      'doc-ship',
      'doc-warranty',
    ]);

    const b = await keel('eval', 'run', '--dataset', 'qa', '--app', 'broken', '--k', '3', '--json');
    expect(b.code, b.stderr).toBe(0);
    const bo = JSON.parse(b.stdout) as { run_id: string; metrics: Record<string, number> };
    broken = bo.run_id;
    for (const m of ['hit@3', 'recall@3', 'mrr', 'ndcg@10', 'map', 'exact_match'])
      expect(bo.metrics[m], m).toBe(0);
  });

  it('compare exits non-zero on the regression and writes JUnit XML', async () => {
    const same = await keel('eval', 'compare', good, good);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('0 regressed');

    const junit = join(root, 'eval.xml');
    const r = await keel('eval', 'compare', good, broken, '--junit', junit, '--threshold', 'latency_*=1000%');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ndcg@10\s+1\.0000\s+0\.0000\s+-1\.0000\s+! regressed/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuites name="keel-eval"');
    expect(xml).toMatch(
      /<testcase classname="keel\.eval" name="ndcg@10" time="0">\s*<failure type="regression"/,
    );
    expect(xml).not.toMatch(/name="latency_p50_ms" time="0">\s*<failure/);

    const api1 = await api('GET', `/v1/eval/compare?a=${good}&b=${broken}&threshold=latency_*=1000%25`);
    expect(api1.status).toBe(200);
    expect(api1.body.regressed).toBe(true);
    expect(api1.body.rows.find((x: { metric: string }) => x.metric === 'mrr')).toMatchObject({
      a: 1,
      b: 0,
      status: 'regressed',
    });
  });

  it('promotes a thumbs-down production trace into a dataset', async () => {
    const chat = await api('POST', '/v1/chat/completions', {
      model: 'good',
      messages: [{ role: 'user', content: 'Do gift cards expire? Reply to ann.lee@example.org' }],
    });
    expect(chat.status).toBe(200);
    const fb = await api('POST', '/v1/feedback', { response_id: chat.body.id, rating: 'down' });
    expect(fb.status).toBe(201);
    const p = await keel('eval', 'promote', '--dataset', 'prod', '--thumbs-down', '--tag', 'triage');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('dataset "prod" version 1: 1 cases added');
    const d = await api('GET', '/v1/eval/datasets/prod');
    const [c] = d.body.cases as { input: string; tags: string[]; source_trace_id: string }[];
    expect(c!.input).toContain('Do gift cards expire?');
    expect(c!.input).not.toContain('ann.lee@example.org');
    expect(c!.tags).toEqual(expect.arrayContaining(['triage', 'thumbs_down', 'production']));
    expect(c!.source_trace_id).toBe(String(chat.body.id).replace('chatcmpl-', ''));
    // Promoting the same trace again adds nothing.
    const again = await keel('eval', 'promote', '--dataset', 'prod', '--trace', String(chat.body.id));
    expect(again.stdout).toContain('0 cases added');
  });

  it('runs in-process when no server is running, with consistency over variations', async () => {
    await server?.stop();
    server = undefined;
    const r = await keel(
      'eval',
      'run',
      '--dataset',
      'qa',
      '--app',
      'good',
      '--k',
      '3',
      '--variations',
      'case,whitespace',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('using data dir');
    const out = JSON.parse(r.stdout) as { run_id: string; metrics: Record<string, number> };
    expect(out.metrics['ndcg@10']).toBe(1);
    // Case and whitespace changes do not move this retrieval or these answers.
    expect(out.metrics.consistency_retrieval).toBe(1);
    expect(out.metrics.consistency_answer).toBe(1);
    const runs = await keel('eval', 'runs', '--dataset', 'qa', '--json');
    const listed = JSON.parse(runs.stdout) as { id: string; app: string }[];
    expect(listed.map((x) => x.id)).toEqual([out.run_id, broken, good]);
  });
});
