import type { Command } from 'commander';
import { connect, expectOk } from '../client.ts';
import { configFor, formatTable, info, out } from '../util.ts';

interface DocumentInfo {
  id: string;
  title: string;
  uri: string;
  chunks: number;
  updated_at: string;
}

interface CollectionInfo {
  name: string;
  documents: number;
  chunks: number;
  embedder: string;
}

const PAGE = 1_000;

export function registerDocs(program: Command): void {
  const docs = program.command('docs').description('List collections and their documents; delete documents');

  docs
    .command('collections')
    .description("List the tenant's collections")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'docs');
      try {
        const res = await expectOk<{ data: CollectionInfo[] }>(
          await client.request('GET', '/v1/collections'),
        );
        if (opts.json) return out(`${JSON.stringify(res.data, null, 2)}\n`);
        if (res.data.length === 0) return out('no collections yet: add documents with `keel ingest`\n');
        out(
          formatTable(
            ['COLLECTION', 'DOCUMENTS', 'CHUNKS', 'EMBEDDER'],
            res.data.map((c) => [c.name, String(c.documents), String(c.chunks), c.embedder]),
            (i) => i === 1 || i === 2,
          ),
        );
      } finally {
        await client.close();
      }
    });

  docs
    .command('list')
    .description("List a collection's documents")
    .option('-C, --collection <name>', 'collection', 'default')
    .option('--json', 'print JSON')
    .action(async (opts: { collection: string; json?: boolean }, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'docs');
      try {
        const all: DocumentInfo[] = [];
        const base = `/v1/collections/${encodeURIComponent(opts.collection)}/documents?limit=${PAGE}`;
        // Every page, following `last_id`, with a bound on the loop.
        for (let after: string | null = null, pages = 0; pages < 100_000; pages++) {
          const path: string = after === null ? base : `${base}&after=${encodeURIComponent(after)}`;
          const res: { data: DocumentInfo[]; has_more: boolean; last_id: string | null } = await expectOk(
            await client.request('GET', path),
          );
          all.push(...res.data);
          if (!res.has_more || res.last_id === null) break;
          after = res.last_id;
        }
        if (opts.json) return out(`${JSON.stringify(all, null, 2)}\n`);
        if (all.length === 0) return out(`collection ${opts.collection} holds no documents\n`);
        out(
          formatTable(
            ['ID', 'TITLE', 'CHUNKS', 'UPDATED'],
            all.map((d) => [d.id, d.title, String(d.chunks), d.updated_at.slice(0, 19).replace('T', ' ')]),
            (i) => i === 2,
          ),
        );
      } finally {
        await client.close();
      }
    });

  docs
    .command('rm')
    .description('Delete documents (and their chunks) from a collection')
    .argument('<id...>', 'document ids (see keel docs list)')
    .option('-C, --collection <name>', 'collection', 'default')
    .action(async (ids: string[], opts: { collection: string }, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'docs');
      try {
        const col = encodeURIComponent(opts.collection);
        for (const id of ids) {
          await expectOk(
            await client.request('DELETE', `/v1/collections/${col}/documents/${encodeURIComponent(id)}`),
          );
          out(`deleted ${id}\n`);
        }
      } finally {
        await client.close();
      }
    });
}
