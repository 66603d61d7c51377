import type { Queryable } from '../store/db.ts';
import type { Judge } from './judge.ts';
import type { VariationKind } from './variations.ts';

/** The eval runner's public types: what a case is, how the app is asked, what a run reports. */

export interface EvalCase {
  id?: string | undefined;
  input: string;
  reference?: string | undefined;
  goldIds?: string[] | undefined;
  goldGrades?: Record<string, number> | undefined;
  tags?: string[] | undefined;
}

export interface AskResult {
  answer: string;
  /** Retrieved document ids in rank order (repeats allowed: several chunks of one document). */
  retrievedIds: string[];
  latencyMs: number;
  costUsd: number;
  /** The guard's groundedness score of this answer, when the app ran the check. */
  groundedness?: number | undefined;
  /**
   * Retrieved passages in rank order, numbered from 1 as the answer's `[n]` citations count them:
   * the groundedness fallback (the guard's `checkGrounding`) and the judge read them.
   */
  contexts?: string[] | undefined;
}

export interface AskContext {
  signal: AbortSignal;
  /** Position of the case in the dataset. */
  caseIndex: number;
  /** Set when asking a variation of the case's input (or a repeat of it) for consistency. */
  variation?: VariationKind | 'repeat' | undefined;
}

export type AskFn = (input: string, ctx: AskContext) => Promise<AskResult>;

export interface ConsistencyOptions {
  /** Variation kinds to ask (default: all). */
  kinds?: readonly VariationKind[] | undefined;
  /** Times the unchanged input is asked again (default 1). */
  repeats?: number | undefined;
  seed?: number | undefined;
}

export interface RunStoreOptions {
  db: Queryable;
  tenantId: string;
  dataset: { id: string; name: string; version: number };
  app: string;
  /** Stored with the run (app config, model, options) so it can be reproduced. */
  config?: Record<string, unknown> | undefined;
}

export interface VariationResult {
  kind: VariationKind | 'repeat';
  input: string;
  answer?: string;
  retrievedIds?: string[];
  error?: string;
}

export interface CaseResult {
  position: number;
  caseId?: string | undefined;
  input: string;
  output?: string | undefined;
  retrievedIds: string[];
  metrics: Record<string, number>;
  latencyMs?: number | undefined;
  costUsd?: number | undefined;
  error?: string | undefined;
  judge?: { prompt?: string; verdict: Record<string, unknown> } | undefined;
  variations?: VariationResult[] | undefined;
}

export interface Progress {
  done: number;
  total: number;
  failed: number;
  result: CaseResult;
}

export interface RunOptions {
  cases: readonly EvalCase[];
  ask: AskFn;
  /** Cut-off of hit@k and recall@k (default 5); also the top-k compared for retrieval consistency. */
  k?: number | undefined;
  /** Cases in flight at once (default 4). */
  concurrency?: number | undefined;
  /** Measure consistency across variations and repeats (off when undefined). */
  consistency?: ConsistencyOptions | undefined;
  judge?: Judge | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Store the run and its results as they complete. */
  store?: RunStoreOptions | undefined;
}

export interface RunReport {
  runId?: string | undefined;
  status: 'completed' | 'cancelled';
  /** Aggregates: metric means, latency_p50/p95/p99/mean_ms, cost_total/mean_usd, error_rate. */
  metrics: Record<string, number>;
  /** In dataset order; cases not reached before a cancel are absent. */
  results: CaseResult[];
  total: number;
  failed: number;
}
