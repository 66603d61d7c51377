import type { KeelConfig } from '../config/schema.ts';
import type { EmbeddingProvider } from '../providers/types.ts';
import type { Db } from '../store/db.ts';

/** What every RAG entry point needs: the store, the embedder new collections use, and the RAG config. */
export interface RagDeps {
  db: Db;
  embedder: EmbeddingProvider;
  rag: KeelConfig['rag'];
}

/** Formats with a parser. `markdown`/`htm` are accepted as aliases at the edge. */
export type DocumentFormat = 'md' | 'txt' | 'html' | 'pdf' | 'docx' | 'csv';

export interface ParsedSection {
  /** Enclosing headings, outermost first (`['Guide', 'Install']`); empty before the first heading. */
  headingPath: string[];
  /** Readable text: paragraphs separated by blank lines, no markup. */
  text: string;
}

export interface ParsedDocument {
  title: string;
  sections: ParsedSection[];
}

export interface Chunk {
  /** 0-based order of the chunk in its document. */
  position: number;
  headingPath: string[];
  /** `headingPath` joined with ` > `. */
  heading: string;
  text: string;
  /** Tokens of `text` (gpt-tokenizer, o200k_base). */
  tokenCount: number;
}

export interface DocumentInput {
  /** Stable id of the document in its collection; re-ingesting the same id replaces it. */
  externalId: string;
  title?: string;
  uri: string;
  format: DocumentFormat | 'markdown' | 'htm';
  content: string | Uint8Array;
  metadata?: Record<string, unknown>;
}

export interface IngestError {
  uri: string;
  message: string;
}

export interface IngestProgress {
  /** Documents handled so far (ingested, unchanged, skipped or failed). */
  done: number;
  /** Documents known so far; grows while a folder or JSONL file is still being read. */
  total: number;
  uri: string;
  status: 'ingested' | 'unchanged' | 'skipped' | 'failed';
}

export interface IngestSummary {
  /** Documents written (new or changed). */
  documents: number;
  /** Chunks written for them. */
  chunks: number;
  /** Documents whose content hash matched: nothing was written. */
  unchanged: number;
  /** Files passed over (hidden, unsupported, or with no text to index); see `skippedFiles`. */
  skipped: number;
  skippedFiles: Array<{ uri: string; reason: string }>;
  errors: IngestError[];
}

export type RetrievalMode = 'hybrid' | 'fts' | 'vector';

export interface RetrieveOptions {
  tenantId: string;
  /** Collection names, resolved in the tenant. */
  collections: string[];
  query: string;
  topK: number;
  mode?: RetrievalMode;
  /** Chunks whose metadata contains this object (jsonb `@>`). */
  filter?: Record<string, unknown>;
  /** Hybrid only: RRF weights of the two lists (default: see `defaultVectorWeight` in retrieve.ts). */
  weights?: { fts?: number; vector?: number };
}

export interface RetrievalHit {
  chunkId: string;
  documentId: string;
  externalId: string;
  collection: string;
  title: string;
  uri: string;
  position: number;
  heading: string;
  text: string;
  /** Fused RRF score in hybrid mode, BM25 in `fts`, cosine similarity in `vector`. */
  score: number;
  /** 1-based rank in the BM25 list, when the chunk was in it. */
  ftsRank?: number;
  /** 1-based rank in the vector list, when the chunk was in it. */
  vectorRank?: number;
}
