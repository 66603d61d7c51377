import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Db } from '../../src/store/db.ts';
import { openStore } from '../../src/store/open.ts';

/** Shared helpers of the telemetry benchmark: stores on both engines, timing, medians. */

export const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

export const num = (name: string, dflt: number): number =>
  process.env[name] ? Number(process.env[name]) : dflt;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface BenchStore {
  driver: 'pglite' | 'postgres';
  db: Db;
  close(): Promise<void>;
}

/** PGlite on disk in a temp dir (a million traces do not belong in memory), or a fresh PostgreSQL schema. */
export async function openBenchStore(driver: 'pglite' | 'postgres'): Promise<BenchStore> {
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'keel-bench-telemetry-'));
    const db = await openStore({ dataDir: dir });
    return {
      driver,
      db,
      async close() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const schema = `keel_bench_${randomBytes(5).toString('hex')}`;
  const db = await openStore({ databaseUrl: url, schema });
  return {
    driver,
    db,
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}

export function drivers(): Array<'pglite' | 'postgres'> {
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/** Milliseconds of `fn`, median of `runs` after one warm-up run. */
export async function timeIt(
  runs: number,
  fn: () => Promise<unknown>,
): Promise<{ medianMs: number; runsMs: number[] }> {
  await fn();
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    runsMs.push(performance.now() - t0);
  }
  return { medianMs: median(runsMs), runsMs };
}
