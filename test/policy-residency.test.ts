import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { client, createKey } from './helpers/policy.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const TIMEOUTS = { connectMs: 5_000, firstByteMs: 60_000, totalMs: 600_000 };
const RETRIES = { max: 0, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 };
const ask = (model: string) => ({
  model,
  messages: [{ role: 'user' as const, content: 'where am I answered?' }],
});

describe('data residency', () => {
  let eu: OpenAIUpstream;
  let us: OpenAIUpstream;
  let t: TestKeel;

  beforeAll(async () => {
    eu = await startOpenAIUpstream({ content: 'answered in the EU' });
    us = await startOpenAIUpstream({ content: 'answered in the US' });
    t = await startKeel({
      configure: (c) => {
        const provider = (baseUrl: string, region: string) => ({
          type: 'openai-compatible' as const,
          baseUrl,
          headers: {},
          timeouts: TIMEOUTS,
          connections: 8,
          region,
        });
        c.providers.eu = provider(eu.url, 'eu');
        c.providers.us = provider(us.url, 'us');
        // The US target comes first: only a pinned request falls through to the EU one.
        c.routes.smart = {
          strategy: 'fallback',
          retries: RETRIES,
          targets: [
            { provider: 'us', model: 'gpt-test', weight: 1 },
            { provider: 'eu', model: 'gpt-test', weight: 1 },
          ],
        };
        c.apps.usapp = {
          description: '',
          model: 'us/gpt-test',
          collections: [],
          topK: 6,
          contextTokens: 500,
        };
        c.policy.tenants.pinned = { regions: ['eu'] };
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await eu?.close();
    await us?.close();
  });

  it('routes a pinned tenant only to targets in its region; the other upstream receives nothing', async () => {
    const { key } = await createKey(t, { tenant: 'pinned' });
    const r = await client(t, key).chat.completions.create(ask('smart'));
    expect(r.choices[0]?.message.content).toBe('answered in the EU');
    expect(us.requests).toHaveLength(0);
    expect(eu.requests).toHaveLength(1);

    // An unpinned caller gets the route's first target.
    const other = await createKey(t, { tenant: 'free' });
    const r2 = await client(t, other.key).chat.completions.create(ask('smart'));
    expect(r2.choices[0]?.message.content).toBe('answered in the US');
    expect(us.requests).toHaveLength(1);
  });

  it('refuses with a clear 403 when no target of the model is in the pinned regions', async () => {
    const { key } = await createKey(t, { tenant: 'pinned' });
    const before = us.requests.length + eu.requests.length;
    for (const model of ['us/gpt-test', 'usapp']) {
      const res = await api(t, 'POST', '/v1/chat/completions', { key, body: ask(model) });
      expect(res.status).toBe(403);
      const msg = (res.body as { error: { message: string; code: string } }).error;
      expect(msg.code).toBe('permission_denied');
      expect(msg.message).toContain("Data residency: tenant 'pinned' is pinned to region(s) eu");
      expect(msg.message).toContain('us (us)');
      expect(msg.message).toContain('not sent anywhere');
    }
    // The built-in extractive app runs inside Keel: nothing leaves, so it qualifies anywhere.
    expect((await api(t, 'POST', '/v1/chat/completions', { key, body: ask('default') })).status).toBe(200);
    expect(us.requests.length + eu.requests.length).toBe(before);
  });

  it('pins a single key through the admin API', async () => {
    const { id, key } = await createKey(t, { tenant: 'free' });
    const put = await api(t, 'PUT', `/v1/admin/budgets/keys/${id}`, { body: { regions: ['eu'] } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ scope: 'key', subject: id, stored: { regions: ['eu'] } });
    const usBefore = us.requests.length;
    const r = await client(t, key).chat.completions.create(ask('smart'));
    expect(r.choices[0]?.message.content).toBe('answered in the EU');
    expect(us.requests.length).toBe(usBefore);
    const denied = await api(t, 'POST', '/v1/chat/completions', { key, body: ask('us/gpt-test') });
    expect(denied.status).toBe(403);
    expect(JSON.stringify(denied.body)).toContain(`key ${id} is pinned to region(s) eu`);
  });
});
