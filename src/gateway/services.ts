import type { EvalService } from '../eval/service.ts';
import type { DocumentFormat, RetrievalHit, RetrievalMode, RetrieveOptions } from '../rag/types.ts';
import type { UsageEntry } from '../store/queries/usage.ts';
import type { KeelMetrics } from '../telemetry/metrics.ts';
import type { TraceInput } from '../telemetry/tracing.ts';
import type { Trace } from '../telemetry/types.ts';

export type { AiService } from '../ai/service.ts';

/** The usage ledger as the gateway sees it: `record` resolves once the entry is durably committed. */
export interface UsageRecorder {
  record(entry: UsageEntry): Promise<void>;
}

/** Finished traces go here; never blocks, never throws. `input` is the raw user input, redacted off the request path. */
export interface TraceRecorder {
  write(trace: Trace, input?: TraceInput): void;
}

/** Monitoring and evaluation behind `/metrics`, `/v1/stats`, `/v1/traces`, `/v1/feedback`, `/v1/eval/*`. */
export interface MonitoringService {
  /** The Prometheus registry; absent when metrics are off. */
  metrics: KeelMetrics | undefined;
  /** Bearer token `GET /metrics` requires, if any. */
  metricsToken: string | undefined;
  /** Resolves once every trace finished so far is stored. */
  flushTraces(): Promise<void>;
  /** Observes the traces waiting for the hub's next batch now (metrics), without waiting for the store. */
  observePending(): void;
  evals: EvalService;
}

/** One document of an ingest request, already validated. */
export interface IngestDocumentInput {
  id?: string | undefined;
  title?: string | undefined;
  uri?: string | undefined;
  format?: DocumentFormat | undefined;
  text?: string | undefined;
  /** Raw bytes (decoded from `content_base64`). */
  content?: Uint8Array | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface IngestSummary {
  documents: number;
  chunks: number;
  unchanged: number;
  errors: { uri: string; message: string }[];
}

/** A retrieval over one collection, as an app would run it (default weights), without a model. */
export type SearchInput = Omit<RetrieveOptions, 'collections' | 'weights' | 'mode'> & {
  collection: string;
  mode: RetrievalMode;
};

/** The documents of the tenant's collections: ingest, and search them the way apps retrieve. */
export interface IngestService {
  ingest(input: {
    tenantId: string;
    collection: string;
    documents: IngestDocumentInput[];
    signal?: AbortSignal | undefined;
  }): Promise<IngestSummary>;
  search(input: SearchInput): Promise<RetrievalHit[]>;
}
