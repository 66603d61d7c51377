import { resolve } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestPaths } from '../src/rag/ingest-files.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

interface Citation {
  index: number;
  document: string;
  document_id: string;
  uri: string;
  chunk_id: string;
  score: number;
}

const DOCS = [
  {
    id: 'keys.md',
    title: 'API keys',
    uri: 'docs/keys.md',
    format: 'md',
    text:
      '# API keys\n\nCreate an API key with the command `keel keys create`. The new key is printed once; ' +
      'Keel stores only its SHA-256 hash. Revoke a key with `keel keys revoke <id>`.',
  },
  {
    id: 'deploy.md',
    title: 'Deploying Keel',
    uri: 'docs/deploy.md',
    format: 'md',
    text:
      '# Deploying\n\nTo scale out, run several gateway replicas behind a load balancer. Point them at one ' +
      'PostgreSQL database with DATABASE_URL and one Redis with REDIS_URL.',
  },
  {
    id: 'budgets.md',
    title: 'Budgets',
    uri: 'docs/budgets.md',
    format: 'md',
    text: '# Budgets\n\nA budget caps spending in US dollars per key, user or tenant, per day or per month.',
  },
];

const UPSTREAM_KEY = 'sk-upstream-secret-for-tests';
const DATABASE_URL = process.env.DATABASE_URL;
const drivers = [
  { name: 'pglite' as const, skip: undefined },
  { name: 'postgres' as const, skip: DATABASE_URL ? undefined : 'DATABASE_URL is not set' },
];

async function ledgerRows(t: TestKeel): Promise<{ id: string; status: string; app: string | null }[]> {
  return t.keel.db.query('select id, status, app from usage_ledger order by ts, id');
}

