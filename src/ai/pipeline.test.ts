import { describe, expect, it } from 'vitest';
import { createExtractiveProvider } from '../providers/extractive.ts';
import type { RetrievalHit, RetrieveOptions } from '../rag/types.ts';
import { runApp } from './pipeline.ts';

const hit = (i: number): RetrievalHit => ({
  chunkId: `chk_${i}`,
  documentId: `doc_${i}`,
  externalId: `d${i}`,
  collection: 'kb',
  title: `Doc ${i}`,
  uri: `d${i}.md`,
  position: 0,
  heading: '',
  text: `Refunds take ${i} days in region ${i}.`,
  score: 1 / (i + 1),
});

async function run(retrievalDepth: number | undefined) {
  const asked: RetrieveOptions[] = [];
  const out = await runApp(
    async (opts) => {
      asked.push(opts);
      return Array.from({ length: opts.topK }, (_, i) => hit(i + 1));
    },
    {
      app: {
        name: 'kb',
        description: '',
        model: 'extractive',
        collections: ['kb'],
        topK: 3,
        contextTokens: 3000,
        retrievalDepth,
      },
      provider: createExtractiveProvider(),
      upstreamModel: 'extractive',
      tenantId: 'ten_1',
      messages: [{ role: 'user', content: 'How long do refunds take?' }],
      params: {},
      signal: new AbortController().signal,
      stream: false,
      t0: performance.now(),
    },
  );
  return { asked, out, events: out.stages.find((s) => s.name === 'retrieve')?.events ?? [] };
}

describe('runApp', () => {
  it("retrieves the app's topK and answers from it", async () => {
    const { asked, out, events } = await run(undefined);
    expect(asked.map((a) => a.topK)).toEqual([3]);
    expect(events).toHaveLength(3);
    expect(out.sources.map((s) => s.documentId)).toEqual(['doc_1', 'doc_2', 'doc_3']);
  });

  it('retrieves deeper for an eval, records every hit, and still answers from the first topK only', async () => {
    const { asked, out, events } = await run(10);
    expect(asked.map((a) => a.topK)).toEqual([10]);
    expect(events.map((e) => e.attributes.document_id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `d${i + 1}`),
    );
    expect(out.sources.map((s) => s.documentId)).toEqual(['doc_1', 'doc_2', 'doc_3']);
  });
});
