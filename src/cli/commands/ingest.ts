import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CollectionNameSchema } from '../../gateway/schemas.ts';
import type { IngestSummary } from '../../rag/types.ts';
import { connect, expectOk, type KeelClient } from '../client.ts';
import { readDocuments, type UploadDocument, walkPaths } from '../files.ts';
import { CliError, configFor, info, out, toApiError } from '../util.ts';

// Per upload request: well under the ingest route's 32 MiB body limit once base64-encoded.
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_DOCS = 64;

/** The summary of one `keel ingest`, whichever way the documents went in. */
export type Summary = Pick<IngestSummary, 'documents' | 'chunks' | 'unchanged' | 'skippedFiles' | 'errors'>;

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Ingest files and folders (.md, .txt, .html, .pdf, .docx, .csv, .jsonl) into a collection')
    .argument('<path...>', 'files or folders (folders are read recursively)')
    .option('-C, --collection <name>', 'collection to ingest into (created on first use)', 'default')
    .action(async (paths: string[], opts: { collection: string }, cmd: Command) => {
      // The same rule the HTTP API applies, checked before anything is opened or read.
      const name = CollectionNameSchema.safeParse(opts.collection);
      if (!name.success) {
        throw new CliError(`invalid collection name "${opts.collection}": ${name.error.issues[0]?.message}`);
      }
      const client = await connect(configFor(cmd), info, 'ingest');
      const bar = new SingleBar({
        stream: process.stderr,
        format: 'ingesting [{bar}] {value}/{total} {file}',
        barCompleteChar: '#',
        barIncompleteChar: '-',
        hideCursor: true,
      });
      let summary: Summary;
      try {
        summary =
          client.mode === 'direct'
            ? await ingestDirect(client, paths, opts.collection, bar)
            : await ingestOverHttp(client, paths, opts.collection, bar);
      } finally {
        bar.stop();
        await client.close();
      }
      out(formatSummary(summary, opts.collection));
      for (const f of ignoredFiles(summary)) info(`ignored: ${f.uri}: ${f.reason}`);
      for (const e of summary.errors) info(`error: ${e.uri}: ${e.message}`);
      if (summary.errors.length > 0) process.exitCode = 1;
    });
}

async function ingestDirect(client: KeelClient, paths: string[], collection: string, bar: SingleBar) {
  const keel = client.keel!;
  const { ingestPaths } = await import('../../rag/ingest-files.ts');
  let started = false;
  return ingestPaths(keel.rag, {
    // The local CLI acts as the bootstrap admin, whose tenant is `default` (as over HTTP).
    tenantId: keel.defaultTenantId,
    collection,
    paths,
    onProgress: (p) => {
      if (!started) {
        bar.start(p.total, 0, { file: '' });
        started = true;
      }
      bar.setTotal(p.total);
      bar.update(p.done, { file: p.uri });
    },
  });
}

/** Reads the files here and uploads them in batches; the server parses, chunks and embeds. */
async function ingestOverHttp(client: KeelClient, paths: string[], collection: string, bar: SingleBar) {
  const walk = await walkPaths(paths);
  const summary: Summary = {
    documents: 0,
    chunks: 0,
    unchanged: 0,
    skippedFiles: [...walk.skipped],
    errors: [...walk.errors],
  };
  bar.start(walk.files.length, 0, { file: '' });
  let done = 0;
  let batch: UploadDocument[] = [];
  let bytes = 0;
  const path = `/v1/collections/${encodeURIComponent(collection)}/documents`;
  const upload = async (docs: UploadDocument[]): Promise<void> => {
    const res = await client.request('POST', path, { documents: docs });
    if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 403) {
      // The server rejected the request as a whole (too large, a bad field): that is one file's
      // problem, so find it by sending the batch's documents one at a time.
      const err = toApiError(res.status, await res.json().catch(() => undefined));
      if (docs.length === 1) summary.errors.push({ uri: docs[0]!.uri, message: err.message });
      else for (const d of docs) await upload([d]);
      return;
    }
    const r = await expectOk<Summary>(res);
    summary.documents += r.documents;
    summary.chunks += r.chunks;
    summary.unchanged += r.unchanged;
    summary.skippedFiles.push(...(r.skippedFiles ?? []));
    summary.errors.push(...r.errors);
  };
  const flush = async () => {
    if (batch.length === 0) return;
    await upload(batch);
    done += batch.length;
    bar.setTotal(Math.max(walk.files.length, done));
    bar.update(done, { file: batch.at(-1)?.uri ?? '' });
    batch = [];
    bytes = 0;
  };
  for await (const item of readDocuments(walk)) {
    if (item.kind === 'error') {
      summary.errors.push({ uri: item.uri, message: item.message });
      continue;
    }
    if (batch.length > 0 && (bytes + item.bytes > BATCH_BYTES || batch.length >= BATCH_DOCS)) await flush();
    batch.push(item.doc);
    bytes += item.bytes;
  }
  await flush();
  return summary;
}

// Hidden entries (.git, .keel) are skipped silently; unsupported or empty files are worth a mention.
const ignoredFiles = (s: Summary) => s.skippedFiles.filter((f) => f.reason !== 'hidden');

export function formatSummary(s: Summary, collection: string): string {
  return (
    `collection "${collection}": ${plural(s.documents, 'document')} ingested (${plural(s.chunks, 'chunk')}), ` +
    `${s.unchanged} unchanged (skipped), ${plural(ignoredFiles(s).length, 'file')} ignored, ` +
    `${s.errors.length} failed\n`
  );
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
