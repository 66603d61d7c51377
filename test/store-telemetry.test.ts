import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db, Queryable, SqlParam } from '../src/store/db.ts';
import { newId } from '../src/store/ids.ts';
import { openStore } from '../src/store/open.ts';
import { getTrace } from '../src/store/queries/traces.ts';
import { sumUsage, type UsageEntry } from '../src/store/queries/usage.ts';
import { MemoryTraceSink, StoreTraceSink } from '../src/telemetry/trace-sink.ts';
import type { Trace } from '../src/telemetry/types.ts';
import { UsageLedger } from '../src/telemetry/usage-ledger.ts';
import { countingQueryable, driverCases } from './helpers/stores.ts';

/** The usage ledger's group commit and the batched trace sink, over both drivers. */

const entry = (tenantId: string, over: Partial<UsageEntry> = {}): UsageEntry => ({
  id: newId('req'),
  tenantId,
  model: 'extractive',
  promptTokens: 3,
  completionTokens: 2,
  costUsd: 0.5,
  status: 'ok',
  ...over,
});

const trace = (tenantId: string): Trace => ({
  id: newId('req'),
  ts: new Date(),
  tenantId,
  status: 'ok',
  latencyMs: 1,
  stream: false,
  spans: [{ name: 'provider', startMs: 0, durationMs: 1, attributes: { model: 'extractive' } }],
});

/** Forwards to `inner`, but holds every statement until `release()`; counts statements. */
function gatedQueryable(inner: Queryable) {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let started!: () => void;
  const firstStarted = new Promise<void>((r) => {
    started = r;
  });
  const counting = countingQueryable(inner);
  return {
    counting,
    firstStarted,
    release: () => open(),
    q: {
      async query<T>(sql: string, params?: SqlParam[]) {
        started();
        await gate;
        return counting.query<T>(sql, params);
      },
      exec: (sql: string) => counting.exec(sql),
    } satisfies Queryable,
  };
}

/** Fails the first `failures` statements, then forwards. */
function flakyQueryable(inner: Queryable, failures: number) {
  let left = failures;
  return {
    query<T>(sql: string, params?: SqlParam[]) {
      if (left-- > 0) return Promise.reject(new Error('connection lost'));
      return inner.query<T>(sql, params);
    },
    exec: (sql: string) => inner.exec(sql),
  } satisfies Queryable;
}

const INSERT_USAGE = /insert into usage_ledger/;
const INSERT_TRACES = /insert into traces/;

