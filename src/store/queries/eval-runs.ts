import type { Queryable, SqlParam } from '../db.ts';
import { newId } from '../ids.ts';
import type { DatasetVersion } from './eval.ts';

/** Eval runs (one per `keel eval run`) and their per-case results. */

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface EvalRunRecord {
  id: string;
  tenantId: string;
  datasetId: string | null;
  datasetName: string;
  datasetVersion: number;
  app: string;
  config: Record<string, unknown>;
  status: RunStatus;
  caseCount: number;
  completedCases: number;
  metrics: Record<string, number>;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

interface RunRow {
  id: string;
  tenant_id: string;
  dataset_id: string | null;
  dataset_name: string;
  dataset_version: number;
  app: string;
  config: Record<string, unknown>;
  status: RunStatus;
  case_count: number;
  completed_cases: number;
  metrics: Record<string, number>;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const RUN_COLUMNS = `id, tenant_id, dataset_id, dataset_name, dataset_version, app, config, status, case_count,
  completed_cases, metrics, error, started_at, finished_at`;

const toRun = (r: RunRow): EvalRunRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  datasetId: r.dataset_id,
  datasetName: r.dataset_name,
  datasetVersion: r.dataset_version,
  app: r.app,
  config: r.config,
  status: r.status,
  caseCount: r.case_count,
  completedCases: r.completed_cases,
  metrics: r.metrics,
  error: r.error,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export interface NewRun {
  tenantId: string;
  dataset: Pick<DatasetVersion, 'id' | 'name' | 'version'>;
  app: string;
  config?: Record<string, unknown> | undefined;
  caseCount: number;
}

export async function createRun(q: Queryable, run: NewRun): Promise<string> {
  const id = newId('run');
  await q.query(
    `insert into eval_runs (id, tenant_id, dataset_id, dataset_name, dataset_version, app, config, status, case_count)
     values ($1, $2, $3, $4, $5, $6, $7, 'running', $8)`,
    [
      id,
      run.tenantId,
      run.dataset.id,
      run.dataset.name,
      run.dataset.version,
      run.app,
      JSON.stringify(run.config ?? {}),
      run.caseCount,
    ],
  );
  return id;
}

export async function updateRunProgress(q: Queryable, runId: string, completedCases: number): Promise<void> {
  await q.query('update eval_runs set completed_cases = $2 where id = $1', [runId, completedCases]);
}

export async function finishRun(
  q: Queryable,
  runId: string,
  end: {
    status: Exclude<RunStatus, 'running'>;
    metrics: Record<string, number>;
    completedCases: number;
    error?: string;
  },
): Promise<void> {
  await q.query(
    `update eval_runs set status = $2, metrics = $3, completed_cases = $4, error = $5, finished_at = now()
     where id = $1`,
    [runId, end.status, JSON.stringify(end.metrics), end.completedCases, end.error ?? null],
  );
}

export async function getRun(
  q: Queryable,
  id: string,
  tenantId?: string,
): Promise<EvalRunRecord | undefined> {
  const rows = await q.query<RunRow>(
    `select ${RUN_COLUMNS} from eval_runs where id = $1 ${tenantId !== undefined ? 'and tenant_id = $2' : ''}`,
    tenantId !== undefined ? [id, tenantId] : [id],
  );
  return rows[0] ? toRun(rows[0]) : undefined;
}

/** Newest first. */
export async function listRuns(
  q: Queryable,
  f: { tenantId?: string; datasetName?: string; app?: string; limit?: number } = {},
): Promise<EvalRunRecord[]> {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  const add = (sql: string, v: string | undefined) => {
    if (v === undefined) return;
    params.push(v);
    parts.push(`${sql} = $${params.length}`);
  };
  add('tenant_id', f.tenantId);
  add('dataset_name', f.datasetName);
  add('app', f.app);
  const limit = Math.max(1, Math.min(1000, Math.floor(f.limit ?? 50)));
  const rows = await q.query<RunRow>(
    `select ${RUN_COLUMNS} from eval_runs ${parts.length ? `where ${parts.join(' and ')}` : ''}
     order by started_at desc, id desc limit ${limit}`,
    params,
  );
  return rows.map(toRun);
}

export interface StoredResult {
  position: number;
  caseId?: string | undefined;
  input: string;
  output?: string | undefined;
  retrievedIds: string[];
  metrics: Record<string, number>;
  judgePrompt?: string | undefined;
  judgeVerdict?: Record<string, unknown> | undefined;
  variations?: unknown[] | undefined;
  latencyMs?: number | undefined;
  costUsd?: number | undefined;
  error?: string | undefined;
}

const RESULT_COLUMNS = [
  'run_id',
  'position',
  'case_id',
  'input',
  'output',
  'retrieved_ids',
  'metrics',
  'judge_prompt',
  'judge_verdict',
  'variations',
  'latency_ms',
  'cost_usd',
  'error',
] as const;
const RESULTS_PER_STATEMENT = Math.floor(65_535 / RESULT_COLUMNS.length);

/** Stores per-case results; a position already stored for the run is replaced. */
export async function insertResults(
  q: Queryable,
  runId: string,
  results: readonly StoredResult[],
): Promise<void> {
  for (let i = 0; i < results.length; i += RESULTS_PER_STATEMENT) {
    const params: SqlParam[] = [];
    const tuples: string[] = [];
    for (const r of results.slice(i, i + RESULTS_PER_STATEMENT)) {
      const base = params.length;
      params.push(
        runId,
        r.position,
        r.caseId ?? null,
        r.input,
        r.output ?? null,
        JSON.stringify(r.retrievedIds),
        JSON.stringify(r.metrics),
        r.judgePrompt ?? null,
        r.judgeVerdict ? JSON.stringify(r.judgeVerdict) : null,
        r.variations ? JSON.stringify(r.variations) : null,
        r.latencyMs ?? null,
        r.costUsd ?? null,
        r.error ?? null,
      );
      tuples.push(`(${RESULT_COLUMNS.map((_, k) => `$${base + k + 1}`).join(',')})`);
    }
    await q.query(
      `insert into eval_results (${RESULT_COLUMNS.join(',')}) values ${tuples.join(',')}
       on conflict (run_id, position) do update set ${RESULT_COLUMNS.slice(2)
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}`,
      params,
    );
  }
}

interface ResultRow {
  position: number;
  case_id: string | null;
  input: string;
  output: string | null;
  retrieved_ids: string[];
  metrics: Record<string, number>;
  judge_prompt: string | null;
  judge_verdict: Record<string, unknown> | null;
  variations: unknown[] | null;
  latency_ms: number | null;
  cost_usd: number | null;
  error: string | null;
}

export async function getRunResults(q: Queryable, runId: string): Promise<StoredResult[]> {
  const rows = await q.query<ResultRow>(
    `select ${RESULT_COLUMNS.slice(1).join(', ')} from eval_results where run_id = $1 order by position`,
    [runId],
  );
  return rows.map((r) => {
    const out: StoredResult = {
      position: r.position,
      input: r.input,
      retrievedIds: r.retrieved_ids,
      metrics: r.metrics,
    };
    if (r.case_id !== null) out.caseId = r.case_id;
    if (r.output !== null) out.output = r.output;
    if (r.judge_prompt !== null) out.judgePrompt = r.judge_prompt;
    if (r.judge_verdict !== null) out.judgeVerdict = r.judge_verdict;
    if (r.variations !== null) out.variations = r.variations;
    if (r.latency_ms !== null) out.latencyMs = r.latency_ms;
    if (r.cost_usd !== null) out.costUsd = r.cost_usd;
    if (r.error !== null) out.error = r.error;
    return out;
  });
}
