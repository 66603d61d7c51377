import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { startRetention } from './retention.ts';

describe('trace retention on PGlite (no autovacuum)', () => {
  let db: Db;
  beforeAll(async () => {
    db = await openStore({ dataDir: 'memory://' });
  });
  afterAll(async () => {
    await db.close();
  });

  // The statements retention runs, executed for real on the store and counted here (PGlite keeps no
  // vacuum counters in pg_stat_user_tables).
  const seen: string[] = [];
  const spy = (): Db => ({
    ...db,
    exec: async (sql: string) => {
      seen.push(sql);
      await db.exec(sql);
    },
  });
  const vacuums = async () => seen.filter((s) => /^vacuum\b.*\btraces$/.test(s)).length;

  it('vacuums the traces table once enough traces were stored since the last vacuum, even with retention off', async () => {
    let written = 0;
    const r = startRetention(spy(), {
      retentionDays: 0,
      written: () => written,
      vacuumEvery: 100,
      firstDelayMs: 3_600_000,
    });
    try {
      const before = await vacuums();
      written = 99;
      await r.runOnce();
      expect(await vacuums()).toBe(before);
      written = 100;
      await r.runOnce();
      expect(await vacuums()).toBe(before + 1);
      written = 199;
      await r.runOnce();
      expect(await vacuums()).toBe(before + 1);
      written = 200;
      await r.runOnce();
      expect(await vacuums()).toBe(before + 2);
    } finally {
      await r.stop();
    }
  });

  it('does nothing without a count of stored traces when retention is off', async () => {
    const before = await vacuums();
    const r = startRetention(spy(), { retentionDays: 0, firstDelayMs: 3_600_000 });
    expect(await r.runOnce()).toBe(0);
    await r.stop();
    expect(await vacuums()).toBe(before);
  });
});
