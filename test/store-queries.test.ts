import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.ts';
import { newId } from '../src/store/ids.ts';
import {
  countActiveAdminKeys,
  findKeyByHash,
  getKey,
  insertKey,
  listKeys,
  type NewApiKey,
  revokeKey,
  touchKeys,
} from '../src/store/queries/keys.ts';
import { ensureTenant } from '../src/store/queries/tenants.ts';
import { getTrace, insertTraces, listTraces, type TraceRecord } from '../src/store/queries/traces.ts';
import {
  insertUsage,
  sumUsage,
  type UsageEntry,
  usageByDay,
  usageByGroup,
} from '../src/store/queries/usage.ts';
import { countingQueryable, driverCases } from './helpers/stores.ts';

/** Query modules (keys, usage ledger, traces) over both drivers. */

const key = (over: Partial<NewApiKey> = {}): NewApiKey => {
  const id = newId('key');
  return {
    id,
    tenantId: 'ten_default',
    name: 'test',
    userLabel: 'alice',
    role: 'member',
    hash: `hash-${id}`,
    prefix: 'keel_abcdefgh',
    allowedModels: null,
    ...over,
  };
};

const usage = (over: Partial<UsageEntry> = {}): UsageEntry => ({
  id: newId('req'),
  ts: new Date('2025-01-10T12:00:00Z'),
  tenantId: 'ten_default',
  keyId: 'key_a',
  userLabel: 'alice',
  app: 'default',
  model: 'extractive',
  provider: 'extractive',
  promptTokens: 10,
  completionTokens: 5,
  costUsd: 0.25,
  status: 'ok',
  ...over,
});

const trace = (over: Partial<TraceRecord> = {}): TraceRecord => ({
  id: newId('req'),
  ts: new Date('2025-02-01T00:00:00Z'),
  status: 'ok',
  latencyMs: 12.5,
  stream: false,
  spans: [],
  ...over,
});

