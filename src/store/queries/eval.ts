import { createHash } from 'node:crypto';
import { KeelError } from '../../errors.ts';
import type { Db, Queryable, SqlParam } from '../db.ts';
import { newId } from '../ids.ts';

/**
 * Eval datasets (immutable versions of a case list), runs and per-case results. A dataset is named
 * per tenant; importing a case list that differs from the latest version creates version n+1,
 * importing the same list again returns the latest version unchanged.
 */

export interface EvalCaseInput {
  /** The case's own id from the source file, if it had one. */
  externalId?: string | undefined;
  input: string;
  reference?: string | undefined;
  /** Relevant document ids (binary relevance), in the file's order. */
  goldIds?: string[] | undefined;
  /** Graded relevance (id → grade > 0); when set, `goldIds` lists its keys. */
  goldGrades?: Record<string, number> | undefined;
  tags?: string[] | undefined;
  /** The production trace this case was promoted from. */
  sourceTraceId?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface EvalCaseRecord extends EvalCaseInput {
  id: string;
  datasetId: string;
  position: number;
  tags: string[];
}

export interface DatasetVersion {
  id: string;
  tenantId: string;
  name: string;
  version: number;
  description: string;
  contentHash: string;
  caseCount: number;
  createdAt: Date;
}

interface DatasetRow {
  id: string;
  tenant_id: string;
  name: string;
  version: number;
  description: string;
  content_hash: string;
  case_count: number;
  created_at: Date;
}

const DATASET_COLUMNS = 'id, tenant_id, name, version, description, content_hash, case_count, created_at';

const toDataset = (r: DatasetRow): DatasetVersion => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  version: r.version,
  description: r.description,
  contentHash: r.content_hash,
  caseCount: r.case_count,
  createdAt: r.created_at,
});

