import type { Command } from 'commander';
import { type SseEvent, SseParser } from '../../providers/sse.ts';
import { type ClientResponse, connect } from '../client.ts';
import { CliError, configFor, info, out, toApiError } from '../util.ts';

export interface Citation {
  index: number;
  document: string;
  document_id?: string;
  uri?: string;
  chunk_id?: string;
  score?: number;
}

interface ChunkEvent {
  choices?: { delta?: { content?: string | null } }[];
  citations?: Citation[];
  error?: { message?: string; code?: string };
}

export function registerAsk(program: Command): void {
  program
    .command('ask')
    .description('Ask a question through an app and stream the cited answer')
    .argument('<question>', 'the question')
    .option('-a, --app <name>', 'app to ask (its name is the model)', 'default')
    .action(async (question: string, opts: { app: string }, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'ask');
      try {
        const res = await client.request('POST', '/v1/chat/completions', {
          model: opts.app,
          messages: [{ role: 'user', content: question }],
          stream: true,
          stream_options: { include_usage: true },
        });
        const citations = await printStream(res);
        out(formatSources(citations));
      } finally {
        await client.close();
      }
    });
}

/** Writes the answer's text deltas to stdout as they arrive; returns the citations chunk. */
async function printStream(res: ClientResponse): Promise<Citation[]> {
  if (res.status !== 200) throw toApiError(res.status, await res.json().catch(() => undefined));
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let citations: Citation[] = [];
  let wrote = false;
  let done = false;
  for await (const bytes of res.body) {
    parser.push(bytes, events);
    for (const ev of events) {
      if (ev.data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(ev.data) as ChunkEvent;
      if (chunk.error) throw new CliError(`the answer failed: ${chunk.error.message ?? 'unknown error'}`);
      if (chunk.citations) citations = chunk.citations;
      const text = chunk.choices?.[0]?.delta?.content;
      if (text) {
        out(text);
        wrote = true;
      }
    }
    events.length = 0;
  }
  if (wrote) out('\n');
  if (!done) throw new CliError('the answer stream ended early (no [DONE])');
  return citations;
}

export function formatSources(citations: Citation[]): string {
  if (citations.length === 0) return '';
  const lines = citations.map((c) => {
    const where = c.uri && c.uri !== c.document ? ` — ${c.uri}` : '';
    return `  [${c.index}] ${c.document || c.uri || c.document_id || '(untitled)'}${where}`;
  });
  return `\nSources:\n${lines.join('\n')}\n`;
}