describe.each(driverCases)('store queries on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  describe('api keys', () => {
    it.skipIf(driver.skip)('stores a key and finds it by hash with its tenant', async () => {
      const tenant = await ensureTenant(db, 'keys-co');
      const k = key({ tenantId: tenant.id, allowedModels: ['default', 'openai/gpt-4o-mini'], role: 'admin' });
      const info = await insertKey(db, k);
      expect(info).toMatchObject({ id: k.id, tenantName: 'keys-co', revokedAt: null, lastUsedAt: null });
      expect(info).not.toHaveProperty('hash');
      const found = await findKeyByHash(db, k.hash);
      expect(found).toMatchObject({
        id: k.id,
        tenantId: tenant.id,
        tenantName: 'keys-co',
        userLabel: 'alice',
        role: 'admin',
        prefix: 'keel_abcdefgh',
        allowedModels: ['default', 'openai/gpt-4o-mini'],
      });
      expect(found?.createdAt).toBeInstanceOf(Date);
      expect(await findKeyByHash(db, 'no-such-hash')).toBeUndefined();
      const open = key();
      await insertKey(db, open);
      expect((await findKeyByHash(db, open.hash))?.allowedModels).toBeNull();
    });

    it.skipIf(driver.skip)('rejects a duplicate hash and an unknown tenant', async () => {
      const k = key();
      await insertKey(db, k);
      await expect(insertKey(db, key({ hash: k.hash }))).rejects.toThrow();
      await expect(insertKey(db, key({ tenantId: 'ten_missing' }))).rejects.toThrow();
    });

    it.skipIf(driver.skip)('lists keys per tenant without hashes', async () => {
      const t = await ensureTenant(db, 'list-co');
      const a = await insertKey(db, key({ tenantId: t.id, name: 'a' }));
      const b = await insertKey(db, key({ tenantId: t.id, name: 'b' }));
      await revokeKey(db, b.id);
      const all = await listKeys(db, { tenantId: t.id });
      expect(all.map((k) => k.name)).toEqual(['a', 'b']);
      for (const k of all) expect(JSON.stringify(k)).not.toContain('hash');
      expect((await listKeys(db, { tenantId: t.id, includeRevoked: false })).map((k) => k.id)).toEqual([
        a.id,
      ]);
      expect((await listKeys(db)).length).toBeGreaterThanOrEqual(2);
    });

    it.skipIf(driver.skip)('revokes idempotently, keeping the first revocation time', async () => {
      const k = await insertKey(db, key());
      expect(await revokeKey(db, k.id)).toBe(true);
      const first = (await getKey(db, k.id))?.revokedAt;
      expect(first).toBeInstanceOf(Date);
      expect(await revokeKey(db, k.id)).toBe(true);
      expect((await getKey(db, k.id))?.revokedAt?.getTime()).toBe(first?.getTime());
      expect((await findKeyByHash(db, `hash-${k.id}`))?.revokedAt).toBeInstanceOf(Date);
      expect(await revokeKey(db, 'key_nope')).toBe(false);
      const other = await insertKey(db, key());
      expect(await revokeKey(db, other.id, { tenantId: 'ten_elsewhere' })).toBe(false);
      expect((await getKey(db, other.id))?.revokedAt).toBeNull();
    });

    it.skipIf(driver.skip)('counts active admin keys and touches keys in one statement', async () => {
      const before = await countActiveAdminKeys(db);
      const a = await insertKey(db, key({ role: 'admin' }));
      await insertKey(db, key({ role: 'member' }));
      expect(await countActiveAdminKeys(db)).toBe(before + 1);
      await revokeKey(db, a.id);
      expect(await countActiveAdminKeys(db)).toBe(before);

      const m = await insertKey(db, key());
      const counting = countingQueryable(db);
      await touchKeys(counting, [m.id, a.id, m.id]);
      await touchKeys(counting, []);
      expect(counting.statements).toHaveLength(1);
      expect((await getKey(db, m.id))?.lastUsedAt).toBeInstanceOf(Date);
    });
  });

  describe('usage ledger', () => {
    it.skipIf(driver.skip)('inserts many entries in one statement and never twice', async () => {
      const entries = Array.from({ length: 25 }, (_, i) => usage({ tenantId: 'ten_one', promptTokens: i }));
      const counting = countingQueryable(db);
      expect(await insertUsage(counting, entries)).toBe(25);
      expect(counting.statements).toHaveLength(1);
      expect(await insertUsage(db, [...entries.slice(0, 5), usage({ tenantId: 'ten_one' })])).toBe(1);
      expect(await insertUsage(db, [])).toBe(0);
      const totals = await sumUsage(db, { tenantId: 'ten_one' });
      expect(totals).toEqual({ requests: 26, promptTokens: 300 + 10, completionTokens: 130, costUsd: 6.5 });
    });

    it.skipIf(driver.skip)('gives the exact result under 50 concurrent overlapping inserts', async () => {
      const shared = Array.from({ length: 10 }, () => usage({ tenantId: 'ten_race' }));
      const counts = await Promise.all(
        Array.from({ length: 50 }, () => insertUsage(db, [...shared, usage({ tenantId: 'ten_race' })])),
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(60);
      expect((await sumUsage(db, { tenantId: 'ten_race' })).requests).toBe(60);
    });

    it.skipIf(driver.skip)('keeps duplicates within one batch to a single row', async () => {
      const e = usage({ tenantId: 'ten_dup' });
      expect(await insertUsage(db, [e, { ...e }])).toBe(1);
      expect((await sumUsage(db, { tenantId: 'ten_dup' })).requests).toBe(1);
    });

    it.skipIf(driver.skip)('stores every field and defaults the optional ones', async () => {
      const e = usage({ tenantId: 'ten_fields', estimated: true, cacheHit: true, keyId: null, app: null });
      const minimal: UsageEntry = {
        id: newId('req'),
        tenantId: 'ten_fields',
        model: 'm',
        promptTokens: 1,
        completionTokens: 2,
        costUsd: 0,
        status: 'error',
      };
      await insertUsage(db, [e, minimal]);
      const rows = await db.query<Record<string, unknown>>(
        'select * from usage_ledger where tenant_id = $1 order by status desc',
        ['ten_fields'],
      );
      expect(rows[0]).toMatchObject({ id: e.id, key_id: null, app: null, estimated: true, cache_hit: true });
      expect((rows[0]?.ts as Date | undefined)?.toISOString()).toBe('2025-01-10T12:00:00.000Z');
      expect(rows[1]).toMatchObject({ id: minimal.id, user_label: '', estimated: false, cache_hit: false });
      expect(rows[1]?.ts).toBeInstanceOf(Date);
    });

    it.skipIf(driver.skip)('reports totals by filter, group and UTC day', async () => {
      const t = 'ten_report';
      await insertUsage(db, [
        usage({ tenantId: t, ts: new Date('2025-03-01T23:30:00Z'), keyId: 'k1', app: 'a', costUsd: 1 }),
        usage({ tenantId: t, ts: new Date('2025-03-02T00:30:00Z'), keyId: 'k1', app: 'b', costUsd: 2 }),
        usage({ tenantId: t, ts: new Date('2025-03-02T10:00:00Z'), keyId: 'k2', app: 'b', costUsd: 4 }),
        usage({
          tenantId: t,
          ts: new Date('2025-03-05T10:00:00Z'),
          keyId: 'k2',
          userLabel: 'bob',
          costUsd: 8,
        }),
      ]);
      const march = {
        tenantId: t,
        from: new Date('2025-03-01T00:00:00Z'),
        to: new Date('2025-03-05T00:00:00Z'),
      };
      expect(await sumUsage(db, march)).toEqual({
        requests: 3,
        promptTokens: 30,
        completionTokens: 15,
        costUsd: 7,
      });
      expect((await sumUsage(db, { tenantId: t, keyId: 'k2' })).costUsd).toBe(12);
      expect((await sumUsage(db, { tenantId: 'ten_nobody' })).requests).toBe(0);

      const byKey = await usageByGroup(db, 'key', { tenantId: t });
      expect(byKey.map((g) => [g.group, g.costUsd, g.requests])).toEqual([
        ['k2', 12, 2],
        ['k1', 3, 2],
      ]);
      const byUser = await usageByGroup(db, 'user', { tenantId: t });
      expect(byUser.map((g) => [g.tenantId, g.group, g.costUsd])).toEqual([
        [t, 'bob', 8],
        [t, 'alice', 7],
      ]);

      const days = await usageByDay(db, march);
      expect(days.map((d) => [d.day, d.requests, d.costUsd])).toEqual([
        ['2025-03-01', 1, 1],
        ['2025-03-02', 2, 6],
      ]);
      const daysByApp = await usageByDay(db, { ...march, groupBy: 'app' });
      expect(daysByApp.map((d) => [d.day, d.group, d.costUsd])).toEqual([
        ['2025-03-01', 'a', 1],
        ['2025-03-02', 'b', 6],
      ]);
    });
  });

  describe('traces', () => {
    it.skipIf(driver.skip)('round-trips a full trace with spans', async () => {
      const t = trace({
        tenantId: 'ten_default',
        keyId: 'key_x',
        userLabel: 'alice',
        app: 'default',
        model: 'extractive',
        httpStatus: 200,
        ttftMs: 3.25,
        promptTokens: 100,
        completionTokens: 20,
        costUsd: 0,
        stream: true,
        spans: [
          { name: 'auth', startMs: 0, durationMs: 0.2 },
          { name: 'retrieve', startMs: 0.2, durationMs: 4, attributes: { hits: 6, collection: 'default' } },
        ],
        attributes: { 'client.ip': '127.0.0.1', cached: false },
      });
      const counting = countingQueryable(db);
      expect(await insertTraces(counting, [t, trace(), trace()])).toBe(3);
      expect(counting.statements).toHaveLength(1);
      expect(await insertTraces(db, [t])).toBe(0);
      expect(await getTrace(db, t.id)).toEqual(t);
      const bare = trace();
      await insertTraces(db, [bare]);
      expect(await getTrace(db, bare.id)).toEqual(bare);
      expect(await getTrace(db, 'req_missing')).toBeUndefined();
    });

    it.skipIf(driver.skip)(
      'stores awkward text unchanged through the bulk path (COPY on PGlite) and the insert',
      async () => {
        const odd = 'tab\there, line\nbreak\r\nback\\slash \\N \\. "quoted" ünïcödé 👋 \u2028';
        const make = () =>
          trace({
            tenantId: 'ten_odd',
            userLabel: odd,
            model: odd,
            errorCode: 'x\ty',
            latencyMs: 0.1 + 0.2,
            ttftMs: 1e-7,
            costUsd: 1234567.891,
            spans: [{ name: odd, startMs: 0, durationMs: 1, attributes: { text: odd, n: null, f: true } }],
            attributes: { input: odd, 'k\te\ny': odd },
          });
        const viaBulk = make();
        const viaInsert = make();
        // A Queryable without `copyRows` always takes the insert.
        const plain = { query: db.query.bind(db), exec: db.exec.bind(db) };
        expect(await insertTraces(db, [viaBulk])).toBe(1);
        expect(await insertTraces(plain, [viaInsert])).toBe(1);
        expect(await getTrace(db, viaBulk.id)).toEqual(viaBulk);
        expect(await getTrace(db, viaInsert.id)).toEqual(viaInsert);
        // A batch holding a stored id still stores the new one (the bulk path falls back to the insert).
        const fresh = make();
        expect(await insertTraces(db, [viaBulk, fresh])).toBe(1);
        expect(await getTrace(db, fresh.id)).toEqual(fresh);

        const u = usage({ tenantId: 'ten_odd', userLabel: odd, model: odd, costUsd: 0.1 + 0.2 });
        const v = usage({ tenantId: 'ten_odd', userLabel: odd, model: odd, costUsd: 0.1 + 0.2 });
        expect(await insertUsage(db, [u])).toBe(1);
        expect(await insertUsage(plain, [v])).toBe(1);
        const rows = await db.query<{ user_label: string; model: string; cost_usd: number }>(
          'select user_label, model, cost_usd from usage_ledger where id = any($1::text[])',
          [[u.id, v.id]],
        );
        expect(rows).toEqual([
          { user_label: odd, model: odd, cost_usd: 0.1 + 0.2 },
          { user_label: odd, model: odd, cost_usd: 0.1 + 0.2 },
        ]);
      },
    );

    it.skipIf(driver.skip)('lists newest first with filters and a cursor', async () => {
      const base = Date.parse('2025-04-01T00:00:00Z');
      const traces = Array.from({ length: 7 }, (_, i) =>
        trace({
          tenantId: 'ten_list',
          ts: new Date(base + i * 60_000),
          app: i % 2 ? 'odd' : 'even',
          status: i === 3 ? 'error' : 'ok',
          errorCode: i === 3 ? 'upstream_5xx' : undefined,
          spans: [{ name: 'provider', startMs: 0, durationMs: 1 }],
        }),
      );
      await insertTraces(db, traces);
      const all = await listTraces(db, { tenantId: 'ten_list', limit: 50 });
      expect(all.map((t) => t.id)).toEqual(traces.map((t) => t.id).reverse());
      expect(all[0]).not.toHaveProperty('spans');
      expect((await listTraces(db, { tenantId: 'ten_list', app: 'odd', limit: 50 })).length).toBe(3);
      const errors = await listTraces(db, { tenantId: 'ten_list', status: 'error', limit: 50 });
      expect(errors.map((t) => [t.id, t.errorCode])).toEqual([[traces[3]?.id, 'upstream_5xx']]);
      const window = await listTraces(db, {
        tenantId: 'ten_list',
        from: new Date(base + 60_000),
        to: new Date(base + 3 * 60_000),
        limit: 50,
      });
      expect(window.map((t) => t.id)).toEqual([traces[2]?.id, traces[1]?.id]);
      const page1 = await listTraces(db, { tenantId: 'ten_list', limit: 4 });
      const last = page1.at(-1);
      const page2 = await listTraces(db, {
        tenantId: 'ten_list',
        limit: 4,
        ...(last ? { after: { ts: last.ts, id: last.id } } : {}),
      });
      expect([...page1, ...page2].map((t) => t.id)).toEqual(all.map((t) => t.id));
    });

    it.skipIf(driver.skip)('finds a trace by its id or by the x-request-id its client sent', async () => {
      const own = trace({ tenantId: 'ten_rid' });
      own.attributes = { request_id: own.id };
      const client = trace({ tenantId: 'ten_rid', attributes: { request_id: 'order-42' } });
      const other = trace({ tenantId: 'ten_rid', attributes: { request_id: 'order-43' } });
      await insertTraces(db, [own, client, other]);
      const by = async (requestId: string) =>
        (await listTraces(db, { tenantId: 'ten_rid', requestId, limit: 50 })).map((t) => t.id);
      expect(await by(own.id)).toEqual([own.id]);
      expect(await by('order-42')).toEqual([client.id]);
      expect(await by('order-44')).toEqual([]);
      // The client-id arm can be served by the partial index of migration 7 (whatever the planner
      // picks for a table this small, it must be able to use the index).
      const plan = await db.transaction(async (tx) => {
        await tx.exec('set local enable_seqscan = off');
        return tx.query<Record<string, string>>(
          "explain select id from traces where attributes ->> 'request_id' = 'order-42' and attributes ->> 'request_id' <> id",
        );
      });
      expect(JSON.stringify(plan)).toContain('traces_client_request_id');
    });
  });
});
