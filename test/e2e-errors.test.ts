import { connect } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeKey } from '../src/store/queries/keys.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

const KEY_TTL_MS = 300;
const BODY_LIMIT = 4_096;

describe('gateway errors end to end', () => {
  let t: TestKeel;
  let up: OpenAIUpstream;

  beforeAll(async () => {
    up = await startOpenAIUpstream();
    t = await startKeel({
      env: { OPENAI_API_KEY: 'sk-upstream', OPENAI_BASE_URL: up.url },
      configure: (c) => {
        // No pass-through: unknown names are 404, and `gpt-test` reaches the upstream as an alias.
        c.passthroughProvider = undefined;
        c.models['gpt-test'] = { provider: 'openai', model: 'gpt-test' };
        c.server.keyCacheTtlMs = KEY_TTL_MS;
        c.server.bodyLimitBytes = BODY_LIMIT;
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
  });

  const chat = (key: string) => new OpenAI({ apiKey: key, baseURL: t.baseURL, maxRetries: 0 });
  const ask = (key: string, model = 'default') =>
    chat(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }] });
  const createKey = async (body: Record<string, unknown>) => {
    const res = await api(t, 'POST', '/v1/admin/keys', { body });
    expect(res.status).toBe(201);
    return res.body as { id: string; key: string };
  };

  it('401 without a key, with a bad key, in the OpenAI error shape', async () => {
    const none = await api(t, 'POST', '/v1/chat/completions', { key: null, body: { model: 'default' } });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({
      error: { type: 'authentication_error', code: 'invalid_api_key', param: null },
    });

    await expect(ask('keel_not-a-real-key')).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    const basic = await api(t, 'GET', '/v1/models', { key: null, headers: { authorization: 'Basic abc' } });
    expect(basic.status).toBe(401);
  });

  it('401 for a key revoked through the API, at once on this replica', async () => {
    const k = await createKey({ role: 'member' });
    expect((await ask(k.key)).choices.length).toBe(1);
    expect((await api(t, 'DELETE', `/v1/admin/keys/${k.id}`)).status).toBe(200);
    await expect(ask(k.key)).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(/revoked/),
    });
  });

  it('401 for a key revoked elsewhere (another replica), within the key-cache TTL', async () => {
    const k = await createKey({ role: 'member' });
    expect((await api(t, 'GET', '/v1/models', { key: k.key })).status).toBe(200);
    // Straight in the store, as another replica would: this process only learns of it when its cache entry expires.
    expect(await revokeKey(t.keel.db, k.id)).toBe(true);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, KEY_TTL_MS / 5));
      status = (await api(t, 'GET', '/v1/models', { key: k.key })).status;
    }
    expect(status).toBe(401);
  });

  it('403 for a model outside the key’s allow-list; allowed models work', async () => {
    const k = await createKey({ allowed_models: ['default'] });
    await expect(ask(k.key, 'gpt-test')).rejects.toMatchObject({
      status: 403,
      code: 'permission_denied',
      param: 'model',
    });
    // Even unknown names are 403, so a restricted key cannot probe which models exist.
    await expect(ask(k.key, 'no-such-model')).rejects.toMatchObject({ status: 403 });
    expect((await ask(k.key, 'default')).model).toBe('default');
    const emb = await api(t, 'POST', '/v1/embeddings', {
      key: k.key,
      body: { model: 'hashing', input: 'x' },
    });
    expect(emb.status).toBe(403);
  });

  it('403 for admin endpoints with a member key', async () => {
    const k = await createKey({ role: 'member' });
    const res = await api(t, 'POST', '/v1/admin/keys', { key: k.key, body: { role: 'admin' } });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { type: 'permission_error', code: 'permission_denied' } });
  });

  it('404 for an unknown model and an unknown route', async () => {
    await expect(ask(t.adminKey, 'no-such-model')).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
      param: 'model',
    });
    const route = await api(t, 'GET', '/v1/nothing-here');
    expect(route.status).toBe(404);
    expect(route.body).toMatchObject({ error: { type: 'not_found_error', code: 'not_found' } });
    const method = await api(t, 'DELETE', '/v1/chat/completions');
    expect(method.status).toBe(404);
  });

  it('400 for schema errors, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ model: 'default', messages: [{ role: 'user', content: 42 }] }, 'messages[0].content'],
      [{ model: 'default', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
      [{ model: 'default', messages: [] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
      [{ model: 'default', messages: [{ role: 'user', content: 'x' }], temperature: 7 }, 'temperature'],
      [{ model: 'default', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream'],
      // Per role, as OpenAI: only an assistant turn with tool_calls may lack content.
      [{ model: 'default', messages: [{ role: 'user', content: null }] }, 'messages[0].content'],
      [
        { model: 'default', messages: [{ role: 'system' }, { role: 'user', content: 'x' }] },
        'messages[0].content',
      ],
      [
        {
          model: 'default',
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: null },
          ],
        },
        'messages[1].content',
      ],
      [
        {
          model: 'default',
          messages: [
            { role: 'user', content: 'x' },
            { role: 'tool', content: '42' },
          ],
        },
        'messages[1].tool_call_id',
      ],
    ];
    for (const [body, param] of cases) {
      const res = await api(t, 'POST', '/v1/chat/completions', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = (res.body as ErrorBody).error;
      expect(err).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param });
      expect(err.message).toContain(param);
    }
    await expect(
      chat(t.adminKey).chat.completions.create({
        model: 'default',
        messages: [{ role: 'user', content: 'x' }],
        top_p: 3,
      }),
    ).rejects.toMatchObject({ status: 400, param: 'top_p' });
    const emb = await api(t, 'POST', '/v1/embeddings', { body: { model: 'hashing', input: [1, 2] } });
    expect(emb).toMatchObject({ status: 400, body: { error: { param: 'input' } } });
  });

  it('every time filter takes the same formats, and names the parameter it refuses', async () => {
    const paths = ['/v1/usage', '/v1/traces', '/v1/stats', '/v1/feedback/summary'];
    for (const path of paths) {
      for (const from of ['2026-11-01', '2026-11-01T08:00:00Z', '1793520000000']) {
        const ok = await api(t, 'GET', `${path}?from=${encodeURIComponent(from)}`);
        expect(ok.status, `${path} ${from}`).toBe(200);
      }
      // A time without an offset would mean whatever the server's time zone says.
      for (const from of ['2026-11-01T08:00:00', 'yesterday', '2026-02-30']) {
        const bad = await api(t, 'GET', `${path}?from=${encodeURIComponent(from)}`);
        expect(bad.status, `${path} ${from}`).toBe(400);
        const err = (bad.body as ErrorBody).error;
        expect(err).toMatchObject({ code: 'invalid_request', param: 'from' });
        expect(err.message).toContain('ISO 8601 time with an offset');
      }
    }
  });

  it('400 for malformed JSON and for an empty body', async () => {
    const json = { 'content-type': 'application/json' };
    const bad = await api(t, 'POST', '/v1/chat/completions', {
      rawBody: '{"model": "default",',
      headers: json,
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_request' } });
    expect((bad.body as ErrorBody).error.message).toMatch(/JSON/);
    const empty = await api(t, 'POST', '/v1/chat/completions', { rawBody: '', headers: json });
    expect(empty.status).toBe(400);
    const none = await api(t, 'POST', '/v1/chat/completions');
    expect(none.status).toBe(400);
  });

  it('400 in the same shape for requests the HTTP parser rejects', async () => {
    const { port } = new URL(t.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () =>
        sock.end('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
      );
      let out = '';
      sock.on('data', (d) => {
        out += d.toString();
      });
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 400')).toBe(true);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as ErrorBody;
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
  });

  it('413 for a body over the limit', async () => {
    const res = await api(t, 'POST', '/v1/chat/completions', {
      body: { model: 'default', messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT * 2) }] },
    });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: { code: 'payload_too_large', type: 'invalid_request_error' } });
  });

  it('415 for a body that is not JSON', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await api(t, 'POST', '/v1/chat/completions', {
        rawBody: 'model=default',
        headers: { 'content-type': contentType },
      });
      expect(res.status, contentType).toBe(415);
      expect(res.body).toMatchObject({ error: { code: 'unsupported_media_type' } });
    }
  });

  it('upstream failures keep the OpenAI shape and status', async () => {
    up.script({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    const res = await api(t, 'POST', '/v1/chat/completions', {
      body: { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.body).toMatchObject({ error: { code: 'upstream_rate_limited' } });
    up.script(undefined);
  });

  it('echoes a client request id and generates one otherwise, on errors too', async () => {
    const mine = await api(t, 'GET', '/v1/models', { headers: { 'x-request-id': 'trace-me-123' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-me-123');
    const generated = await api(t, 'GET', '/v1/nothing', { key: null });
    expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);
    const unauth = await api(t, 'GET', '/v1/models', { key: null, headers: { 'x-request-id': 'r-401' } });
    expect(unauth.headers.get('x-request-id')).toBe('r-401');
  });

  it('finds a request by its x-request-id: a generated one is the trace id, a client one is recorded with it', async () => {
    const body = { model: 'default', messages: [{ role: 'user', content: 'hello' }] };
    const res = await api(t, 'POST', '/v1/chat/completions', { body });
    expect(res.status).toBe(200);
    const rid = res.headers.get('x-request-id')!;
    expect((res.body as { id: string }).id).toBe(`chatcmpl-${rid}`);
    const mine = await api(t, 'POST', '/v1/chat/completions', {
      body,
      headers: { 'x-request-id': 'client-7' },
    });
    expect(mine.headers.get('x-request-id')).toBe('client-7');
    const mineTrace = (mine.body as { id: string }).id.replace(/^chatcmpl-/, '');
    expect(mineTrace).toMatch(/^req_/);
    await t.keel.telemetry.flush();
    expect(await api(t, 'GET', `/v1/traces/${rid}`)).toMatchObject({
      status: 200,
      body: { id: rid, attributes: { request_id: rid } },
    });
    expect(await api(t, 'GET', `/v1/traces/${mineTrace}`)).toMatchObject({
      status: 200,
      body: { id: mineTrace, attributes: { request_id: 'client-7' } },
    });
    // The list filter takes either kind of request id.
    for (const [requestId, id] of [
      ['client-7', mineTrace],
      [rid, rid],
    ]) {
      const list = await api(t, 'GET', `/v1/traces?request_id=${requestId}`);
      expect((list.body as { data: { id: string }[] }).data.map((x) => x.id)).toEqual([id]);
    }
  });
});
