import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverCases } from '../../test/helpers/stores.ts';
import type { Db } from './db.ts';
import { loadMigrations, migrate } from './migrate.ts';

describe.each(driverCases)('migrations on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('applies every migration once and is idempotent', async () => {
    const versions = (
      await db.query<{ version: number }>('select version from schema_migrations order by 1')
    ).map((r) => r.version);
    expect(versions).toEqual(loadMigrations().map((m) => m.version));
    expect(await migrate(db)).toEqual([]);
    const ext = await db.query<{ extversion: string }>(
      "select extversion from pg_extension where extname = 'vector'",
    );
    expect(ext[0]?.extversion).toMatch(/^0\.8\./);
  });
});
