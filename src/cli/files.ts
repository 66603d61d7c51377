import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { formatOf } from '../rag/parse/index.ts';
import type { DocumentFormat } from '../rag/types.ts';

/** One document as `POST /v1/collections/:name/documents` takes it. */
export interface UploadDocument {
  id: string;
  uri: string;
  format: DocumentFormat;
  title?: string;
  text?: string;
  content_base64?: string;
  metadata?: Record<string, unknown>;
}

export type FileItem =
  | { kind: 'document'; doc: UploadDocument; bytes: number }
  | { kind: 'error'; uri: string; message: string };

export interface FileWalk {
  /** Files to read, in order; `.jsonl` files expand to one document per line. */
  files: Array<{ abs: string; display: string }>;
  skipped: Array<{ uri: string; reason: string }>;
  errors: Array<{ uri: string; message: string }>;
}

/**
 * Finds the files to upload to a running server, with the same rules as the in-process ingest
 * (`ingestPaths`): folders recurse, skipping hidden entries and files without a parser; a file named
 * explicitly that cannot be ingested is an error. Document ids are the same display paths, so
 * re-ingesting through the server or directly recognises the same unchanged documents.
 */
export async function walkPaths(paths: string[]): Promise<FileWalk> {
  const walk: FileWalk = { files: [], skipped: [], errors: [] };
  for (const p of paths) await collect(resolve(p), true, walk);
  return walk;
}

async function collect(abs: string, explicit: boolean, walk: FileWalk): Promise<void> {
  const display = displayPath(abs);
  if (!explicit && basename(abs).startsWith('.')) {
    walk.skipped.push({ uri: display, reason: 'hidden' });
    return;
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    walk.errors.push({ uri: display, message: code === 'ENOENT' ? 'no such file or directory' : String(e) });
    return;
  }
  if (info.isDirectory()) {
    let names: string[];
    try {
      names = (await readdir(abs)).sort();
    } catch (e) {
      walk.errors.push({ uri: display, message: (e as Error).message });
      return;
    }
    for (const name of names) await collect(join(abs, name), false, walk);
    return;
  }
  if (!info.isFile()) {
    walk.skipped.push({ uri: display, reason: 'not a regular file' });
    return;
  }
  const ext = extname(abs).toLowerCase();
  if (ext === '.jsonl' || formatOf(ext)) walk.files.push({ abs, display });
  else if (explicit)
    walk.errors.push({ uri: display, message: `unsupported file type "${ext || '(none)'}"` });
  else walk.skipped.push({ uri: display, reason: `unsupported file type "${ext || '(none)'}"` });
}

/** Reads the walked files as upload documents (raw bytes, so the server decodes and validates them). */
export async function* readDocuments(walk: FileWalk): AsyncGenerator<FileItem> {
  for (const f of walk.files) {
    if (f.display.toLowerCase().endsWith('.jsonl')) {
      yield* jsonlDocuments(f.abs, f.display);
      continue;
    }
    let content: Buffer;
    try {
      content = await readFile(f.abs);
    } catch (e) {
      yield { kind: 'error', uri: f.display, message: (e as Error).message };
      continue;
    }
    const format = formatOf(extname(f.abs)) ?? 'txt';
    yield {
      kind: 'document',
      doc: { id: f.display, uri: f.display, format, content_base64: content.toString('base64') },
      bytes: content.length,
    };
  }
}

/** A JSONL corpus: one document per line (`_id`/`id`, `text`, optional `title`, `uri`, `metadata`). */
async function* jsonlDocuments(abs: string, display: string): AsyncGenerator<FileItem> {
  const lines = createInterface({ input: createReadStream(abs, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      const where = `${display}:${n}`;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        yield { kind: 'error', uri: where, message: 'invalid JSON' };
        continue;
      }
      const id = rec._id ?? rec.id;
      if ((typeof id !== 'string' && typeof id !== 'number') || typeof rec.text !== 'string') {
        yield { kind: 'error', uri: where, message: 'a JSONL document needs "_id" (or "id") and "text"' };
        continue;
      }
      const format = typeof rec.format === 'string' ? formatOf(rec.format) : undefined;
      const metadata = rec.metadata;
      yield {
        kind: 'document',
        bytes: line.length,
        doc: {
          id: String(id),
          uri: typeof rec.uri === 'string' ? rec.uri : `${display}#${id}`,
          format: format ?? 'txt',
          text: rec.text,
          ...(typeof rec.title === 'string' && rec.title ? { title: rec.title } : {}),
          ...(metadata && typeof metadata === 'object' && !Array.isArray(metadata)
            ? { metadata: metadata as Record<string, unknown> }
            : {}),
        },
      };
    }
  } catch (e) {
    yield { kind: 'error', uri: display, message: (e as Error).message };
  }
}

/** Relative to the working directory when inside it (as `ingestPaths` names documents), else absolute. */
export function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  const p = rel && !rel.startsWith('..') && !rel.startsWith(sep) ? rel : abs;
  return p.split(sep).join('/');
}
