import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

interface KeyView {
  id: string;
  key?: string;
  prefix: string;
  tenant: string;
  user: string;
  name: string;
  role: string;
  allowed_models: string[] | null;
  revoked_at: string | null;
}

describe('admin, ingest, models and embeddings APIs end to end', () => {
  let t: TestKeel;
  let up: OpenAIUpstream;
  const localToken = 'local-token-for-tests-0123456789abcdef';

  beforeAll(async () => {
    up = await startOpenAIUpstream({ embeddingDimensions: 16 });
    t = await startKeel({ localToken, env: { OPENAI_API_KEY: 'sk-upstream', OPENAI_BASE_URL: up.url } });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
  });

  it('creates a key shown once, stored only as a hash with a display prefix', async () => {
    const res = await api(t, 'POST', '/v1/admin/keys', {
      body: { user: 'alice', name: 'ci', role: 'member', allowed_models: ['default'] },
    });
    expect(res.status).toBe(201);
    const k = res.body as KeyView;
    expect(k.key).toMatch(/^keel_[A-Za-z0-9_-]{43}$/);
    expect(k.key?.startsWith(k.prefix)).toBe(true);
    expect(k).toMatchObject({
      tenant: 'default',
      user: 'alice',
      name: 'ci',
      role: 'member',
      allowed_models: ['default'],
    });

    const [row] = await t.keel.db.query<{ hash: string; prefix: string }>(
      'select hash, prefix from api_keys where id = $1',
      [k.id],
    );
    expect(row?.hash).toBe(createHash('sha256').update(k.key!).digest('hex'));
    const stored = JSON.stringify(await t.keel.db.query('select * from api_keys'));
    expect(stored).not.toContain(k.key);

    const list = await api(t, 'GET', '/v1/admin/keys');
    const listed = (list.body as { data: KeyView[] }).data.find((x) => x.id === k.id);
    expect(listed).toMatchObject({ prefix: k.prefix, user: 'alice', revoked_at: null });
    expect(JSON.stringify(list.body)).not.toContain(k.key);
    expect(JSON.stringify(list.body)).not.toContain(row?.hash);
  });

  it('lists keys by tenant, with or without the revoked ones, and refuses unknown filters', async () => {
    const a = (await api(t, 'POST', '/v1/admin/keys', { body: { tenant: 'listing-co', user: 'a' } }))
      .body as KeyView;
    const b = (await api(t, 'POST', '/v1/admin/keys', { body: { tenant: 'listing-co', user: 'b' } }))
      .body as KeyView;
    expect((await api(t, 'DELETE', `/v1/admin/keys/${b.id}`)).status).toBe(200);
    const ids = async (q: string) =>
      ((await api(t, 'GET', `/v1/admin/keys${q}`)).body as { data: KeyView[] }).data.map((k) => k.id).sort();
    expect(await ids('?tenant=listing-co')).toEqual([a.id, b.id].sort());
    expect(await ids('?tenant=listing-co&include_revoked=false')).toEqual([a.id]);
    expect(await ids('?tenant=no-such-tenant')).toEqual([]);
    for (const q of ['?include_revoked=maybe', '?tenant=', '?colour=red']) {
      const res = await api(t, 'GET', `/v1/admin/keys${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'invalid_request' } });
    }
  });

  it('lets members do nothing admin: create, list, revoke keys or ingest', async () => {
    const member = (await api(t, 'POST', '/v1/admin/keys', { body: {} })).body as KeyView;
    expect(member.role).toBe('member');
    const key = member.key!;
    for (const [method, path, body] of [
      ['POST', '/v1/admin/keys', { role: 'admin' }],
      ['GET', '/v1/admin/keys', undefined],
      ['DELETE', `/v1/admin/keys/${member.id}`, undefined],
      ['POST', '/v1/collections/default/documents', { documents: [{ text: 'x' }] }],
      ['GET', '/v1/collections', undefined],
      ['GET', '/v1/collections/default/documents', undefined],
      ['DELETE', '/v1/collections/default/documents/a', undefined],
      ['POST', '/v1/collections/default/search', { query: 'x' }],
    ] as const) {
      const res = await api(t, method, path, { key, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body).toMatchObject({ error: { code: 'permission_denied', type: 'permission_error' } });
    }
  });

  it('revokes keys; unknown ids are 404; bad bodies name the field', async () => {
    const k = (await api(t, 'POST', '/v1/admin/keys', { body: { role: 'admin' } })).body as KeyView;
    const del = await api(t, 'DELETE', `/v1/admin/keys/${k.id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: k.id, revoked: true });
    expect((del.body as KeyView).revoked_at).not.toBeNull();
    expect((await api(t, 'GET', '/v1/models', { key: k.key! })).status).toBe(401);
    expect((await api(t, 'DELETE', '/v1/admin/keys/key_nope')).status).toBe(404);

    const bad = await api(t, 'POST', '/v1/admin/keys', { body: { role: 'root' } });
    expect(bad).toMatchObject({ status: 400, body: { error: { param: 'role' } } });
    const unknown = await api(t, 'POST', '/v1/admin/keys', { body: { rol: 'admin' } });
    expect(unknown.status).toBe(400);
  });

  it('accepts the process-local token as the bootstrap admin', async () => {
    const res = await api(t, 'GET', '/v1/admin/keys', { key: localToken });
    expect(res.status).toBe(200);
  });

  it('keeps tenants apart: another tenant’s app finds none of these documents', async () => {
    const ing = await api(t, 'POST', '/v1/collections/default/documents', {
      body: {
        documents: [
          {
            id: 'a',
            title: 'Lighthouses',
            text: 'The lighthouse keeper lit the lamp at dusk every evening.',
          },
          {
            id: 'b',
            uri: 'notes/b.html',
            content_base64: Buffer.from('<h1>Tides</h1><p>Spring tides follow the new moon.</p>').toString(
              'base64',
            ),
          },
        ],
      },
    });
    expect(ing.body).toMatchObject({ documents: 2, errors: [] });
    const again = await api(t, 'POST', '/v1/collections/default/documents', {
      body: {
        documents: [
          {
            id: 'a',
            title: 'Lighthouses',
            text: 'The lighthouse keeper lit the lamp at dusk every evening.',
          },
        ],
      },
    });
    expect(again.body).toMatchObject({ documents: 0, unchanged: 1 });

    const question = [{ role: 'user' as const, content: 'When did the lighthouse keeper light the lamp?' }];
    const own = await new OpenAI({
      apiKey: t.adminKey,
      baseURL: t.baseURL,
      maxRetries: 0,
    }).chat.completions.create({
      model: 'default',
      messages: question,
    });
    expect(own.choices[0]?.message.content).toMatch(/dusk/);

    const other = (await api(t, 'POST', '/v1/admin/keys', { body: { tenant: 'acme' } })).body as KeyView;
    expect(other.tenant).toBe('acme');
    const theirs = await new OpenAI({
      apiKey: other.key!,
      baseURL: t.baseURL,
      maxRetries: 0,
    }).chat.completions.create({
      model: 'default',
      messages: question,
    });
    expect(theirs.choices[0]?.message.content).not.toMatch(/dusk/);
    expect((theirs as unknown as { citations: unknown[] }).citations).toEqual([]);
  });

  it('lists and deletes documents: a deleted one is gone from retrieval and from the BM25 statistics', async () => {
    const counters = async () =>
      (
        await t.keel.db.query<{ chunk_count: number; total_length: number }>(
          "select chunk_count, total_length from collections where name = 'manuals' and tenant_id = $1",
          [t.keel.defaultTenantId],
        )
      )[0];
    const ing = await api(t, 'POST', '/v1/collections/manuals/documents', {
      body: {
        documents: [
          { id: 'guides/anchor.md', text: '# Anchoring\n\nDrop the anchor windward of the mooring buoy.' },
          { id: 'guides/sails.md', text: '# Sails\n\nReef the mainsail before the squall arrives.' },
        ],
      },
    });
    expect(ing.body).toMatchObject({ documents: 2, errors: [] });
    const before = await counters();

    const cols = await api(t, 'GET', '/v1/collections');
    expect((cols.body as { data: unknown[] }).data).toContainEqual(
      expect.objectContaining({
        object: 'collection',
        name: 'manuals',
        documents: 2,
        chunks: before!.chunk_count,
      }),
    );
    const page1 = await api(t, 'GET', '/v1/collections/manuals/documents?limit=1');
    expect(page1.body).toMatchObject({
      object: 'list',
      data: [{ object: 'document', id: 'guides/anchor.md', title: 'Anchoring', chunks: 1 }],
      has_more: true,
      last_id: 'guides/anchor.md',
    });
    const page2 = await api(t, 'GET', '/v1/collections/manuals/documents?limit=1&after=guides%2Fanchor.md');
    expect(page2.body).toMatchObject({ data: [{ id: 'guides/sails.md' }], has_more: false });

    // The id is a path: percent-encoded in the URL.
    const del = await api(t, 'DELETE', '/v1/collections/manuals/documents/guides%2Fanchor.md');
    expect(del).toMatchObject({
      status: 200,
      body: { object: 'document.deleted', id: 'guides/anchor.md', collection: 'manuals', deleted: true },
    });
    const left = await api(t, 'GET', '/v1/collections/manuals/documents');
    expect((left.body as { data: { id: string }[] }).data.map((d) => d.id)).toEqual(['guides/sails.md']);
    const after = await counters();
    expect(after!.chunk_count).toBe(before!.chunk_count - 1);
    expect(after!.total_length).toBeLessThan(before!.total_length);
    const [stat] = await t.keel.db.query<{ df: number }>(
      "select df from term_stats t join collections c on c.id = t.collection_id where c.name = 'manuals' and t.lexeme = 'windward'",
    );
    expect(stat?.df ?? 0).toBe(0);
    expect(
      await t.keel.db.query(
        "select 1 from chunks where text like '%windward%' and collection_id in (select id from collections where name = 'manuals')",
      ),
    ).toHaveLength(0);

    // Gone twice is not found; so is an unknown collection; a bad query names its field.
    expect(await api(t, 'DELETE', '/v1/collections/manuals/documents/guides%2Fanchor.md')).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', param: 'id' } },
    });
    expect(await api(t, 'GET', '/v1/collections/nothing-here/documents')).toMatchObject({
      status: 404,
      body: { error: { param: 'name' } },
    });
    expect(await api(t, 'GET', '/v1/collections/manuals/documents?limit=0')).toMatchObject({
      status: 400,
      body: { error: { param: 'limit' } },
    });
  });

  it('searches a collection as an app retrieves it: ranks, lists, text, modes, filters', async () => {
    const ing = await api(t, 'POST', '/v1/collections/harbour/documents', {
      body: {
        documents: [
          {
            id: 'tides.md',
            text: '# Tides\n\nSpring tides follow the new and the full moon.',
            metadata: { team: 'pilots' },
          },
          {
            id: 'moorings.md',
            text: '# Moorings\n\nA visiting yacht takes a mooring buoy on the east pontoon.',
            metadata: { team: 'office' },
          },
          {
            id: 'fees.md',
            text: '# Fees\n\nMooring fees are paid at the harbour office before noon.',
            metadata: { team: 'office' },
          },
        ],
      },
    });
    expect(ing.body).toMatchObject({ documents: 3, errors: [] });
    type Result = {
      object: string;
      rank: number;
      document_id: string;
      heading: string;
      text: string;
      score: number;
      fts_rank: number | null;
      vector_rank: number | null;
    };
    const search = async (body: Record<string, unknown>) => {
      const res = await api(t, 'POST', '/v1/collections/harbour/search', { body });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body as { object: string; collection: string; mode: string; data: Result[] };
    };

    const hybrid = await search({ query: 'when are spring tides?' });
    expect(hybrid).toMatchObject({ object: 'list', collection: 'harbour', mode: 'hybrid' });
    expect(hybrid.data[0]).toMatchObject({
      object: 'search.result',
      rank: 1,
      document_id: 'tides.md',
      heading: 'Tides',
      fts_rank: 1,
    });
    expect(hybrid.data[0]!.text).toContain('Spring tides follow the new and the full moon.');
    expect(hybrid.data.map((r) => r.rank)).toEqual(hybrid.data.map((_, i) => i + 1));

    // BM25 alone: only chunks holding a query word, no vector ranks; top_k bounds the list.
    const fts = await search({ query: 'pontoon', mode: 'fts' });
    expect(fts.data.map((r) => [r.document_id, r.fts_rank, r.vector_rank])).toEqual([
      ['moorings.md', 1, null],
    ]);
    const vector = await search({ query: 'mooring fees', mode: 'vector', top_k: 2 });
    expect(vector.data).toHaveLength(2);
    expect(vector.data.every((r) => r.fts_rank === null && r.vector_rank === r.rank)).toBe(true);

    // A metadata filter keeps only the matching documents' chunks.
    const office = await search({ query: 'mooring tides fees', filter: { team: 'office' } });
    expect(office.data.map((r) => r.document_id).sort()).toEqual(['fees.md', 'moorings.md']);

    expect(await api(t, 'POST', '/v1/collections/nowhere/search', { body: { query: 'x' } })).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', param: 'name' } },
    });
    expect(await api(t, 'POST', '/v1/collections/harbour/search', { body: { query: '  ' } })).toMatchObject({
      status: 400,
      body: { error: { param: 'query' } },
    });
    expect(
      await api(t, 'POST', '/v1/collections/harbour/search', { body: { query: 'x', top_k: 0 } }),
    ).toMatchObject({ status: 400, body: { error: { param: 'top_k' } } });
    expect(
      await api(t, 'POST', '/v1/collections/harbour/search', { body: { query: 'x', mode: 'exact' } }),
    ).toMatchObject({ status: 400, body: { error: { param: 'mode' } } });
  });

  it('reports bad ingest input by field and ingests nothing', async () => {
    const both = await api(t, 'POST', '/v1/collections/default/documents', {
      body: { documents: [{ id: 'x', text: 'a', content_base64: 'YQ==' }] },
    });
    expect(both).toMatchObject({ status: 400, body: { error: { param: 'documents[0]' } } });
    const name = await api(t, 'POST', '/v1/collections/bad%20name/documents', {
      body: { documents: [{ text: 'x' }] },
    });
    expect(name).toMatchObject({ status: 400, body: { error: { param: 'name' } } });
  });

  it('lists the models a key may use', async () => {
    const all = await api(t, 'GET', '/v1/models');
    const ids = (all.body as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toContain('default');
    // The pass-through upstream's own models are listed too.
    expect(ids).toEqual(expect.arrayContaining(['gpt-test', 'gpt-4o-mini']));
    const limited = (
      await api(t, 'POST', '/v1/admin/keys', { body: { allowed_models: ['default', 'gpt-test'] } })
    ).body as KeyView;
    const client = new OpenAI({ apiKey: limited.key!, baseURL: t.baseURL, maxRetries: 0 });
    const seen: string[] = [];
    for await (const m of client.models.list()) seen.push(m.id);
    expect(seen.sort()).toEqual(['default', 'gpt-test']);
    expect((await client.models.retrieve('default')).id).toBe('default');
  });

  it('embeds with the built-in embedder (float and base64) and through the upstream', async () => {
    const client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
    // The openai client asks for base64 by default and decodes it.
    const r = await client.embeddings.create({ model: 'hashing', input: ['first text', 'second text'] });
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    const v = r.data[0]!.embedding;
    expect(v.length).toBe(512);
    expect(Math.hypot(...v)).toBeCloseTo(1, 4);

    const float = await api(t, 'POST', '/v1/embeddings', {
      body: { model: 'hashing', input: 'first text', encoding_format: 'float' },
    });
    const fv = (float.body as { data: { embedding: number[] }[] }).data[0]!.embedding;
    expect(fv.length).toBe(512);
    expect(Math.max(...fv.map((x, i) => Math.abs(x - v[i]!)))).toBeLessThan(1e-6);

    const remote = await client.embeddings.create({ model: 'text-embedding-test', input: 'hello' });
    expect(remote.data[0]?.embedding.length).toBe(16);
    expect(up.requests.at(-1)?.body).toMatchObject({ model: 'text-embedding-test', input: ['hello'] });

    const dims = await api(t, 'POST', '/v1/embeddings', {
      body: { model: 'hashing', input: 'x', dimensions: 3 },
    });
    expect(dims).toMatchObject({ status: 400, body: { error: { param: 'dimensions' } } });
  });

  it('answers health and readiness without a key', async () => {
    expect(await api(t, 'GET', '/healthz', { key: null })).toMatchObject({
      status: 200,
      body: { status: 'ok' },
    });
    expect(await api(t, 'GET', '/readyz', { key: null })).toMatchObject({
      status: 200,
      body: { status: 'ok', store: 'pglite' },
    });
  });
});
