/**
 * Response shapes of Keel's monitoring API as the dashboard reads them (JSON: dates are ISO
 * strings). They mirror `src/telemetry/stats.ts`, `src/store/queries/traces.ts`, `feedback.ts` and
 * `eval-runs.ts` on the server.
 */

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** A stats row of `GET /v1/stats` and `/v1/stats/overview` (snake_case, as the HTTP API spells it). */
export interface StatsRow {
  bucket?: string;
  group?: string | null;
  requests: number;
  errors: number;
  error_rate: number;
  latency_ms: (Percentiles & { mean: number }) | null;
  ttft_ms: Percentiles | null;
  cost_usd: number;
  cost_per_request: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface DayCost {
  day: string;
  requests: number;
  cost_usd: number;
}

export interface FeedbackDayRow {
  day: string;
  app: string | null;
  up: number;
  down: number;
  ratio: number;
}

/** `GET /v1/stats/overview`. */
export interface Overview {
  from: string;
  to: string;
  bucket_seconds: number;
  totals: StatsRow;
  series: StatsRow[];
  cost_per_day: DayCost[];
  feedback: { up: number; down: number; ratio: number | null; per_day: FeedbackDayRow[] };
}

type Scalar = string | number | boolean | null;

/** Something a span saw: a retrieved `chunk`, a guard `finding`. */
export interface SpanEvent {
  name: string;
  attributes: Record<string, Scalar>;
}

export interface Span {
  name: string;
  start_ms: number;
  duration_ms: number;
  attributes: Record<string, Scalar>;
  events: SpanEvent[];
}

export interface FeedbackInfo {
  id: string;
  rating: 'up' | 'down';
  comment: string | null;
  created_at: string;
  updated_at: string;
}

/** A trace in `GET /v1/traces` (no spans). */
export interface TraceSummary {
  id: string;
  ts: string;
  tenant_id: string | null;
  key_id: string | null;
  user: string | null;
  app: string | null;
  model: string | null;
  status: string;
  http_status: number | null;
  error_code: string | null;
  latency_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  stream: boolean;
  feedback: FeedbackInfo | null;
}

/** `GET /v1/traces/:id`. */
export interface Trace extends TraceSummary {
  attributes: Record<string, Scalar>;
  spans: Span[];
}

export interface TraceList {
  data: TraceSummary[];
  has_more: boolean;
  /** Cursor of the next (older) page; null on the last page. */
  next_cursor: string | null;
}

/** An eval run of `GET /v1/eval/runs` and `/v1/eval/runs/:id`. */
export interface EvalRun {
  id: string;
  dataset: { id: string | null; name: string; version: number };
  app: string;
  status: string;
  case_count: number;
  completed_cases: number;
  metrics: Record<string, number>;
  config: Record<string, unknown>;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

export interface EvalResult {
  position: number;
  case_id: string | null;
  input: string;
  output: string | null;
  retrieved_ids: string[];
  metrics: Record<string, number>;
  latency_ms: number | null;
  cost_usd: number | null;
  error: string | null;
}

export interface CompareRow {
  metric: string;
  a: number;
  b: number;
  delta: number;
  better: 'higher' | 'lower';
  tolerance: number;
  status: 'improved' | 'regressed' | 'unchanged';
}

/** `GET /v1/eval/compare?a=&b=`. */
export interface Comparison {
  a: EvalRun;
  b: EvalRun;
  rows: CompareRow[];
  regressed: boolean;
  only_in_a: string[];
  only_in_b: string[];
}

export interface ModelEntry {
  id: string;
  owned_by: string;
  keel?: { kind?: string; description?: string };
}

export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

/** `GET /v1/usage`: rows carry the grouped dimension under its own name (`app`, `key`, ..., `day`). */
export interface UsageReport {
  from: string;
  to: string;
  totals: UsageTotals;
  data: (UsageTotals & Record<string, string | number | null>)[];
}

export interface BudgetState {
  window: string;
  mode: 'hard' | 'soft';
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
}

/** An entry of `GET /v1/admin/budgets`. */
export interface BudgetPolicy {
  scope: string;
  subject: string;
  effective: {
    rpm: number | null;
    tpm: number | null;
    concurrency: number | null;
    budgets: BudgetState[];
  };
}

export interface CollectionInfo {
  name: string;
  documents: number;
  chunks: number;
  embedder: string;
  dimensions: number;
}

export interface DocumentInfo {
  id: string;
  title: string;
  uri: string;
  chunks: number;
  updated_at: string;
}

export interface SearchResult {
  rank: number;
  score: number;
  fts_rank: number | null;
  vector_rank: number | null;
  chunk_id: string;
  document_id: string;
  title: string;
  heading: string;
  text: string;
}
