import { readFile, writeFile } from 'node:fs/promises';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  compareRuns,
  comparisonToJUnit,
  formatValue,
  parseThresholds,
  renderComparison,
} from '../../eval/compare.ts';
import type { EvalRunRequest } from '../../eval/service.ts';
import { parseVariationKinds } from '../../eval/variations.ts';
import { connect, expectOk, type KeelClient } from '../client.ts';
import { CliError, configFor, info, out, toApiError } from '../util.ts';

/** `keel eval`: datasets, runs, comparison (CI gate) and promotion of production traces. */

interface RunSummary {
  id: string | null;
  status: string;
  dataset: { id: string | null; name: string; version: number };
  app: string;
  metrics: Record<string, number>;
  total?: number;
  failed?: number;
}

interface RunOptions {
  dataset: string;
  app: string;
  version?: string;
  concurrency?: string;
  k?: string;
  depth?: string;
  variations?: string | boolean;
  repeats?: string;
  judge?: string;
  json?: boolean;
}

const collectList = (v: string, prev: string[] = []) => [...prev, v];

function int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

async function withClient<T>(cmd: Command, fn: (c: KeelClient) => Promise<T>): Promise<T> {
  const client = await connect(configFor(cmd), info, 'eval');
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function registerEval(program: Command): void {
  const ev = program.command('eval').description('Evaluate apps on datasets; compare runs for CI');
  const ds = ev.command('dataset').description('Eval datasets (JSONL, versioned)');

  ds.command('import')
    .description('Import a JSONL dataset (or BEIR queries with --qrels) as the next version of a dataset')
    .argument(
      '<file>',
      'JSONL: {"input", "reference"?, "gold_ids"?, "tags"?} per line; BEIR queries.jsonl with --qrels',
    )
    .requiredOption('-n, --name <name>', 'dataset name')
    .option('--qrels <file>', 'BEIR qrels TSV (query-id, corpus-id, score): <file> is then queries.jsonl')
    .option('--description <text>', 'what the dataset is for')
    .action(
      async (file: string, opts: { name: string; qrels?: string; description?: string }, cmd: Command) => {
        const text = await readText(file);
        const body = opts.qrels
          ? { beir: { queries: text, qrels: await readText(opts.qrels) }, description: opts.description }
          : { jsonl: text, description: opts.description };
        const r = await withClient(cmd, async (c) =>
          expectOk<{
            dataset: { name: string; version: number; case_count: number; id: string };
            created: boolean;
          }>(await c.request('POST', `/v1/eval/datasets/${encodeURIComponent(opts.name)}`, body)),
        );
        const d = r.dataset;
        out(
          r.created
            ? `dataset "${d.name}" version ${d.version}: ${d.case_count} cases (${d.id})\n`
            : `dataset "${d.name}" unchanged: version ${d.version} already has these ${d.case_count} cases\n`,
        );
      },
    );

  ds.command('list')
    .description('List datasets (latest version of each)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await withClient(cmd, async (c) =>
        expectOk<{ data: { name: string; version: number; case_count: number; created_at: string }[] }>(
          await c.request('GET', '/v1/eval/datasets'),
        ),
      );
      if (opts.json) return out(`${JSON.stringify(r.data, null, 2)}\n`);
      for (const d of r.data) out(`${d.name}\tv${d.version}\t${d.case_count} cases\t${d.created_at}\n`);
    });

  ev.command('run')
    .description('Run every case of a dataset through an app and store the run')
    .requiredOption('-d, --dataset <name>', 'dataset name')
    .requiredOption('-a, --app <name>', 'app (or model) to evaluate')
    .option('--version <n>', 'dataset version (default: latest)')
    .option('-c, --concurrency <n>', 'cases in flight at once', '4')
    .option('-k, --k <n>', 'cut-off of hit@k and recall@k', '5')
    .option('--depth <n>', "chunks retrieved per case (default: the app's topK, at least 10; MAP wants 1000)")
    .option(
      '--variations [kinds]',
      'also ask deterministic variations (all, or a list: case,whitespace,typo,paraphrase,suffix) and report consistency',
    )
    .option('--repeats <n>', 'with --variations: times each input is asked again unchanged', '1')
    .option(
      '--judge <model>',
      'grade answers with an LLM judge (faithfulness, relevance, context precision/recall)',
    )
    .option('--json', 'print the run id and aggregate metrics as JSON')
    .action(async (opts: RunOptions, cmd: Command) => {
      const repeats = int(opts.repeats, 'repeats', 0, 10);
      const variations =
        opts.variations === undefined
          ? undefined
          : {
              kinds: opts.variations === true ? undefined : parseVariationKinds(String(opts.variations)),
              repeats,
            };
      const req = {
        dataset: opts.dataset,
        app: opts.app,
        version: int(opts.version, 'version', 1, 1_000_000),
        concurrency: int(opts.concurrency, 'concurrency', 1, 64),
        k: int(opts.k, 'k', 1, 100),
        depth: int(opts.depth, 'depth', 1, 1_000),
        judge: opts.judge,
      };
      const bar = new SingleBar({
        stream: process.stderr,
        format: 'eval [{bar}] {value}/{total} cases, {failed} failed',
        barCompleteChar: '#',
        barIncompleteChar: '-',
        hideCursor: true,
        // Logs of CI jobs are not terminals: a progress line every few seconds there, and at the end.
        noTTYOutput: true,
        notTTYSchedule: 5_000,
      });
      let started = false;
      const progress = (done: number, total: number, failed: number) => {
        if (!started) {
          bar.start(total, 0, { failed: 0 });
          started = true;
        }
        bar.update(done, { failed });
      };
      let run: RunSummary;
      try {
        run = await withClient(cmd, (c) =>
          c.mode === 'direct'
            ? runDirect(c, req, variations, progress)
            : runOverHttp(c, req, variations, progress),
        );
      } finally {
        bar.stop();
      }
      if (opts.json) {
        out(
          `${JSON.stringify({ run_id: run.id, status: run.status, dataset: run.dataset, app: run.app, metrics: run.metrics }, null, 2)}\n`,
        );
        return;
      }
      out(
        `run ${run.id} (${run.status}): dataset "${run.dataset.name}" v${run.dataset.version}, app "${run.app}"`,
      );
      out(run.total === undefined ? '\n' : `, ${run.total} cases, ${run.failed ?? 0} failed\n`);
      out(formatMetrics(run.metrics));
      if (run.status !== 'completed') process.exitCode = 1;
    });

  ev.command('runs')
    .description('List eval runs, newest first')
    .option('-d, --dataset <name>', 'only runs of this dataset')
    .option('-a, --app <name>', 'only runs of this app')
    .option('--json', 'print JSON')
    .action(async (opts: { dataset?: string; app?: string; json?: boolean }, cmd: Command) => {
      const q = new URLSearchParams();
      if (opts.dataset) q.set('dataset', opts.dataset);
      if (opts.app) q.set('app', opts.app);
      const r = await withClient(cmd, async (c) =>
        expectOk<{ data: (RunSummary & { started_at: string })[] }>(
          await c.request('GET', `/v1/eval/runs?${q}`),
        ),
      );
      if (opts.json) return out(`${JSON.stringify(r.data, null, 2)}\n`);
      for (const x of r.data) {
        out(`${x.id}\t${x.status}\t${x.dataset.name} v${x.dataset.version}\t${x.app}\t${x.started_at}\n`);
      }
    });

  ev.command('compare')
    .description('Compare run B against baseline run A; exits 1 when a metric regressed beyond its threshold')
    .argument('<runA>', 'baseline run id')
    .argument('<runB>', 'candidate run id')
    .option(
      '-t, --threshold <metric=delta>',
      'tolerance per metric: ndcg@10=0.02, latency_p95_ms=20%, latency_*=50% (repeatable)',
      collectList,
    )
    .option('--junit <file>', 'also write the comparison as JUnit XML')
    .option('--json', 'print the comparison as JSON')
    .action(
      async (
        a: string,
        b: string,
        opts: { threshold?: string[]; junit?: string; json?: boolean },
        cmd: Command,
      ) => {
        let thresholds: ReturnType<typeof parseThresholds>;
        try {
          thresholds = parseThresholds(opts.threshold ?? []);
        } catch (e) {
          throw new CliError((e as Error).message);
        }
        const [ra, rb] = await withClient(cmd, (c) => Promise.all([getRun(c, a), getRun(c, b)]));
        const cmp = compareRuns(ra.metrics, rb.metrics, thresholds);
        if (opts.junit) await writeFile(opts.junit, comparisonToJUnit(cmp, { a, b }));
        if (opts.json) out(`${JSON.stringify({ a, b, ...cmp }, null, 2)}\n`);
        else out(renderComparison(cmp, { a, b }));
        if (cmp.regressed) process.exitCode = 1;
      },
    );

  ev.command('promote')
    .description('Add production traces to a dataset (by id, or thumbs-down / guard-flagged / errors)')
    .requiredOption('-d, --dataset <name>', 'dataset to add the cases to (created if new)')
    .option('--trace <id>', 'a trace (response) id (repeatable)', collectList)
    .option('--thumbs-down', 'traces rated thumbs-down')
    .option('--guard-flagged', 'traces with guard findings')
    .option('--errors', 'traces that failed')
    .option('-a, --app <name>', 'only traces of this app')
    .option('--since <iso>', 'only traces since this time (ISO 8601)')
    .option('--limit <n>', 'most traces taken by a filter', '100')
    .option('--tag <tag>', 'tag the new cases (repeatable)', collectList)
    .action(async (opts: PromoteOptions, cmd: Command) => {
      const filterWanted = opts.thumbsDown || opts.guardFlagged || opts.errors;
      if (!opts.trace?.length && !filterWanted) {
        throw new CliError(
          'name traces with --trace, or pick them with --thumbs-down, --guard-flagged or --errors',
        );
      }
      const body = {
        trace_ids: opts.trace,
        tags: opts.tag,
        filter: filterWanted
          ? {
              ...(opts.thumbsDown ? { feedback: 'down' } : {}),
              ...(opts.guardFlagged ? { guard_findings: true } : {}),
              ...(opts.errors ? { status: 'error' } : {}),
              ...(opts.app ? { app: opts.app } : {}),
              ...(opts.since ? { from: new Date(opts.since).toISOString() } : {}),
              limit: int(opts.limit, 'limit', 1, 1_000),
            }
          : undefined,
      };
      const r = await withClient(cmd, async (c) =>
        expectOk<{
          dataset: { name: string; version: number; case_count: number };
          added: number;
          skipped: { trace_id: string; reason: string }[];
        }>(await c.request('POST', `/v1/eval/datasets/${encodeURIComponent(opts.dataset)}/cases`, body)),
      );
      out(
        `dataset "${r.dataset.name}" version ${r.dataset.version}: ${r.added} cases added (${r.dataset.case_count} in all)\n`,
      );
      for (const s of r.skipped) info(`skipped ${s.trace_id}: ${s.reason}`);
    });
}

