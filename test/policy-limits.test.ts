import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import {
  backends,
  client,
  createKey,
  dropRedisPrefix,
  redisPrefix,
  streamChat,
  until,
} from './helpers/policy.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const chat = (content: string) => ({ model: 'gpt-test', messages: [{ role: 'user' as const, content }] });

describe.each(backends)('rate limits on the $name backend', (backend) => {
  let up: OpenAIUpstream;
  let t: TestKeel;
  const prefix = redisPrefix();

  beforeAll(async () => {
    if (backend.skip) return;
    up = await startOpenAIUpstream();
    t = await startKeel({
      env: { OPENAI_API_KEY: 'sk-up', OPENAI_BASE_URL: up.url },
      configure: (c) => {
        c.redisUrl = backend.redisUrl;
        c.redisPrefix = prefix;
        c.policy.tenants.rpm = { limits: { rpm: 3 } };
        c.policy.tenants.tpm = { limits: { tpm: 600 } };
        c.policy.tenants.cc = { limits: { concurrency: 1 } };
        c.policy.tenants.emb = { limits: { rpm: 2 } };
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
    if (!backend.skip) await dropRedisPrefix(backend.redisUrl, prefix);
  });

  it.skipIf(backend.skip)(
    'sends x-ratelimit headers on every response and answers 429 with Retry-After past the limit',
    async () => {
      const { key } = await createKey(t, { tenant: 'rpm' });
      const c = client(t, key);
      const before = up.requests.length;
      const remaining: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { response } = await c.chat.completions.create(chat(`hello ${i}`)).withResponse();
        expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
        expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(ms|(\.\d+)?s|m\d+s)$/);
        remaining.push(response.headers.get('x-ratelimit-remaining-requests') ?? '');
      }
      expect(remaining).toEqual(['2', '1', '0']);

      const err = await c.chat.completions.create(chat('one too many')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      const e = err as APIError;
      expect(e.status).toBe(429);
      expect(e.code).toBe('rate_limit_exceeded');
      expect(e.message).toContain("3 requests per minute for tenant 'rpm'");
      expect(Number(e.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(e.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
      // The rejected request never reached the upstream, and a streamed one is refused the same way.
      const s = await streamChat(t, key, chat('streamed'));
      expect(s.status).toBe(429);
      expect(s.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(up.requests.length - before).toBe(3);
    },
  );

  it.skipIf(backend.skip)(
    'counts prompt tokens before the call and corrects them with the real usage after',
    async () => {
      const { key } = await createKey(t, { tenant: 'tpm' });
      // Few words, many tokens: Keel's pre-call count is far above what the upstream reports.
      const prompt = Array.from({ length: 8 }, (_, i) => `zq${i}xv7kw9pj3rt`).join(' ');
      const { data, response } = await client(t, key).chat.completions.create(chat(prompt)).withResponse();
      const charged = 600 - Number(response.headers.get('x-ratelimit-remaining-tokens'));
      expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('600');
      const actual = (data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0);
      expect(charged).toBeGreaterThan(actual + 20);

      // After the response the charge is corrected to the real usage (refill: 10 tokens a second).
      const [tenant] = await t.keel.db.query<{ id: string }>("select id from tenants where name = 'tpm'");
      const rule = { limit: 600, windowMs: 60_000, algorithm: 'token-bucket' as const };
      const key_ = `rl:tpm:tenant:${tenant!.id}`;
      expect(
        await until(async () => {
          const left = (await t.keel.state.peek(key_, rule)).remaining;
          return left >= 600 - actual && left < 600 - actual + 15;
        }),
      ).toBe(true);

      // A prompt larger than the whole limit can never be admitted: 429 without Retry-After.
      const huge = 'word '.repeat(700);
      const err = (await client(t, key)
        .chat.completions.create(chat(huge))
        .catch((e: unknown) => e)) as APIError;
      expect(err.status).toBe(429);
      expect(err.message).toContain('can never be admitted');
      expect(err.headers?.get('retry-after')).toBeNull();
    },
  );

  it.skipIf(backend.skip)(
    'admits one request at a time under a concurrency limit and frees the slot when it ends',
    async () => {
      const { key } = await createKey(t, { tenant: 'cc' });
      const before = up.requests.length;
      up.script({ kind: 'delay', ms: 400 });
      const first = client(t, key).chat.completions.create(chat('slow one'));
      expect(await until(() => up.requests.length > before)).toBe(true);
      const second = await api(t, 'POST', '/v1/chat/completions', { key, body: chat('meanwhile') });
      expect(second.status).toBe(429);
      expect(JSON.stringify(second.body)).toContain('Too many concurrent requests');
      expect(second.headers.get('retry-after')).toBe('1');
      expect((await first).choices[0]?.message.content).toContain('slow one');
      const third = await api(t, 'POST', '/v1/chat/completions', { key, body: chat('after') });
      expect(third.status).toBe(200);
      expect(up.requests.length - before).toBe(2);
    },
  );

  it.skipIf(backend.skip)('a tenant allow-list refuses other models with 403', async () => {
    const put = await api(t, 'PUT', '/v1/admin/budgets/tenants/rpm', {
      body: { allowed_models: ['default'] },
    });
    // The tenant exists (created with its first key above).
    expect(put.status).toBe(200);
    const { key } = await createKey(t, { tenant: 'rpm' });
    const res = await api(t, 'POST', '/v1/chat/completions', { key, body: chat('not allowed') });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toContain("Tenant 'rpm' is not allowed to use model 'gpt-test'");
    const models = await api(t, 'GET', '/v1/models', { key });
    expect((models.body as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['default']);
    expect((await api(t, 'DELETE', '/v1/admin/budgets/tenants/rpm')).status).toBe(200);
  });

  it.skipIf(backend.skip)('limits embeddings requests the same way', async () => {
    const { key } = await createKey(t, { tenant: 'emb' });
    const c = client(t, key);
    const first = await c.embeddings.create({ model: 'text-embedding-test', input: 'one' }).withResponse();
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    await c.embeddings.create({ model: 'text-embedding-test', input: ['two', 'three'] });
    const err = (await c.embeddings
      .create({ model: 'text-embedding-test', input: 'four' })
      .catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(429);
    expect(err.message).toContain("2 requests per minute for tenant 'emb'");
  });
});
