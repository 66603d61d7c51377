import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.ts';
import {
  deletePolicy,
  getPolicy,
  ledgerSpend,
  listPolicies,
  putPolicy,
} from '../src/store/queries/budgets.ts';
import { insertUsage } from '../src/store/queries/usage.ts';
import { driverCases } from './helpers/stores.ts';

describe.each(driverCases)('stored policies and ledger spend on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    if (!driver.skip) await db.close();
  });

  it.skipIf(driver.skip)(
    'creates, replaces, lists and deletes a subject’s policy; null survives the round trip',
    async () => {
      const first = await putPolicy(db, 'key', 'key_a', { limits: { rpm: 5 }, budget: null });
      expect(first.policy).toEqual({ limits: { rpm: 5 }, budget: null });
      await putPolicy(db, 'key', 'key_a', { regions: ['eu'] });
      await putPolicy(db, 'user', 'ten_x:ann', { budget: { dailyUsd: 2, mode: 'soft' } });
      expect((await getPolicy(db, 'key', 'key_a'))?.policy).toEqual({ regions: ['eu'] });
      expect((await listPolicies(db)).map((p) => `${p.scope}/${p.subject}`)).toEqual([
        'key/key_a',
        'user/ten_x:ann',
      ]);
      expect(await deletePolicy(db, 'key', 'key_a')).toBe(true);
      expect(await deletePolicy(db, 'key', 'key_a')).toBe(false);
      expect(await getPolicy(db, 'key', 'key_a')).toBeUndefined();
    },
  );

  it.skipIf(driver.skip)('sums a subject’s ledger spend within a window', async () => {
    const day = (d: string) => new Date(`2025-03-${d}T12:00:00Z`);
    const row = (id: string, ts: Date, costUsd: number, extra: Record<string, unknown> = {}) => ({
      id,
      ts,
      tenantId: 'ten_s',
      keyId: 'key_s',
      userLabel: 'sam',
      app: 'support',
      model: 'm',
      promptTokens: 1,
      completionTokens: 1,
      costUsd,
      status: 'ok',
      ...extra,
    });
    await insertUsage(db, [
      row('req_s1', day('01'), 0.25),
      row('req_s2', day('01'), 0.5, { keyId: 'key_t', userLabel: 'tom', app: null }),
      row('req_s3', day('02'), 1),
    ]);
    const from = new Date('2025-03-01T00:00:00Z');
    const to = new Date('2025-03-02T00:00:00Z');
    expect(await ledgerSpend(db, { scope: 'key', keyId: 'key_s' }, from, to)).toBeCloseTo(0.25);
    expect(await ledgerSpend(db, { scope: 'tenant', tenantId: 'ten_s' }, from, to)).toBeCloseTo(0.75);
    expect(
      await ledgerSpend(db, { scope: 'user', tenantId: 'ten_s', userLabel: 'tom' }, from, to),
    ).toBeCloseTo(0.5);
    expect(await ledgerSpend(db, { scope: 'app', app: 'support' }, from, new Date('2025-04-01'))).toBeCloseTo(
      1.25,
    );
    expect(await ledgerSpend(db, { scope: 'key', keyId: 'nobody' }, from, to)).toBe(0);
  });
});