describe.each(driverCases)('telemetry writers on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  const requests = async (tenantId: string) => (await sumUsage(db, { tenantId })).requests;

  describe('usage ledger', () => {
    it.skipIf(driver.skip)('commits 100 concurrent records in far fewer than 100 inserts', async () => {
      const counting = countingQueryable(db);
      const ledger = new UsageLedger(counting);
      await Promise.all(Array.from({ length: 100 }, () => ledger.record(entry('ten_group'))));
      expect(await requests('ten_group')).toBe(100);
      expect(counting.count(INSERT_USAGE)).toBeLessThanOrEqual(5);
      expect(ledger.stats).toMatchObject({ entries: 100, failedWrites: 0 });
      await ledger.close();
    });

    it.skipIf(driver.skip)(
      'batches records that arrive while a write is in flight into the next one',
      async () => {
        const gated = gatedQueryable(db);
        const ledger = new UsageLedger(gated.q);
        const first = ledger.record(entry('ten_inflight'));
        await gated.firstStarted;
        const rest = Array.from({ length: 50 }, () => ledger.record(entry('ten_inflight')));
        gated.release();
        await Promise.all([first, ...rest]);
        expect(gated.counting.count(INSERT_USAGE)).toBe(2);
        expect(await requests('ten_inflight')).toBe(51);
      },
    );

    it.skipIf(driver.skip)(
      'gathers records that keep arriving turn by turn into one write; a lone one never waits',
      async () => {
        const counting = countingQueryable(db);
        // A deadline far away: only the "a turn passed with nothing new" rule can end the wait.
        const ledger = new UsageLedger(counting, { maxWaitMs: 3_600_000 });
        const pending: Promise<void>[] = [];
        for (let i = 0; i < 10; i++) {
          pending.push(ledger.record(entry('ten_trickle')));
          await new Promise<void>((r) => setImmediate(r));
        }
        await Promise.all(pending);
        expect(counting.count(INSERT_USAGE)).toBe(1);
        await ledger.record(entry('ten_trickle'));
        expect(counting.count(INSERT_USAGE)).toBe(2);
        expect(await requests('ten_trickle')).toBe(11);
        await ledger.close();
      },
    );

    it.skipIf(driver.skip)('rejects every waiter of a failed batch; a retry charges once', async () => {
      const ledger = new UsageLedger(flakyQueryable(db, 1));
      const entries = Array.from({ length: 10 }, () => entry('ten_flaky'));
      const results = await Promise.allSettled(entries.map((e) => ledger.record(e)));
      expect(results.map((r) => r.status)).toEqual(Array(10).fill('rejected'));
      expect(await requests('ten_flaky')).toBe(0);
      await Promise.all(entries.map((e) => ledger.record(e)));
      await Promise.all(entries.slice(0, 3).map((e) => ledger.record(e)));
      expect(await requests('ten_flaky')).toBe(10);
      expect(ledger.stats.failedWrites).toBe(1);
    });

    it.skipIf(driver.skip)('close() waits for pending entries, then refuses new ones', async () => {
      const ledger = new UsageLedger(db);
      const pending = Array.from({ length: 20 }, () => ledger.record(entry('ten_close')));
      await ledger.close();
      expect(await requests('ten_close')).toBe(20);
      await Promise.all(pending);
      await expect(ledger.record(entry('ten_close'))).rejects.toThrow(/closed/);
    });

    it.skipIf(driver.skip)(
      'refuses to be awaited inside a transaction (it would deadlock PGlite)',
      async () => {
        const ledger = new UsageLedger(db);
        await expect(db.transaction(async () => ledger.record(entry('ten_intx')))).rejects.toThrow(
          /inside a db.transaction/,
        );
        await ledger.close();
      },
    );
  });

  describe('store trace sink', () => {
    it.skipIf(driver.skip)('writes full batches as they fill and the rest on flush', async () => {
      const counting = countingQueryable(db);
      const sink = new StoreTraceSink(counting, { batchSize: 10, flushIntervalMs: 3_600_000 });
      const traces = Array.from({ length: 25 }, () => trace('ten_sink'));
      for (const t of traces) sink.write(t);
      await sink.flush();
      expect(counting.count(INSERT_TRACES)).toBe(3);
      expect(sink.stats).toEqual({ written: 25, dropped: 0, failed: 0, queued: 0 });
      expect(await getTrace(db, traces[24]?.id ?? '')).toEqual(traces[24]);
      await sink.close();
    });

    it.skipIf(driver.skip)('flushes on close and drops (counting) what comes after', async () => {
      const counting = countingQueryable(db);
      const sink = new StoreTraceSink(counting, { batchSize: 100, flushIntervalMs: 3_600_000 });
      const traces = Array.from({ length: 5 }, () => trace('ten_sink_close'));
      for (const t of traces) sink.write(t);
      expect(counting.count(INSERT_TRACES)).toBe(0);
      await sink.close();
      expect(counting.count(INSERT_TRACES)).toBe(1);
      for (const t of traces) expect((await getTrace(db, t.id))?.id).toBe(t.id);
      sink.write(trace('ten_sink_close'));
      expect(sink.stats).toMatchObject({ written: 5, dropped: 1 });
    });

    it.skipIf(driver.skip)('writes a partial batch on its timer', async () => {
      const sink = new StoreTraceSink(db, { batchSize: 100, flushIntervalMs: 5 });
      const t = trace('ten_sink_timer');
      sink.write(t);
      await vi.waitFor(async () => expect(await getTrace(db, t.id)).toBeDefined(), { timeout: 10_000 });
      await sink.close();
    });

    it.skipIf(driver.skip)(
      'drops the oldest traces when the store cannot keep up, never blocking',
      async () => {
        const gated = gatedQueryable(db);
        const sink = new StoreTraceSink(gated.q, { batchSize: 2, maxQueue: 4, flushIntervalMs: 3_600_000 });
        const traces = Array.from({ length: 10 }, () => trace('ten_sink_full'));
        for (const t of traces) sink.write(t);
        // Two went out in the first (stuck) batch, four wait, four were dropped: the oldest waiting ones.
        expect(sink.stats).toMatchObject({ dropped: 4, queued: 4 });
        gated.release();
        await sink.close();
        expect(sink.stats).toMatchObject({ written: 6, dropped: 4, failed: 0 });
        const stored = await Promise.all(traces.map(async (t) => (await getTrace(db, t.id)) !== undefined));
        expect(stored).toEqual([true, true, false, false, false, false, true, true, true, true]);
      },
    );

    it.skipIf(driver.skip)('counts and reports failed batches without throwing to the writer', async () => {
      const onError = vi.fn();
      const sink = new StoreTraceSink(flakyQueryable(db, 1), {
        batchSize: 3,
        flushIntervalMs: 3_600_000,
        onError,
      });
      for (let i = 0; i < 4; i++) sink.write(trace('ten_sink_fail'));
      await sink.close();
      expect(sink.stats).toMatchObject({ written: 1, failed: 3 });
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'connection lost' }), 3);
    });
  });
});

describe('memory trace sink', () => {
  it('keeps traces until closed', async () => {
    const sink = new MemoryTraceSink();
    const t = trace('ten_mem');
    sink.write(t);
    await sink.flush();
    await sink.close();
    sink.write(trace('ten_mem'));
    expect(sink.traces).toEqual([t]);
  });
});

describe('usage ledger durability on an embedded (PGlite) data dir', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-ledger-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged entry when the process is killed with SIGKILL', async () => {
    const src = new URL('../src/', import.meta.url).href;
    const script = `
      const { openStore } = await import(${JSON.stringify(`${src}store/open.ts`)});
      const { UsageLedger } = await import(${JSON.stringify(`${src}telemetry/usage-ledger.ts`)});
      const ledger = new UsageLedger(await openStore({ dataDir: process.argv[1] }));
      for (let i = 0; i < 3; i++) {
        await ledger.record({ id: 'req_kill_' + i, tenantId: 'ten_default', model: 'm',
          promptTokens: 1, completionTokens: 1, costUsd: 1, status: 'ok' });
        process.stdout.write('committed ' + i + '\\n');
      }
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('committed 2')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
      });
    } finally {
      // Killed the moment the last entry was acknowledged (and never left running on failure).
      child.kill('SIGKILL');
      await exited;
    }
    const db = await openStore({ dataDir: dir });
    try {
      const rows = await db.query<{ id: string }>(
        "select id from usage_ledger where id like 'req_kill_%' order by id",
      );
      expect(rows.map((r) => r.id)).toEqual(['req_kill_0', 'req_kill_1', 'req_kill_2']);
    } finally {
      await db.close();
    }
  });
});