describe.each(drivers)('chat end to end on $name', (driver) => {
  let up: OpenAIUpstream;
  let t: TestKeel;
  let client: OpenAI;

  beforeAll(async () => {
    if (driver.skip) return;
    up = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY });
    t = await startKeel({
      driver: driver.name,
      env: { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: up.url },
      // An app over Keel's own user documentation, as a configured (not built-in) app.
      configure: (c) => {
        c.apps.manual = {
          description: '',
          model: 'extractive',
          collections: ['manual'],
          topK: 6,
          contextTokens: 3_000,
        };
      },
    });
    client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
    const res = await api(t, 'POST', '/v1/collections/default/documents', { body: { documents: DOCS } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ documents: 3, unchanged: 0, errors: [] });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
  });

  it.skipIf(driver.skip)('answers through the default app with citations of the right document', async () => {
    const before = (await ledgerRows(t)).length;
    const r = await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'How do I create an API key?' }],
    });
    // Committed before the body went out: visible the moment the client has the response.
    const rows = await ledgerRows(t);
    expect(rows.length).toBe(before + 1);
    expect(rows.at(-1)).toMatchObject({ id: r.id.replace('chatcmpl-', ''), status: 'ok', app: 'default' });

    const answer = r.choices[0]?.message.content ?? '';
    expect(answer).toContain('keel keys create');
    expect(answer).toMatch(/\[1\]/);
    const citations = (r as unknown as { citations: Citation[] }).citations;
    expect(citations.length).toBeGreaterThan(0);
    expect(citations[0]).toMatchObject({ index: 1, document: 'API keys', uri: 'docs/keys.md' });
    expect(citations[0]?.chunk_id).toMatch(/^chk_/);
    expect(r.model).toBe('default');
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it.skipIf(driver.skip)(
    'streams an app answer: content, then citations, then usage, then [DONE]',
    async () => {
      const before = (await ledgerRows(t)).length;
      const stream = await client.chat.completions.create({
        model: 'default',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'How do I scale out with several replicas?' }],
      });
      let text = '';
      const kinds: string[] = [];
      let citations: Citation[] = [];
      for await (const chunk of stream) {
        const c = chunk as typeof chunk & { citations?: Citation[] };
        if (c.citations) {
          kinds.push('citations');
          citations = c.citations;
        } else if (c.usage) kinds.push('usage');
        else if (c.choices[0]?.finish_reason) kinds.push('finish');
        else kinds.push('delta');
        text += c.choices[0]?.delta.content ?? '';
      }
      expect(kinds.slice(-3)).toEqual(['finish', 'citations', 'usage']);
      expect(text).toMatch(/load balancer/);
      expect(citations.map((c) => c.uri)).toContain('docs/deploy.md');
      expect(citations.every((c) => text.includes(`[${c.index}]`))).toBe(true);
      expect((await ledgerRows(t)).length).toBe(before + 1);
    },
  );

  it.skipIf(driver.skip)('answers over docs/ through a configured app, citing the right page', async () => {
    const summary = await ingestPaths(t.keel.rag, {
      tenantId: t.keel.defaultTenantId,
      collection: 'manual',
      paths: [resolve(import.meta.dirname, '../docs')],
    });
    expect(summary.errors).toEqual([]);
    expect(summary.documents).toBeGreaterThan(0);
    const question = [{ role: 'user' as const, content: 'How do I create an API key?' }];
    const r = await client.chat.completions.create({ model: 'manual', messages: question });
    const cited = (r as unknown as { citations: Citation[] }).citations.map((c) => c.uri);
    expect(cited).toContain('docs/api-keys.md');
    expect(r.choices[0]?.message.content).toMatch(/keel keys create/);

    const stream = await client.chat.completions.create({
      model: 'manual',
      messages: question,
      stream: true,
    });
    let streamed: Citation[] = [];
    for await (const chunk of stream) {
      const c = (chunk as typeof chunk & { citations?: Citation[] }).citations;
      if (c) streamed = c;
    }
    expect(streamed.map((c) => c.uri)).toEqual(cited);
  });

  it.skipIf(driver.skip)('says plainly when the documents do not cover the question', async () => {
    const r = await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'zebra giraffe savannah migration' }],
    });
    expect((r as unknown as { citations: Citation[] }).citations).toEqual([]);
    expect(r.choices[0]?.message.content).toMatch(/could not find|not find|no relevant/i);
  });

  it.skipIf(driver.skip)('passes other models through to the upstream (JSON)', async () => {
    const n = up.requests.length;
    const r = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hello upstream' }],
    });
    expect(r.choices[0]?.message.content).toBe('You said: hello upstream');
    expect(r.id).toMatch(/^chatcmpl-test-/);
    expect(r.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });
    const seen = up.requests[n];
    // Keel authenticates upstream with the provider's key, never the client's.
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(seen?.body).toMatchObject({ model: 'gpt-test', stream: false });
  });

  it.skipIf(driver.skip)('passes streams through; the usage chunk only when the client asked', async () => {
    const collect = async (includeUsage: boolean) => {
      const stream = await client.chat.completions.create({
        model: 'gpt-test',
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
        messages: [{ role: 'user', content: 'stream me' }],
      });
      let text = '';
      const usages: unknown[] = [];
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usages.push(chunk.usage);
      }
      return { text, usages };
    };
    const n = up.requests.length;
    const plain = await collect(false);
    expect(plain.text).toBe('You said: stream me');
    expect(plain.usages).toEqual([]);
    // Keel always asks the upstream for usage (for the ledger), whatever the client asked.
    expect(up.requests[n]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });

    const withUsage = await collect(true);
    expect(withUsage.text).toBe('You said: stream me');
    expect(withUsage.usages).toEqual([{ prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 }]);
  });

  it.skipIf(driver.skip)('forwards upstream bytes unchanged in a pass-through stream', async () => {
    const res = await fetch(`${t.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'bytes' }],
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const body = await res.text();
    const events = body.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    // The upstream's own ids, field order and extras (system_fingerprint) survive.
    expect(events[0]).toMatch(
      /^data: \{"id":"chatcmpl-test-\d+","object":"chat.completion.chunk","created":\d+,"model":"gpt-4o-mini","system_fingerprint":null,/,
    );
  });

  it.skipIf(driver.skip)('writes exactly one ledger entry per completed request', async () => {
    const before = await ledgerRows(t);
    await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'a' }] });
    const s = await client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      messages: [{ role: 'user', content: 'b' }],
    });
    for await (const _ of s) {
      // drain
    }
    await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'API key?' }],
    });
    await Promise.all(
      [1, 2, 3].map(() =>
        client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'c' }] }),
      ),
    );
    const after = await ledgerRows(t);
    expect(after.length).toBe(before.length + 6);
    const fresh = after.slice(before.length);
    expect(new Set(fresh.map((r) => r.id)).size).toBe(6);
    expect(fresh.every((r) => r.status === 'ok')).toBe(true);
    const [row] = await t.keel.db.query<{ key_id: string | null; tenant_id: string; provider: string }>(
      'select key_id, tenant_id, provider from usage_ledger where id = $1',
      [fresh[0]!.id],
    );
    expect(row).toMatchObject({ tenant_id: t.keel.defaultTenantId, provider: 'openai' });
    expect(row?.key_id).toMatch(/^key_/);
  });
});

describe('client disconnects', () => {
  let up: OpenAIUpstream;
  let t: TestKeel;
  let client: OpenAI;

  beforeAll(async () => {
    up = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY });
    t = await startKeel({ env: { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: up.url } });
    client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
  });

  const waitFor = async <T>(f: () => Promise<T | undefined> | T | undefined): Promise<T> => {
    for (let i = 0; i < 200; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('condition not reached');
  };

  it('aborts the upstream stream when the client goes away mid-stream', async () => {
    up.script({ kind: 'drip', intervalMs: 200 });
    const n = up.requests.length;
    const ctl = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'a long answer please' }] },
      { signal: ctl.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks === 1) ctl.abort();
      }
    } catch {
      // The client may end the iteration quietly or with an abort error; either way it is gone.
    }
    expect(chunks).toBe(1);
    const seen = up.requests[n]!;
    expect(await seen.settled).toBe('aborted');
    const row = await waitFor(async () => {
      const rows = await t.keel.db.query<{ status: string }>(
        "select status from usage_ledger where status = 'aborted'",
      );
      return rows.length > 0 ? rows : undefined;
    });
    expect(row.length).toBe(1);
  });

  it('aborts the upstream call when the client goes away before the first byte', async () => {
    up.script({ kind: 'hang' });
    const n = up.requests.length;
    const ctl = new AbortController();
    const pending = client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'never answered' }] },
      { signal: ctl.signal },
    );
    const seen = await waitFor(() => up.requests[n]);
    ctl.abort();
    await expect(pending).rejects.toThrow();
    expect(await seen.settled).toBe('aborted');
  });
});
