import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { collect } from '../src/providers/collect.ts';
import { createExtractiveProvider, extractAnswer, NOTHING_FOUND } from '../src/providers/extractive.ts';
import type { ChatRequest, Source, StreamPart } from '../src/providers/types.ts';
import { chunkDocument } from '../src/rag/chunk.ts';
import { parseDocument } from '../src/rag/parse/index.ts';

const doc = (index: number, title: string, text: string): Source => ({
  index,
  chunkId: `c${index}`,
  documentId: `d${index}`,
  title,
  uri: `docs/${title}.md`,
  text,
  score: 1 / index,
});

const SOURCES: Source[] = [
  doc(
    1,
    'configuration',
    '# Configuration\n\nKeel reads keel.yaml from the working directory. Environment variables override the file. ' +
      'KEEL_PORT sets the port the server listens on; the default port is 8787.',
  ),
  doc(
    2,
    'api-keys',
    '# API keys\n\nAn admin creates API keys with `keel keys create` or through the admin API. ' +
      'Each key is shown once and stored only as a SHA-256 hash. Revoking a key takes effect within ten seconds.\n\n' +
      '```sh\nkeel keys create --name ci\n```',
  ),
  doc(
    3,
    'ingest',
    '# Ingesting documents\n\nRun `keel ingest ./docs` to add markdown, text and HTML files to a collection. ' +
      'Unchanged files are skipped on the next run. Files that fail to parse are reported and the rest are ingested.',
  ),
];

const ask = (
  question: string,
  sources: Source[] = SOURCES,
  extra: Partial<ChatRequest> = {},
): ChatRequest => ({
  model: 'extractive',
  messages: [
    { role: 'system', content: 'Answer from the sources.' },
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: question },
  ],
  sources,
  ...extra,
});

const citations = (text: string) => [...text.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));

