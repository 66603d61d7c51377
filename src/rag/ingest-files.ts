import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { type IngestItem, type IngestOptions, ingestItems } from './ingest.ts';
import { formatOf } from './parse/index.ts';
import type { IngestSummary, RagDeps } from './types.ts';

interface FileEntry {
  abs: string;
  /** Shown in summaries and citations, and the document id: relative to the working directory when inside it. */
  display: string;
  jsonl: boolean;
}

/**
 * Ingests files and folders (recursively). Folders skip hidden entries and files without a parser,
 * each with a note in `skippedFiles`; a file named explicitly that cannot be ingested is an error.
 * `.jsonl` files are corpora: one document per line (`_id`/`id`, `title`, `text`, optional
 * `metadata` and `uri`; the BEIR layout), each keeping its own id.
 */
export async function ingestPaths(
  deps: RagDeps,
  opts: IngestOptions & { paths: string[] },
): Promise<IngestSummary> {
  const skippedFiles: Array<{ uri: string; reason: string }> = [];
  const early: IngestItem[] = [];
  const files: FileEntry[] = [];
  for (const p of opts.paths) await collect(resolve(p), true, files, skippedFiles, early);
  const summary = await ingestItems(deps, opts, items(files, early), files.filter((f) => !f.jsonl).length);
  summary.skippedFiles.push(...skippedFiles);
  summary.skipped += skippedFiles.length;
  return summary;
}

async function* items(files: FileEntry[], early: IngestItem[]): AsyncGenerator<IngestItem> {
  yield* early;
  for (const f of files) {
    if (f.jsonl) {
      yield* jsonlItems(f);
      continue;
    }
    let content: Buffer;
    try {
      content = await readFile(f.abs);
    } catch (e) {
      yield { error: { uri: f.display, message: (e as Error).message } };
      continue;
    }
    yield { externalId: f.display, uri: f.display, format: formatOf(extname(f.abs)) ?? 'txt', content };
  }
}

async function collect(
  abs: string,
  explicit: boolean,
  files: FileEntry[],
  skipped: Array<{ uri: string; reason: string }>,
  errors: IngestItem[],
): Promise<void> {
  const display = displayPath(abs);
  if (!explicit && basename(abs).startsWith('.')) {
    skipped.push({ uri: display, reason: 'hidden' });
    return;
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(abs);
  } catch (e) {
    errors.push({
      error: {
        uri: display,
        message:
          (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message,
      },
    });
    return;
  }
  if (info.isDirectory()) {
    let names: string[];
    try {
      names = (await readdir(abs)).sort();
    } catch (e) {
      errors.push({ error: { uri: display, message: (e as Error).message } });
      return;
    }
    for (const name of names) await collect(join(abs, name), false, files, skipped, errors);
    return;
  }
  if (!info.isFile()) {
    skipped.push({ uri: display, reason: 'not a regular file' });
    return;
  }
  const ext = extname(abs).toLowerCase();
  if (ext === '.jsonl') files.push({ abs, display, jsonl: true });
  else if (formatOf(ext)) files.push({ abs, display, jsonl: false });
  else if (explicit) {
    errors.push({ error: { uri: display, message: `unsupported file type "${ext || '(none)'}"` } });
  } else skipped.push({ uri: display, reason: `unsupported file type "${ext || '(none)'}"` });
}

async function* jsonlItems(f: FileEntry): AsyncGenerator<IngestItem> {
  const lines = createInterface({
    input: createReadStream(f.abs, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      const where = `${f.display}:${n}`;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        yield { error: { uri: where, message: 'invalid JSON' } };
        continue;
      }
      const id = rec._id ?? rec.id;
      if ((typeof id !== 'string' && typeof id !== 'number') || typeof rec.text !== 'string') {
        yield { error: { uri: where, message: 'a JSONL document needs "_id" (or "id") and "text"' } };
        continue;
      }
      const metadata = rec.metadata;
      yield {
        externalId: String(id),
        uri: typeof rec.uri === 'string' ? rec.uri : `${f.display}#${id}`,
        format: typeof rec.format === 'string' && formatOf(rec.format) ? (rec.format as 'md') : 'txt',
        content: rec.text,
        ...(typeof rec.title === 'string' && rec.title ? { title: rec.title } : {}),
        ...(metadata && typeof metadata === 'object' && !Array.isArray(metadata)
          ? { metadata: metadata as Record<string, unknown> }
          : {}),
      };
    }
  } catch (e) {
    yield { error: { uri: f.display, message: (e as Error).message } };
  }
}

function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  const p = rel && !rel.startsWith('..') && !rel.startsWith(sep) ? rel : abs;
  return p.split(sep).join('/');
}