interface PromoteOptions {
  dataset: string;
  trace?: string[];
  thumbsDown?: boolean;
  guardFlagged?: boolean;
  errors?: boolean;
  app?: string;
  since?: string;
  limit?: string;
  tag?: string[];
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

async function getRun(c: KeelClient, id: string): Promise<RunSummary> {
  return expectOk<RunSummary>(
    await c.request('GET', `/v1/eval/runs/${encodeURIComponent(id)}?results=false`),
  );
}

type RunParams = Omit<EvalRunRequest, 'tenantId' | 'variations' | 'signal' | 'onProgress'>;
type Variations =
  | { kinds: ReturnType<typeof parseVariationKinds> | undefined; repeats: number | undefined }
  | undefined;

/** In this process: the eval service directly, with progress per case. */
async function runDirect(
  c: KeelClient,
  req: RunParams,
  variations: Variations,
  progress: (done: number, total: number, failed: number) => void,
): Promise<RunSummary> {
  const keel = c.keel!;
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  try {
    const o = await keel.evals.run({
      ...req,
      tenantId: keel.defaultTenantId,
      variations,
      signal: ctl.signal,
      onProgress: (p) => progress(p.done, p.total, p.failed),
    });
    return {
      id: o.runId ?? null,
      status: o.status,
      dataset: o.dataset,
      app: o.app,
      metrics: o.metrics,
      total: o.total,
      failed: o.failed,
    };
  } finally {
    process.off('SIGINT', stop);
  }
}

/** Against a running server: `POST /v1/eval/runs` streaming NDJSON progress lines, then the result. */
async function runOverHttp(
  c: KeelClient,
  req: RunParams,
  variations: Variations,
  progress: (done: number, total: number, failed: number) => void,
): Promise<RunSummary> {
  const v = variations && { kinds: variations.kinds?.join(','), repeats: variations.repeats };
  const res = await c.request('POST', '/v1/eval/runs', { ...req, variations: v, stream: true });
  if (res.status !== 200) throw toApiError(res.status, await res.json().catch(() => undefined));
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const ev = JSON.parse(line) as
        | { type: 'progress'; done: number; total: number; failed: number }
        | { type: 'result'; run: RunSummary }
        | { type: 'error'; error: { message: string; code: string } };
      if (ev.type === 'progress') progress(ev.done, ev.total, ev.failed);
      else if (ev.type === 'result') return ev.run;
      else throw toApiError(500, ev);
    }
  }
  throw new CliError('the server ended the eval run without a result');
}

function formatMetrics(m: Record<string, number>): string {
  const names = Object.keys(m).sort();
  const w = Math.max(6, ...names.map((n) => n.length));
  return `${names.map((n) => `  ${n.padEnd(w)}  ${formatValue(m[n] as number)}`).join('\n')}\n`;
}
