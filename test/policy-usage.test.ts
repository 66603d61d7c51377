import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel } from './helpers/cli.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { client, createKey, until } from './helpers/policy.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

const chat = (content: string) => ({
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content }],
  max_tokens: 5,
});

interface UsageBody {
  totals: { requests: number; cost_usd: number };
  data: Record<string, unknown>[];
  budgets?: { scope: string; spent_usd: number; limit_usd: number }[];
}

/**
 * `GET /v1/usage` for admins and members, `keel usage`, and budget counters rebuilt from the
 * ledger after a restart (an embedded store in a data dir, the in-process SharedState).
 */
describe('usage reports and budgets that survive a restart', () => {
  let up: OpenAIUpstream;
  let t: TestKeel;
  const dir = mkdtempSync(join(tmpdir(), 'keel-usage-'));
  let ann: { id: string; key: string };
  let bob: { id: string; key: string };
  let carl: { id: string; key: string };
  const start = () =>
    startKeel({
      env: { OPENAI_API_KEY: 'sk-up', OPENAI_BASE_URL: up.url, KEEL_DATA_DIR: dir },
      configure: (c) => {
        c.prices['openai/*'] = { input: 10, output: 2_000 };
        c.policy.tenants.acme = { budget: { dailyUsd: 0.5, mode: 'hard' } };
        // Every user: ~$0.01 per call here, so two calls fit and a third does not.
        c.policy.users = { budget: { dailyUsd: 0.025, mode: 'hard' } };
      },
    });

  beforeAll(async () => {
    up = await startOpenAIUpstream();
    t = await start();
    ann = await createKey(t, { tenant: 'acme', user: 'ann' });
    bob = await createKey(t, { tenant: 'acme', user: 'bob' });
    carl = await createKey(t, { tenant: 'other', user: 'carl' });
    await client(t, ann.key).chat.completions.create(chat('first from ann'));
    await client(t, ann.key).chat.completions.create(chat('second from ann'));
    await client(t, bob.key).chat.completions.create(chat('one from bob'));
    await client(t, carl.key).chat.completions.create(chat('one from carl'));
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows an admin everything, by key, user, model and day, with filters', async () => {
    const byKey = (await api(t, 'GET', '/v1/usage?group_by=key')).body as UsageBody;
    expect(byKey.totals.requests).toBe(4);
    const rows = new Map(byKey.data.map((r) => [r.key, r.requests]));
    expect(rows.get(ann.id)).toBe(2);
    expect(rows.get(bob.id)).toBe(1);
    expect(rows.get(carl.id)).toBe(1);

    const acme = (await api(t, 'GET', '/v1/usage?group_by=user&tenant=acme')).body as UsageBody;
    expect(acme.totals.requests).toBe(3);
    expect(acme.data.map((r) => [r.user, r.requests]).sort()).toEqual([
      ['ann', 2],
      ['bob', 1],
    ]);

    const today = new Date().toISOString().slice(0, 10);
    const byDay = (await api(t, 'GET', '/v1/usage?group_by=day,model')).body as UsageBody;
    expect(byDay.data).toEqual([expect.objectContaining({ day: today, model: 'gpt-test', requests: 4 })]);
    expect(byDay.totals.cost_usd).toBeGreaterThan(0.04);

    const bad = await api(t, 'GET', '/v1/usage?group_by=colour');
    expect(bad.status).toBe(400);
  });

  it('shows a member only its own usage and where its budgets stand', async () => {
    const own = await api(t, 'GET', '/v1/usage?group_by=key', { key: ann.key });
    expect(own.status).toBe(200);
    const body = own.body as UsageBody;
    expect(body.totals.requests).toBe(2);
    expect(body.data.map((r) => r.key)).toEqual([ann.id]);
    expect(body.budgets?.map((b) => [b.scope, b.limit_usd])).toEqual([
      ['user', 0.025],
      ['tenant', 0.5],
    ]);
    expect(body.budgets?.[0]?.spent_usd).toBeCloseTo(body.totals.cost_usd, 6);

    const other = await api(t, 'GET', `/v1/usage?key=${bob.id}`, { key: ann.key });
    expect(other.status).toBe(403);
    // Members cannot reach the admin budgets API either.
    expect((await api(t, 'GET', '/v1/admin/budgets', { key: ann.key })).status).toBe(403);
  });

  it('rebuilds budget counters from the ledger after a restart', async () => {
    const [acme] = await t.keel.db.query<{ id: string }>("select id from tenants where name = 'acme'");
    const before = await t.keel.state.getBudget({ key: `b:tenant:${acme!.id}`, window: 'day' });
    expect(before!.spent).toBeGreaterThan(0);
    await t.close();
    t = await start();

    // Named in config: rebuilt at start-up.
    expect(
      await until(async () => {
        const b = await t.keel.state.getBudget({ key: `b:tenant:${acme!.id}`, window: 'day' });
        return b?.spent === before!.spent;
      }),
    ).toBe(true);
    // Every user's default budget: rebuilt when first needed. Ann already spent two calls' worth.
    const err = (await client(t, ann.key)
      .chat.completions.create(chat('third from ann'))
      .catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(429);
    expect(err.message).toContain("daily budget of user 'ann' of tenant 'acme'");
    await client(t, bob.key).chat.completions.create(chat('second from bob'));
  });

  it('`keel usage` prints the same report from the command line', async () => {
    await t.close();
    const table = await runKeel(['usage', '--by', 'day,key', '--tenant', 'acme'], {
      cwd: dir,
      env: { KEEL_DATA_DIR: dir },
    });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/DAY\s+KEY\s+REQUESTS\s+PROMPT TOKENS\s+COMPLETION TOKENS\s+COST/);
    expect(table.stdout).toMatch(new RegExp(`\\d{4}-\\d{2}-\\d{2}\\s+${ann.id}\\s+2\\s`));
    expect(table.stdout).toMatch(/total\s+4\s/);
  });
});
