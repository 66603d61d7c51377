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

interface SearchResult {
  rank: number;
  score: number;
  fts_rank: number | null;
  vector_rank: number | null;
  document_id: string;
  heading: string;
  text: string;
}

const PAGE = 1_000;
/** Characters of each result's text shown by `keel docs search` (`--json` has it all). */
const SNIPPET = 240;

/** A search result as two lines and an indented snippet: what it is, where it ranked, what it says. */
export function formatSearchResult(r: SearchResult): string {
  const lists = [r.fts_rank && `bm25 #${r.fts_rank}`, r.vector_rank && `vector #${r.vector_rank}`].filter(
    Boolean,
  );
  const where = r.heading ? `${r.document_id} › ${r.heading}` : r.document_id;
  const flat = r.text.replace(/\s+/g, ' ').trim();
  const snippet = flat.length > SNIPPET ? `${flat.slice(0, SNIPPET)}…` : flat;
  return `${r.rank}. ${where}\n   score ${r.score.toFixed(4)}${lists.length ? ` (${lists.join(', ')})` : ''}\n   ${snippet}\n`;
}

export function registerDocs(program: Command): void {
  const docs = program
    .command('docs')
    .description('List collections and their documents; search them; delete documents');

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
    .command('search')
    .description('Show what an app over the collection would retrieve for a question (no model is called)')
    .argument('<query...>', 'the question or search words')
    .option('-C, --collection <name>', 'collection', 'default')
    .option('-k, --top-k <n>', 'results', '10')
    .option('--mode <mode>', 'hybrid, fts (BM25 only) or vector', 'hybrid')
    .option('--json', 'print JSON')
    .action(
      async (
        words: string[],
        opts: { collection: string; topK: string; mode: string; json?: boolean },
        cmd: Command,
      ) => {
        const client = await connect(configFor(cmd), info, 'docs');
        try {
          const res = await expectOk<{ data: SearchResult[] }>(
            await client.request('POST', `/v1/collections/${encodeURIComponent(opts.collection)}/search`, {
              query: words.join(' '),
              top_k: Number(opts.topK),
              mode: opts.mode,
            }),
          );
          if (opts.json) return out(`${JSON.stringify(res.data, null, 2)}\n`);
          if (res.data.length === 0) return out(`nothing in collection ${opts.collection} matches\n`);
          out(res.data.map(formatSearchResult).join('\n'));
        } finally {
          await client.close();
        }
      },
    );

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
