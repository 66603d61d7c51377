import type { UsageEntry } from '../store/queries/usage.ts';
import type { Trace } from '../telemetry/types.ts';

export type { AiService } from '../ai/service.ts';

/** The usage ledger as the gateway sees it: `record` resolves once the entry is durably committed. */
export interface UsageRecorder {
  record(entry: UsageEntry): Promise<void>;
}

/** Finished traces go here; never blocks, never throws. */
export interface TraceRecorder {
  write(trace: Trace): void;
}

/** One document of an ingest request, already validated. */
export interface IngestDocumentInput {
  id?: string | undefined;
  title?: string | undefined;
  uri?: string | undefined;
  format?: 'md' | 'txt' | 'html' | undefined;
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

export interface IngestService {
  ingest(input: {
    tenantId: string;
    collection: string;
    documents: IngestDocumentInput[];
    signal?: AbortSignal | undefined;
  }): Promise<IngestSummary>;
}
