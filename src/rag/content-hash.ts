import { createHash } from 'node:crypto';
import { KeelError } from '../errors.ts';
import { formatOf } from './parse/index.ts';
import type { DocumentInput, RagDeps } from './types.ts';

// Bump when parsing or chunking changes in a way that should re-index unchanged files (2: Markdown
// and HTML chunks keep code fences and table pipes; 3: and Markdown list markers; 4: a chunk's
// overlap is whole sentences where they fit, and never part of a table row).
const PIPELINE_VERSION = 4;

/**
 * A document's identity for re-ingestion: its bytes plus everything that shapes its chunks and
 * vectors (format, title, uri, metadata, chunk sizes, embedder). Equal hash, nothing to redo.
 */
export function contentHash(input: DocumentInput, deps: Pick<RagDeps, 'rag' | 'embedder'>): string {
  const format = formatOf(input.format);
  if (!format) throw new KeelError('unsupported_media_type', `unsupported document format "${input.format}"`);
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      PIPELINE_VERSION,
      format,
      input.title ?? null,
      input.uri,
      stableJson(input.metadata ?? {}),
      deps.rag.chunkTokens,
      deps.rag.chunkOverlapTokens,
      deps.rag.embedder,
      deps.embedder.dimensions ?? null,
    ]),
  );
  h.update('\n');
  h.update(input.content);
  return h.digest('hex');
}

/** JSON with object keys sorted, so equal metadata always hashes the same. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
