import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSharedState } from '../src/state/redis.ts';
import { type ServeHandle, startServe } from './helpers/cli.ts';
import { dropRedisPrefix } from './helpers/policy.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

/**
 * Two `keel serve` processes on one PostgreSQL schema and one Redis namespace, under concurrent load
 * through both: budgets and rate limits hold across replicas, and a replica killed with SIGKILL
 * mid-load loses no charge the client saw completed.
 */

const DATABASE_URL = process.env.DATABASE_URL;
const REDIS_URL = process.env.REDIS_URL;
const skip =
  DATABASE_URL && REDIS_URL
    ? undefined
    : 'multi-replica proof skipped: it needs both DATABASE_URL (PostgreSQL) and REDIS_URL (Redis)';
if (skip) console.warn(`[skip] ${skip}`);

// 10 µ$ per prompt token, 2,000 µ$ per output token: one answer of the test upstream costs ~$0.011.
const BUDGET_USD = 0.2;
const RPM = 20;

interface Outcome {
  status: number;
  /** Keel's request id (the app's completion id without `chatcmpl-`), when the client saw the whole answer. */
  id?: string;
  code?: string;
}

/** One chat call through an app, JSON or streamed; a streamed answer counts only with its `[DONE]`. */
async function call(url: string, key: string, stream: boolean, text: string): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'mr',
        messages: [{ role: 'user', content: text }],
        max_tokens: 8,
        stream,
      }),
    });
    const body = await res.text();
    if (res.status !== 200) {
      const code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      return { status: res.status, code };
    }
    if (!stream) return { status: 200, id: (JSON.parse(body) as { id: string }).id.replace('chatcmpl-', '') };
    if (!body.endsWith('data: [DONE]\n\n')) return { status: 0 };
    const first = JSON.parse(body.slice(6, body.indexOf('\n\n'))) as { id: string };
    return { status: 200, id: first.id.replace('chatcmpl-', '') };
  } catch {
    // The replica died under us: the client never saw this answer complete.
    return { status: 0 };
  }
}

/** Runs `n` calls, `width` at a time, alternating replicas. */
async function load(n: number, width: number, pick: (i: number) => Promise<Outcome>): Promise<Outcome[]> {
  const out: Outcome[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await pick(i);
    }),
  );
  return out;
}