/** Hash of the canonical case list: key order, gold id order and absent/empty fields never change it. */
export function datasetHash(cases: readonly EvalCaseInput[]): string {
  const canon = cases.map((c) => [
    c.externalId ?? null,
    c.input,
    c.reference ?? null,
    // Gold ids are a set: their order in the file is not content.
    c.goldIds ? [...c.goldIds].sort() : null,
    c.goldGrades ? Object.entries(c.goldGrades).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : null,
    c.tags?.length ? c.tags : null,
    c.sourceTraceId ?? null,
    c.metadata && Object.keys(c.metadata).length ? sortKeys(c.metadata) : null,
  ]);
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex');
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export interface ImportResult {
  dataset: DatasetVersion;
  /** False when the cases equal the latest version's (nothing was written). */
  created: boolean;
}

const NAME = /^[\w.-]{1,100}$/;

/** Stores `cases` as the next version of dataset `name`, unless they equal the latest version. */
export async function importDataset(
  db: Db,
  opts: { tenantId: string; name: string; description?: string | undefined; cases: readonly EvalCaseInput[] },
): Promise<ImportResult> {
  if (!NAME.test(opts.name)) {
    throw new KeelError('invalid_request', 'dataset names are 1-100 letters, digits, _, . or -', {
      param: 'name',
    });
  }
  if (opts.cases.length === 0) {
    throw new KeelError('invalid_request', 'a dataset needs at least one case', { param: 'cases' });
  }
  const hash = datasetHash(opts.cases);
  // Two concurrent imports may pick the same next version; the loser retries on the new latest.
  for (let attempt = 0; attempt < 5; attempt++) {
    const out = await db.transaction(async (tx) => {
      const latest = await latestVersion(tx, opts.tenantId, opts.name);
      if (latest && latest.contentHash === hash) return { dataset: latest, created: false };
      const id = newId('ds');
      const rows = await tx.query<DatasetRow>(
        `insert into eval_datasets (id, tenant_id, name, version, description, content_hash, case_count)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (tenant_id, name, version) do nothing returning ${DATASET_COLUMNS}`,
        [
          id,
          opts.tenantId,
          opts.name,
          (latest?.version ?? 0) + 1,
          opts.description ?? latest?.description ?? '',
          hash,
          opts.cases.length,
        ],
      );
      if (!rows[0]) return undefined;
      await insertCases(tx, id, opts.cases);
      return { dataset: toDataset(rows[0]), created: true };
    });
    if (out) return out;
  }
  throw new KeelError('unavailable', `dataset ${opts.name}: too many concurrent imports, try again`);
}

async function latestVersion(
  q: Queryable,
  tenantId: string,
  name: string,
): Promise<DatasetVersion | undefined> {
  const rows = await q.query<DatasetRow>(
    `select ${DATASET_COLUMNS} from eval_datasets where tenant_id = $1 and name = $2 order by version desc limit 1`,
    [tenantId, name],
  );
  return rows[0] ? toDataset(rows[0]) : undefined;
}

const CASE_COLUMNS = [
  'id',
  'dataset_id',
  'position',
  'external_id',
  'input',
  'reference',
  'gold_ids',
  'gold_grades',
  'tags',
  'source_trace_id',
  'metadata',
] as const;
const CASES_PER_STATEMENT = Math.floor(65_535 / CASE_COLUMNS.length);

async function insertCases(q: Queryable, datasetId: string, cases: readonly EvalCaseInput[]): Promise<void> {
  for (let i = 0; i < cases.length; i += CASES_PER_STATEMENT) {
    const params: SqlParam[] = [];
    const tuples: string[] = [];
    cases.slice(i, i + CASES_PER_STATEMENT).forEach((c, j) => {
      const base = params.length;
      params.push(
        newId('case'),
        datasetId,
        i + j,
        c.externalId ?? null,
        c.input,
        c.reference ?? null,
        c.goldIds ? JSON.stringify(c.goldIds) : null,
        c.goldGrades ? JSON.stringify(c.goldGrades) : null,
        JSON.stringify(c.tags ?? []),
        c.sourceTraceId ?? null,
        JSON.stringify(c.metadata ?? {}),
      );
      tuples.push(`(${CASE_COLUMNS.map((_, k) => `$${base + k + 1}`).join(',')})`);
    });
    await q.query(`insert into eval_cases (${CASE_COLUMNS.join(',')}) values ${tuples.join(',')}`, params);
  }
}

/** A dataset version: the given one, or the latest when `version` is omitted. */
export async function getDataset(
  q: Queryable,
  opts: { tenantId: string; name: string; version?: number | undefined },
): Promise<DatasetVersion | undefined> {
  if (opts.version === undefined) return latestVersion(q, opts.tenantId, opts.name);
  const rows = await q.query<DatasetRow>(
    `select ${DATASET_COLUMNS} from eval_datasets where tenant_id = $1 and name = $2 and version = $3`,
    [opts.tenantId, opts.name, opts.version],
  );
  return rows[0] ? toDataset(rows[0]) : undefined;
}

export async function getDatasetById(q: Queryable, id: string): Promise<DatasetVersion | undefined> {
  const rows = await q.query<DatasetRow>(`select ${DATASET_COLUMNS} from eval_datasets where id = $1`, [id]);
  return rows[0] ? toDataset(rows[0]) : undefined;
}

/** The latest version of every dataset of a tenant, by name. */
export async function listDatasets(q: Queryable, tenantId: string): Promise<DatasetVersion[]> {
  const rows = await q.query<DatasetRow>(
    `select distinct on (name) ${DATASET_COLUMNS} from eval_datasets where tenant_id = $1
     order by name, version desc`,
    [tenantId],
  );
  return rows.map(toDataset);
}

export async function listDatasetVersions(
  q: Queryable,
  tenantId: string,
  name: string,
): Promise<DatasetVersion[]> {
  const rows = await q.query<DatasetRow>(
    `select ${DATASET_COLUMNS} from eval_datasets where tenant_id = $1 and name = $2 order by version`,
    [tenantId, name],
  );
  return rows.map(toDataset);
}

interface CaseRow {
  id: string;
  dataset_id: string;
  position: number;
  external_id: string | null;
  input: string;
  reference: string | null;
  gold_ids: string[] | null;
  gold_grades: Record<string, number> | null;
  tags: string[];
  source_trace_id: string | null;
  metadata: Record<string, unknown>;
}

export async function getDatasetCases(q: Queryable, datasetId: string): Promise<EvalCaseRecord[]> {
  const rows = await q.query<CaseRow>(
    `select ${CASE_COLUMNS.join(', ')} from eval_cases where dataset_id = $1 order by position`,
    [datasetId],
  );
  return rows.map((r) => {
    const c: EvalCaseRecord = {
      id: r.id,
      datasetId: r.dataset_id,
      position: r.position,
      input: r.input,
      tags: r.tags,
    };
    if (r.external_id !== null) c.externalId = r.external_id;
    if (r.reference !== null) c.reference = r.reference;
    if (r.gold_ids !== null) c.goldIds = r.gold_ids;
    if (r.gold_grades !== null) c.goldGrades = r.gold_grades;
    if (r.source_trace_id !== null) c.sourceTraceId = r.source_trace_id;
    if (Object.keys(r.metadata).length > 0) c.metadata = r.metadata;
    return c;
  });
}

/** Case fields of a stored case, without its storage ids (to build the next version from it). */
export function caseInput(c: EvalCaseRecord): EvalCaseInput {
  const { id: _id, datasetId: _d, position: _p, ...rest } = c;
  return { ...rest, tags: c.tags.length ? c.tags : undefined };
}

/**
 * Adds cases to dataset `name` as a new version (the latest version's cases, then the new ones).
 * Cases whose `sourceTraceId` is already in the dataset are skipped, so promoting the same trace
 * twice changes nothing. Creates the dataset when it does not exist.
 */
export async function appendCases(
  db: Db,
  opts: { tenantId: string; name: string; cases: readonly EvalCaseInput[] },
): Promise<ImportResult & { added: number }> {
  const latest = await latestVersion(db, opts.tenantId, opts.name);
  const existing = latest ? (await getDatasetCases(db, latest.id)).map(caseInput) : [];
  const seen = new Set(existing.map((c) => c.sourceTraceId).filter((x): x is string => x !== undefined));
  const fresh = opts.cases.filter((c) => {
    if (c.sourceTraceId === undefined) return true;
    if (seen.has(c.sourceTraceId)) return false;
    seen.add(c.sourceTraceId);
    return true;
  });
  if (latest && fresh.length === 0) return { dataset: latest, created: false, added: 0 };
  const res = await importDataset(db, {
    tenantId: opts.tenantId,
    name: opts.name,
    cases: [...existing, ...fresh],
  });
  return { ...res, added: res.created ? fresh.length : 0 };
}

// ---------------------------------------------------------------------------------------------
// Runs and results

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
