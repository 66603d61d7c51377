import { z } from 'zod';
import { KeelError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { appendCases, type EvalCaseInput, type ImportResult, importDataset } from '../store/queries/eval.ts';

/**
 * Eval datasets as JSONL, one case per line:
 *   {"input": "...", "reference": "...", "gold_ids": ["doc-1"], "tags": ["billing"]}
 * `gold_ids` may also be an object of graded relevance ({"doc-1": 2, "doc-7": 1}). Optional:
 * `id` (or `_id`), `source_trace_id`, `metadata`. Unknown fields are an error (a misspelt
 * `refrence` must not silently drop every reference).
 */

const Id = z.union([z.string().min(1), z.number().transform(String)]);

export const DatasetLineSchema = z
  .object({
    id: Id.optional(),
    _id: Id.optional(),
    input: z.string().trim().min(1, 'input must be a non-empty string'),
    reference: z.string().optional(),
    gold_ids: z
      .union([
        z.array(Id),
        z.record(
          z.string(),
          z.number().refine((n) => Number.isFinite(n) && n >= 0, 'grades must be finite numbers >= 0'),
        ),
      ])
      .optional(),
    tags: z.array(z.string().min(1)).optional(),
    source_trace_id: z.string().min(1).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type DatasetLine = z.input<typeof DatasetLineSchema>;

/** Most line errors listed in one message. */
const MAX_ERRORS = 10;

export function lineToCase(line: z.output<typeof DatasetLineSchema>): EvalCaseInput {
  const c: EvalCaseInput = { input: line.input };
  const id = line.id ?? line._id;
  if (id !== undefined) c.externalId = id;
  if (line.reference !== undefined) c.reference = line.reference;
  if (Array.isArray(line.gold_ids)) c.goldIds = [...new Set(line.gold_ids)];
  else if (line.gold_ids) {
    const grades = Object.fromEntries(Object.entries(line.gold_ids).filter(([, g]) => g > 0));
    c.goldIds = Object.keys(grades);
    c.goldGrades = grades;
  }
  if (line.tags?.length) c.tags = line.tags;
  if (line.source_trace_id !== undefined) c.sourceTraceId = line.source_trace_id;
  if (line.metadata && Object.keys(line.metadata).length > 0) c.metadata = line.metadata;
  return c;
}

/**
 * Parses a JSONL dataset. Blank lines are skipped. Any bad line rejects the whole file with a
 * `KeelError('invalid_request')` naming up to ten lines and what is wrong with each.
 */
export function parseDatasetJsonl(text: string, source = 'dataset'): EvalCaseInput[] {
  const cases: EvalCaseInput[] = [];
  const errors: string[] = [];
  let errorCount = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      errorCount++;
      if (errors.length < MAX_ERRORS) errors.push(`line ${i + 1}: not valid JSON`);
      continue;
    }
    const parsed = DatasetLineSchema.safeParse(value);
    if (!parsed.success) {
      errorCount++;
      if (errors.length < MAX_ERRORS) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        errors.push(`line ${i + 1}: ${where}${issue?.message ?? 'invalid'}`);
      }
      continue;
    }
    cases.push(lineToCase(parsed.data));
  }
  if (errorCount > 0) {
    const more = errorCount > errors.length ? ` (and ${errorCount - errors.length} more)` : '';
    throw new KeelError(
      'invalid_request',
      `${source}: ${errorCount} invalid line(s)${more}:\n${errors.join('\n')}`,
    );
  }
  if (cases.length === 0) throw new KeelError('invalid_request', `${source}: no cases (the file is empty)`);
  return cases;
}

/**
 * Builds cases from a BEIR-layout benchmark: `queries.jsonl` ({"_id", "text"}) and a qrels TSV
 * (`query-id<TAB>corpus-id<TAB>score`, optional header). Queries without a positive judgement are
 * skipped, as the published baselines do. Grades > 1 are kept as graded relevance.
 */
export function casesFromBeir(queriesJsonl: string, qrelsTsv: string): EvalCaseInput[] {
  const qrels = new Map<string, Map<string, number>>();
  for (const [i, line] of qrelsTsv.split(/\r?\n/).entries()) {
    const cols = line.trim().split(/\t| +/);
    if (cols.length < 3) continue;
    const [qid, docId, score] = cols as [string, string, string];
    const grade = Number(score);
    if (!Number.isFinite(grade)) {
      if (i === 0) continue; // header
      throw new KeelError('invalid_request', `qrels line ${i + 1}: score '${score}' is not a number`);
    }
    if (grade <= 0) continue;
    let m = qrels.get(qid);
    if (!m) {
      m = new Map();
      qrels.set(qid, m);
    }
    m.set(docId, grade);
  }
  const cases: EvalCaseInput[] = [];
  for (const [i, line] of queriesJsonl.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    let q: { _id?: unknown; id?: unknown; text?: unknown };
    try {
      q = JSON.parse(line) as typeof q;
    } catch {
      throw new KeelError('invalid_request', `queries line ${i + 1}: not valid JSON`);
    }
    const id = String(q._id ?? q.id ?? '');
    if (!id || typeof q.text !== 'string') {
      throw new KeelError('invalid_request', `queries line ${i + 1}: needs "_id" and "text"`);
    }
    const judged = qrels.get(id);
    if (!judged || judged.size === 0) continue;
    const graded = [...judged.values()].some((g) => g !== 1);
    const c: EvalCaseInput = { externalId: id, input: q.text, goldIds: [...judged.keys()] };
    if (graded) c.goldGrades = Object.fromEntries(judged);
    cases.push(c);
  }
  if (cases.length === 0)
    throw new KeelError('invalid_request', 'no query has a positive relevance judgement');
  return cases;
}

/** Parses and stores a JSONL dataset as the next version of `name` (unless unchanged). */
export async function importDatasetJsonl(
  db: Db,
  opts: { tenantId: string; name: string; text: string; description?: string | undefined },
): Promise<ImportResult> {
  const cases = parseDatasetJsonl(opts.text, opts.name);
  return importDataset(db, {
    tenantId: opts.tenantId,
    name: opts.name,
    description: opts.description,
    cases,
  });
}

export interface PromotedTrace {
  traceId: string;
  /** The user's input as it was asked (traces do not store prompts; the caller supplies it). */
  input: string;
  /** The corrected answer, when someone wrote one. */
  reference?: string | undefined;
  tags?: string[] | undefined;
}

/**
 * Promotes production traces (thumbs-down, guard-flagged, errors) into dataset `name` as a new
 * version; a trace already in the dataset is not added twice.
 */
export async function promoteTraces(
  db: Db,
  opts: { tenantId: string; name: string; traces: readonly PromotedTrace[] },
): Promise<ImportResult & { added: number }> {
  if (opts.traces.length === 0)
    throw new KeelError('invalid_request', 'no traces to promote', { param: 'traces' });
  const cases = opts.traces.map((t): EvalCaseInput => {
    if (t.input.trim() === '') {
      throw new KeelError('invalid_request', `trace ${t.traceId}: the input is empty`, { param: 'traces' });
    }
    return { input: t.input, reference: t.reference, tags: t.tags, sourceTraceId: t.traceId };
  });
  return appendCases(db, { tenantId: opts.tenantId, name: opts.name, cases });
}
