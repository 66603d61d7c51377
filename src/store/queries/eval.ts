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