describe('extractive answerer', () => {
  const provider = createExtractiveProvider();

  it('answers from the right source and cites every sentence', async () => {
    const res = await collect(provider.stream(ask('How do I create an API key?')));
    expect(res.text).toContain('keel keys create');
    expect(new Set(citations(res.text))).toEqual(new Set([2]));
    // Every quoted unit ends with its citation (before its closing punctuation).
    for (const line of res.text.split(/(?<=[.!?])\s+|\n/).filter((l) => l.trim().length > 0)) {
      expect(line).toMatch(/\[\d+\][.!?:;]?$/);
    }
    expect(res.finishReason).toBe('stop');
  });

  it('picks the configuration source for a port question', async () => {
    const res = await collect(provider.stream(ask('Which port does the server listen on?')));
    expect(res.text).toContain('8787');
    expect(citations(res.text)).toEqual([1]);
  });

  it('quotes ingested code whole and a table row with its header, each cited', async () => {
    // As the markdown parser and chunker hand chunks over: fences and pipes kept.
    const md = [
      '# Budgets',
      '',
      'Set a tenant budget in keel.yaml:',
      '',
      '```yaml',
      'policy:',
      '  tenants:',
      '    acme:',
      '      budget: { monthlyUsd: 1000 }',
      '```',
      '',
      '| status | code | when |',
      '| --- | --- | --- |',
      '| 429 | budget_exceeded | the tenant budget is spent |',
      '| 413 | payload_too_large | the body is too big |',
    ].join('\n');
    const parsed = await parseDocument('md', md);
    const [chunk] = chunkDocument(parsed);
    const res = extractAnswer(
      'How do I set a tenant budget in keel.yaml?',
      [doc(4, 'budgets', chunk!.text)],
      200,
    );
    expect(res.text).toContain(
      '```yaml\npolicy:\n  tenants:\n    acme:\n      budget: { monthlyUsd: 1000 }\n```\n[4]',
    );
    const row = extractAnswer(
      'Which code means the tenant budget is spent?',
      [doc(4, 'budgets', chunk!.text)],
      200,
    );
    expect(row.text).toContain('- status: 429; code: budget_exceeded; when: the tenant budget is spent [4]');
    expect(row.text).not.toContain('payload_too_large');
  });

  it('opens a how-it-works answer with a sentence, a how-do-I answer with the command', () => {
    // The first source is a command listing whose comments share the question's words.
    const sources = [
      doc(
        1,
        'cli',
        "# keel docs\n\n```sh\nkeel docs list   # a collection's documents and their chunks\nkeel docs rm a.md   # delete documents with their chunks\n```",
      ),
      doc(
        2,
        'configuration',
        '# How documents are chunked\n\nKeel chunks documents by headings, then by paragraphs, into chunks of 350 tokens.',
      ),
    ];
    const how = extractAnswer('How does Keel chunk documents?', sources, 200).text;
    expect(
      how.startsWith('Keel chunks documents by headings, then by paragraphs, into chunks of 350 tokens [2].'),
    ).toBe(true);
    expect(how).toContain("\n- `keel docs list   # a collection's documents and their chunks`");
    const todo = extractAnswer('How do I list the chunks of documents?', sources, 200).text;
    expect(todo.startsWith("- `keel docs list   # a collection's documents and their chunks`")).toBe(true);
  });

  it('quotes a sentence that points back only with what it points at', () => {
    const keys = doc(
      7,
      'keys',
      '# Listing keys\n\nList the keys of every tenant with `keel keys list` or `GET /v1/admin/keys`.\n\n' +
        'Both list every revoked key with its id and prefix. A revoked key gets 401 for every request.',
    );
    // "Both" without the sentence naming the two commands would refer to nothing.
    const alone = extractAnswer('What does a revoked key get?', [keys], 200).text;
    expect(alone).toBe('A revoked key gets 401 for every request [7].');
    const withIt = extractAnswer(
      'How do I list the keys of every tenant, revoked keys too?',
      [keys],
      200,
    ).text;
    expect(withIt).toContain('List the keys of every tenant');
    expect(withIt).toContain('Both list every revoked key with its id and prefix [7].');
  });

  it('names the route, command or setting a subjectless first sentence describes', () => {
    const route: Source = {
      ...doc(8, 'api', 'Revokes the key and returns it with "revoked": true; an unknown id is a 404.'),
      heading: 'HTTP API > Admin API > DELETE /v1/admin/keys/{id}',
    };
    expect(extractAnswer('How do I revoke a key?', [route], 200).text).toBe(
      'DELETE /v1/admin/keys/{id}: Revokes the key and returns it with "revoked": true; an unknown id is a 404 [8].',
    );
    const cli = doc(
      9,
      'cli',
      '## keel ingest\n\nIngests files and folders into a collection, created on first use.',
    );
    expect(extractAnswer('How do I ingest folders?', [cli], 200).text).toBe(
      'keel ingest: Ingests files and folders into a collection, created on first use [9].',
    );
    // The same sentence in an overlapping chunk that starts below the heading is still quoted once.
    const overlap = doc(
      11,
      'api',
      'Revokes the key and returns it with "revoked": true; an unknown id is a 404.',
    );
    expect(extractAnswer('How do I revoke a key?', [route, overlap], 200).text).toBe(
      'DELETE /v1/admin/keys/{id}: Revokes the key and returns it with "revoked": true; an unknown id is a 404 [8].',
    );
    // A topic heading is not a name, and a sentence that already names its subject needs nothing.
    const topic: Source = {
      ...doc(10, 'guide', 'Revoking a key takes effect at once.'),
      heading: 'Guide > Revoking',
    };
    expect(extractAnswer('How fast does revoking a key take effect?', [topic], 200).text).toBe(
      'Revoking a key takes effect at once [10].',
    );
  });

  it('leaves out sentences about the documents themselves, unless nothing else answers', () => {
    const guide = doc(
      5,
      'keys',
      '# API keys\n\nThis page explains how to create an API key and how to revoke a key. ' +
        'Run keel keys create to create an API key for a tenant. More about creating keys: api-keys.md',
    );
    const res = extractAnswer('How do I create an API key?', [guide], 200);
    expect(res.text).toBe('Run keel keys create to create an API key for a tenant [5].');
    const onlyMeta = doc(6, 'index', '# Index\n\nThis page explains how to create an API key.');
    expect(extractAnswer('How do I create an API key?', [onlyMeta], 200).text).toBe(
      'This page explains how to create an API key [6].',
    );
  });

  it('says plainly that nothing relevant was found for an unrelated question', async () => {
    const res = await collect(provider.stream(ask('What is the capital of France?')));
    expect(res.text).toBe(NOTHING_FOUND);
    expect(citations(res.text)).toEqual([]);
  });

  it('refuses a question that only shares a common word with the documents', async () => {
    expect(extractAnswer('How do I bake sourdough bread with keel?', SOURCES, 200).text).toBe(NOTHING_FOUND);
  });

  it('says nothing was found when there are no sources', async () => {
    expect((await collect(provider.stream(ask('How do I create an API key?', [])))).text).toBe(NOTHING_FOUND);
    const bare: ChatRequest = { model: 'extractive', messages: [{ role: 'user', content: 'anything?' }] };
    expect((await collect(provider.stream(bare))).text).toBe(NOTHING_FOUND);
  });

  it('uses the last user message as the question', async () => {
    const req = ask('Are unchanged files ingested again?');
    const res = await collect(provider.stream(req));
    expect(citations(res.text)).toContain(3);
    expect(res.text).toContain('Unchanged files are skipped');
  });

  it('keeps redundant sentences out (MMR) and quotes repeated chunk text once', async () => {
    const dup = [SOURCES[1]!, { ...SOURCES[1]!, index: 2, chunkId: 'dup' }].map((s, i) => ({
      ...s,
      index: i + 1,
    }));
    const res = await collect(provider.stream(ask('How is an API key stored?', dup)));
    expect(res.text.match(/SHA-256/g)).toHaveLength(1);
  });

  it('orders picks by source and position, and stays within max_tokens', async () => {
    const res = await collect(
      provider.stream(ask('What happens with keys and files and the port?', SOURCES, { max_tokens: 60 })),
    );
    expect(countTokens(res.text)).toBeLessThanOrEqual(60);
    const cites = citations(res.text);
    expect(new Set(cites).size).toBeGreaterThan(1);
    expect(cites).toEqual([...cites].sort((a, b) => a - b));
  });

  it('truncates an over-long best sentence and reports length', () => {
    const a = extractAnswer('Where does keel read keel.yaml from?', SOURCES, 8);
    expect(a.finishReason).toBe('length');
    expect(countTokens(a.text)).toBeLessThanOrEqual(8);
  });

  it('streams start, word-group deltas, finish, then exact usage; deterministically', async () => {
    const req = ask('How do I create an API key?');
    const parts: StreamPart[] = [];
    for await (const p of provider.stream(req)) parts.push(p);
    expect(parts[0]).toEqual({ type: 'start', model: 'extractive' });
    const deltas = parts.filter((p) => p.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(2);
    expect(parts.at(-2)).toEqual({ type: 'finish', finishReason: 'stop' });
    const text = deltas.map((p) => (p.type === 'text-delta' ? p.text : '')).join('');
    const usage = parts.at(-1);
    const prompt = req.messages.reduce((n, m) => n + countTokens(String(m.content)), 0);
    expect(usage).toEqual({
      type: 'usage',
      usage: {
        promptTokens: prompt,
        completionTokens: countTokens(text),
        totalTokens: prompt + countTokens(text),
        estimated: false,
      },
    });
    const again = await collect(provider.stream(req));
    expect(again.text).toBe(text);
  });

  it('stops when the caller aborts', async () => {
    const ac = new AbortController();
    const it = provider
      .stream(ask('How do I create an API key?'), { signal: ac.signal })
      [Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: 'aborted' });
  });
});
