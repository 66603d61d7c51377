import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.ts';
import {
  feedbackByAppDay,
  feedbackForTraces,
  getFeedback,
  listThumbsDown,
  recordFeedback,
} from '../src/store/queries/feedback.ts';
import { insertTraces } from '../src/store/queries/traces.ts';
import { driverCases } from './helpers/stores.ts';

/** Feedback on responses: upsert per response, tenant isolation, aggregates, thumbs-down listing. */

describe.each(driverCases)('feedback on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('records one rating per response and lets the owner change it', async () => {
    await insertTraces(db, [
      {
        id: 'req_fb1',
        ts: new Date(),
        tenantId: 'ten_default',
        app: 'support',
        status: 'ok',
        latencyMs: 1,
        stream: false,
        spans: [],
      },
    ]);
    const first = await recordFeedback(db, {
      traceId: 'req_fb1',
      tenantId: 'ten_default',
      keyId: 'key_1',
      userLabel: 'alice',
      rating: 'down',
      comment: 'wrong plan name',
    });
    // The app comes from the stored trace when the caller does not know it.
    expect(first).toMatchObject({
      traceId: 'req_fb1',
      app: 'support',
      rating: 'down',
      comment: 'wrong plan name',
    });
    const changed = await recordFeedback(db, { traceId: 'req_fb1', tenantId: 'ten_default', rating: 'up' });
    expect(changed).toMatchObject({ id: first?.id, rating: 'up', comment: null, app: 'support' });
    expect(changed?.createdAt.getTime()).toBe(first?.createdAt.getTime());
    expect(changed?.updatedAt.getTime()).toBeGreaterThanOrEqual(first?.updatedAt.getTime() ?? 0);

    // Another tenant can neither overwrite nor read it.
    expect(
      await recordFeedback(db, { traceId: 'req_fb1', tenantId: 'ten_evil', rating: 'down' }),
    ).toBeUndefined();
    expect((await getFeedback(db, 'req_fb1'))?.rating).toBe('up');
    expect(await getFeedback(db, 'req_fb1', 'ten_evil')).toBeUndefined();
  });

  it.skipIf(driver.skip)('accepts feedback before its trace is stored', async () => {
    const fb = await recordFeedback(db, {
      traceId: 'req_not_yet',
      tenantId: 'ten_default',
      rating: 'up',
      app: 'search',
    });
    expect(fb).toMatchObject({ app: 'search', traceId: 'req_not_yet' });
    const none = await recordFeedback(db, { traceId: 'req_unknown', tenantId: 'ten_default', rating: 'up' });
    expect(none?.app).toBeNull();
  });

  it.skipIf(driver.skip)('aggregates per app and day, lists thumbs-down and joins to traces', async () => {
    const t = 'ten_agg';
    const rate = (id: string, app: string, rating: 'up' | 'down') =>
      recordFeedback(db, {
        traceId: id,
        tenantId: t,
        app,
        rating,
        comment: rating === 'down' ? `bad ${id}` : null,
      });
    const firstRating = await rate('req_a1', 'alpha', 'up');
    await rate('req_a2', 'alpha', 'up');
    await rate('req_a3', 'alpha', 'down');
    await rate('req_b1', 'beta', 'down');
    await rate('req_b2', 'beta', 'down');
    const today = firstRating?.createdAt.toISOString().slice(0, 10);
    const rows = await feedbackByAppDay(db, { tenantId: t });
    expect(rows).toEqual([
      { day: today, app: 'alpha', up: 2, down: 1, ratio: 2 / 3 },
      { day: today, app: 'beta', up: 0, down: 2, ratio: 0 },
    ]);
    expect(
      await feedbackByAppDay(db, { tenantId: t, app: 'beta', to: new Date(Date.now() - 86_400_000) }),
    ).toEqual([]);

    const page1 = await listThumbsDown(db, { tenantId: t, limit: 2 });
    expect(page1).toHaveLength(2);
    const last = page1.at(-1);
    const page2 = await listThumbsDown(db, {
      tenantId: t,
      limit: 2,
      after: last ? { createdAt: last.createdAt, traceId: last.traceId } : undefined,
    });
    expect([...page1, ...page2].map((d) => d.traceId).sort()).toEqual(['req_a3', 'req_b1', 'req_b2']);
    // Stored at the cursor's precision (whole milliseconds), so a page never skips a rating made in
    // the same millisecond as the last one listed.
    const sub = await db.query<{ n: number }>(
      `select count(*)::integer as n from feedback where tenant_id = $1
       and (created_at <> date_trunc('milliseconds', created_at) or updated_at <> date_trunc('milliseconds', updated_at))`,
      [t],
    );
    expect(sub[0]?.n).toBe(0);
    expect(page2).toHaveLength(1);
    expect(page1[0]?.comment).toMatch(/^bad req_/);
    expect((await listThumbsDown(db, { tenantId: t, app: 'alpha' })).map((d) => d.traceId)).toEqual([
      'req_a3',
    ]);

    const joined = await feedbackForTraces(db, ['req_a1', 'req_b2', 'req_none']);
    expect([...joined.keys()].sort()).toEqual(['req_a1', 'req_b2']);
    expect(joined.get('req_b2')?.rating).toBe('down');
    expect((await feedbackForTraces(db, [])).size).toBe(0);
  });

  it.skipIf(driver.skip)('rejects a rating that is not up or down', async () => {
    await expect(
      recordFeedback(db, { traceId: 'req_bad', tenantId: 'ten_default', rating: 'meh' as 'up' }),
    ).rejects.toThrow();
  });
});