describe.skipIf(skip)('two replicas on one PostgreSQL and one Redis', () => {
  const id = randomBytes(5).toString('hex');
  const schema = `keel_mr_${id}`;
  const prefix = `keel_mr_${id}:`;
  const adminKey = `keel_mr_admin_${randomBytes(24).toString('base64url')}`;
  const dirs: string[] = [];
  let up: OpenAIUpstream;
  let a: ServeHandle;
  let b: ServeHandle;
  let state: RedisSharedState;
  let db: pg.Client;
  let configFile: string;

  const serve = async (): Promise<ServeHandle> => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-mr-'));
    dirs.push(dir);
    const url = new URL(DATABASE_URL!);
    url.searchParams.set('options', `-c search_path=${schema},public`);
    return startServe(['--no-seed'], {
      cwd: dir,
      env: {
        KEEL_CONFIG: configFile,
        KEEL_DATA_DIR: dir,
        KEEL_HOST: '127.0.0.1',
        KEEL_PORT: '0',
        KEEL_ADMIN_KEY: adminKey,
        DATABASE_URL: url.toString(),
        REDIS_URL,
      },
      timeoutMs: 90_000,
    });
  };

  const admin = async (url: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, unknown>;
  };

  const tenantId = async (name: string) =>
    (await db.query<{ id: string }>(`select id from ${schema}.tenants where name = $1`, [name])).rows[0]!.id;
  const ledgerMicros = async (tenant: string) => {
    const r = await db.query<{ s: number | null }>(
      `select sum(cost_usd) as s from ${schema}.usage_ledger where tenant_id = $1`,
      [await tenantId(tenant)],
    );
    return Math.round(Number(r.rows[0]?.s ?? 0) * 1e6);
  };
  const counter = async (tenant: string) =>
    state.getBudget({ key: `b:tenant:${await tenantId(tenant)}`, window: 'day' });

  beforeAll(async () => {
    db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    await db.query('create extension if not exists vector');
    await db.query(`create schema ${schema}`);
    up = await startOpenAIUpstream();
    const cfgDir = mkdtempSync(join(tmpdir(), 'keel-mr-cfg-'));
    dirs.push(cfgDir);
    configFile = join(cfgDir, 'keel.yaml');
    writeFileSync(
      configFile,
      [
        'providers:',
        `  openai: { type: openai-compatible, baseUrl: "${up.url}", apiKey: sk-up }`,
        `redisPrefix: "${prefix}"`,
        'prices:',
        '  "openai/*": { input: 10, output: 2000 }',
        'apps:',
        '  mr: { model: openai/gpt-test, collections: [], contextTokens: 100 }',
        'policy:',
        '  leaseMs: 2000',
        '  reserveStepTokens: 8',
        '  tenants:',
        `    budget: { budget: { dailyUsd: ${BUDGET_USD} } }`,
        `    rpm: { limits: { rpm: ${RPM} } }`,
        '    crash: { budget: { dailyUsd: 100 } }',
        '',
      ].join('\n'),
    );
    // One after the other: the first start creates the schema and registers the admin key.
    a = await serve();
    b = await serve();
    state = await RedisSharedState.open({ url: REDIS_URL!, prefix });
  }, 240_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await up?.close();
    await state?.close();
    await dropRedisPrefix(REDIS_URL, prefix);
    if (db) {
      await db.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      await db.end();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  it('never overspends a daily budget by more than one request under concurrent load through both', async () => {
    const key = (await admin(a.url, 'POST', '/v1/admin/keys', { tenant: 'budget' })).key as string;
    const results = await load(48, 12, (i) => call(i % 2 ? b.url : a.url, key, i % 3 === 0, `spend ${i}`));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(results.length);
    expect(refused.every((r) => r.code === 'budget_exceeded')).toBe(true);
    expect(refused.length).toBeGreaterThan(0);

    const spent = await ledgerMicros('budget');
    const rows = await db.query<{ c: number }>(
      `select max(cost_usd) as c from ${schema}.usage_ledger where tenant_id = $1`,
      [await tenantId('budget')],
    );
    const one = Math.round(Number(rows.rows[0]?.c) * 1e6);
    expect(spent).toBeLessThanOrEqual(BUDGET_USD * 1e6 + one);
    // And the budget was really used, not refused early.
    expect(spent).toBeGreaterThan(BUDGET_USD * 1e6 - 3 * one);
    const c = await counter('budget');
    expect(c?.reserved).toBe(0);
    expect(Math.abs(c!.spent - spent)).toBeLessThanOrEqual(ok.length);
  }, 120_000);

  it(`admits ${RPM} requests per minute across both replicas, not ${RPM} each`, async () => {
    const key = (await admin(b.url, 'POST', '/v1/admin/keys', { tenant: 'rpm' })).key as string;
    const results = await load(2 * RPM + 10, 10, (i) =>
      call(i % 2 ? b.url : a.url, key, false, `count ${i}`),
    );
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(RPM - 1);
    expect(ok).toBeLessThanOrEqual(RPM + 1);
    expect(results.filter((r) => r.status === 429).every((r) => r.code === 'rate_limit_exceeded')).toBe(true);
  }, 120_000);

  it('after kill -9 of one replica mid-load, every answer the client saw complete is in the ledger and the budget counter is right', async () => {
    const key = (await admin(a.url, 'POST', '/v1/admin/keys', { tenant: 'crash' })).key as string;
    // Slow answers, so that requests are in flight on the replica when it dies.
    up.script(() => ({ kind: 'drip', intervalMs: 15 }));
    let killed = false;
    let done = 0;
    const sentToB: Outcome[] = [];
    const results = await load(60, 8, async (i) => {
      const toB = i % 2 === 1 && !killed;
      if (!killed && done >= 16) {
        killed = true;
        b.child.kill('SIGKILL');
      }
      const r = await call(toB ? b.url : a.url, key, i % 2 === 0, `crash ${i}`);
      if (toB) sentToB.push(r);
      done++;
      return r;
    });
    expect(killed).toBe(true);
    const lost = sentToB.filter((r) => r.status === 0).length;
    expect(lost).toBeGreaterThan(0);
    up.script(undefined);

    // The replica comes back and serves again.
    b = await serve();
    const after = await call(b.url, key, false, 'back again');
    expect(after.status).toBe(200);

    const complete = [...results, after].filter((r) => r.id !== undefined).map((r) => r.id!);
    const rows = await db.query<{ id: string; status: string }>(
      `select id, status from ${schema}.usage_ledger where id = any($1::text[])`,
      [complete],
    );
    expect(rows.rows.length).toBe(complete.length);
    expect(rows.rows.every((r) => r.status === 'ok')).toBe(true);

    // Holds of the dead replica lapse after their lease; settled charges are never lost: the counter
    // equals the ledger, plus at most the requests that died after settling, before their ledger write.
    const ledgerNow = await ledgerMicros('crash');
    const oneMax = 200_000;
    let c = await counter('crash');
    for (let i = 0; i < 100 && c!.reserved > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      c = await counter('crash');
    }
    expect(c?.reserved).toBe(0);
    expect(c!.spent).toBeGreaterThanOrEqual(ledgerNow - complete.length);
    expect(c!.spent).toBeLessThanOrEqual(ledgerNow + lost * oneMax);
  }, 180_000);
});
