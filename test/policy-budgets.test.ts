import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import {
  backends,
  client,
  createKey,
  dropRedisPrefix,
  ledger,
  redisPrefix,
  streamChat,
  until,
} from './helpers/policy.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

// Prices that make budgets easy to reason about: 10 µ$ per prompt token, 2,000 µ$ per output token.
const PRICE = { input: 10, output: 2_000 };
const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

async function tenantId(t: TestKeel, name: string): Promise<string> {
  const [row] = await t.keel.db.query<{ id: string }>('select id from tenants where name = $1', [name]);
  return row!.id;
}

async function budgetOf(t: TestKeel, tenant: string) {
  return t.keel.state.getBudget({ key: `b:tenant:${await tenantId(t, tenant)}`, window: 'day' });
}

async function spentInLedger(t: TestKeel, tenant: string): Promise<number> {
  const [row] = await t.keel.db.query<{ s: number | null }>(
    'select sum(cost_usd) as s from usage_ledger where tenant_id = $1',
    [await tenantId(t, tenant)],
  );
  return Math.round((row?.s ?? 0) * 1e6);
}

interface Hook {
  url: string;
  events: Record<string, unknown>[];
  close(): Promise<void>;
}

async function webhook(): Promise<Hook> {
  const events: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString('utf8');
    });
    req.on('end', () => {
      events.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    events,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe.each(backends)('budgets on the $name backend', (backend) => {
  let up: OpenAIUpstream;
  let t: TestKeel;
  let hook: Hook;
  const prefix = redisPrefix();

  beforeAll(async () => {
    if (backend.skip) return;
    up = await startOpenAIUpstream();
    hook = await webhook();
    t = await startKeel({
      env: { OPENAI_API_KEY: 'sk-up', OPENAI_BASE_URL: up.url },
      configure: (c) => {
        c.redisUrl = backend.redisUrl;
        c.redisPrefix = prefix;
        c.prices['openai/*'] = PRICE;
        c.apps.helper = {
          description: '',
          model: 'openai/gpt-test',
          collections: [],
          topK: 6,
          contextTokens: 100,
        };
        const daily = (dailyUsd: number, mode: 'hard' | 'soft' = 'hard') => ({
          budget: { dailyUsd, mode, webhook: mode === 'soft' ? hook.url : undefined },
        });
        Object.assign(c.policy.tenants, {
          capr: { requestCap: { maxUsd: 0.05, mode: 'reject' } },
          capc: { requestCap: { maxUsd: 0.05, mode: 'clamp' } },
          daily: daily(0.025),
          fail: daily(1),
          stop: daily(0.1),
          stopapp: daily(0.1),
          soft: daily(0.015, 'soft'),
        });
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
    await hook?.close();
    if (!backend.skip) await dropRedisPrefix(backend.redisUrl, prefix);
  });

  it.skipIf(backend.skip)(
    'rejects a request whose worst case is above the per-request cap before any upstream call',
    async () => {
      const { key } = await createKey(t, { tenant: 'capr' });
      const before = { upstream: up.requests.length, ledger: (await ledger(t)).length };
      const err = (await client(t, key)
        .chat.completions.create(chat('expensive', { max_tokens: 100 }))
        .catch((e: unknown) => e)) as APIError;
      expect(err.status).toBe(400);
      expect(err.code).toBe('budget_exceeded');
      expect(err.message).toMatch(/could cost up to \$0\.2\d+ .* above the per-request limit of \$0\.05/);
      expect(up.requests.length).toBe(before.upstream);
      expect((await ledger(t)).length).toBe(before.ledger);
    },
  );

  it.skipIf(backend.skip)('clamps max_tokens to what fits under the cap in clamp mode', async () => {
    const { key } = await createKey(t, { tenant: 'capc' });
    const { data, response } = await client(t, key)
      .chat.completions.create(chat('clamp me', { max_tokens: 100 }))
      .withResponse();
    const clamped = Number(response.headers.get('x-keel-max-tokens-clamped'));
    // (50,000 µ$ - a few prompt tokens at 10 µ$) / 2,000 µ$ per output token.
    expect(clamped).toBe(24);
    expect((up.requests.at(-1)!.body as { max_tokens?: number }).max_tokens).toBe(24);
    expect(data.choices[0]?.message.content).toContain('clamp me');
  });

  it.skipIf(backend.skip)(
    'holds, settles and finally refuses once the daily budget is spent; a refused request costs nothing',
    async () => {
      const { key } = await createKey(t, { tenant: 'daily' });
      const c = client(t, key);
      // Each call: a ~10,100 µ$ hold, ~10,050 µ$ actually charged; the third no longer fits in 25,000.
      await c.chat.completions.create(chat('first one', { max_tokens: 5 }));
      await c.chat.completions.create(chat('second one', { max_tokens: 5 }));
      const after2 = await budgetOf(t, 'daily');
      expect(after2?.reserved).toBe(0);
      expect(after2?.spent).toBe(await spentInLedger(t, 'daily'));
      expect(after2!.spent).toBeGreaterThan(20_000);

      const before = { upstream: up.requests.length, ledger: (await ledger(t)).length };
      const err = (await c.chat.completions
        .create(chat('third one', { max_tokens: 5 }))
        .catch((e: unknown) => e)) as APIError;
      expect(err.status).toBe(429);
      expect(err.code).toBe('budget_exceeded');
      expect(err.message).toContain("daily budget of tenant 'daily' ($0.025000)");
      expect(Number(err.headers?.get('retry-after'))).toBeGreaterThan(0);
      expect(up.requests.length).toBe(before.upstream);
      expect((await ledger(t)).length).toBe(before.ledger);
      expect(await budgetOf(t, 'daily')).toEqual(after2);

      // The member sees where its budget stands in /v1/usage.
      const usage = await api(t, 'GET', '/v1/usage', { key });
      const budgets = (usage.body as { budgets: { scope: string; spent_usd: number; limit_usd: number }[] })
        .budgets;
      expect(budgets).toContainEqual(
        expect.objectContaining({ scope: 'tenant', limit_usd: 0.025, spent_usd: after2!.spent / 1e6 }),
      );
    },
  );

  it.skipIf(backend.skip)('releases the hold when the upstream call fails, and charges nothing', async () => {
    const { key } = await createKey(t, { tenant: 'fail' });
    up.script({ kind: 'status', status: 500 });
    const err = (await client(t, key)
      .chat.completions.create(chat('will fail'))
      .catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(502);
    expect(await budgetOf(t, 'fail')).toEqual({ spent: 0, reserved: 0 });
    const rows = (await ledger(t)).filter((r) => r.status === 'error');
    expect(rows.at(-1)).toMatchObject({ cost_usd: 0 });
  });

  for (const kind of ['pass-through', 'app'] as const) {
    it.skipIf(backend.skip)(
      `stops a ${kind} stream when the budget runs out: finish_reason length, a notice, upstream aborted`,
      async () => {
        const tenant = kind === 'app' ? 'stopapp' : 'stop';
        const { key } = await createKey(t, { tenant });
        const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
        up.script({ kind: 'reply', content: words, chunks: 300 });
        const before = up.requests.length;
        const s = await streamChat(t, key, {
          model: kind === 'app' ? 'helper' : 'gpt-test',
          messages: [{ role: 'user', content: 'talk a lot' }],
          stream_options: { include_usage: true },
        });
        expect(s.status).toBe(200);
        expect(s.done).toBe(true);
        const choices = s.events.flatMap(
          (e) => (e.choices as { delta?: { content?: string }; finish_reason?: string }[]) ?? [],
        );
        const text = choices.map((c) => c.delta?.content ?? '').join('');
        expect(choices.at(-1)?.finish_reason).toBe('length');
        const notice = s.events.find((e) => e.notice)?.notice as { code: string; message: string };
        expect(notice.code).toBe('budget_exceeded');
        expect(notice.message).toContain(`daily budget of tenant '${tenant}' ($0.1)`);
        // About 50 output tokens fit in $0.1 at 2,000 µ$ each; the upstream had 300 to send.
        expect(text.length).toBeGreaterThan(20);
        expect(text.length).toBeLessThan(words.length / 2);
        expect(up.requests.length).toBe(before + 1);
        expect(await up.requests.at(-1)!.settled).toBe('aborted');
        const usage = s.events.find((e) => e.usage)?.usage as { completion_tokens: number };
        expect(usage.completion_tokens).toBeGreaterThan(10);

        const b = await budgetOf(t, tenant);
        expect(b?.reserved).toBe(0);
        // Never more than one streamed part (a token or two) past the limit.
        expect(b!.spent).toBeLessThanOrEqual(100_000 + 4_000);
        expect(b!.spent).toBeGreaterThan(80_000);
        expect(b!.spent).toBe(await spentInLedger(t, tenant));
        up.script(undefined);
      },
    );
  }

  it.skipIf(backend.skip)(
    'a soft budget lets requests through, flags them and notifies the webhook once per window',
    async () => {
      const { key } = await createKey(t, { tenant: 'soft' });
      const c = client(t, key);
      const first = await c.chat.completions.create(chat('one', { max_tokens: 5 })).withResponse();
      expect(first.response.headers.get('x-keel-budget-warning')).toBeNull();
      for (let i = 0; i < 3; i++) {
        const r = await c.chat.completions.create(chat(`again ${i}`, { max_tokens: 5 })).withResponse();
        expect(r.response.status).toBe(200);
        expect(r.response.headers.get('x-keel-budget-warning')).toBe(
          'soft-limit-exceeded; scope=tenant; window=day',
        );
      }
      expect(await until(() => hook.events.length > 0)).toBe(true);
      await t.keel.policy.notifier.flush();
      expect(hook.events).toHaveLength(1);
      expect(hook.events[0]).toMatchObject({
        type: 'budget.soft_limit_exceeded',
        scope: 'tenant',
        subject: "tenant 'soft'",
        window: 'day',
        limit_usd: 0.015,
      });
      expect((await budgetOf(t, 'soft'))!.spent).toBeGreaterThan(15_000);
    },
  );
});
