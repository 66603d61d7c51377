import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { casesFromBeir, importDatasetJsonl, promoteTraces } from '../src/eval/datasets.ts';
import type { Db } from '../src/store/db.ts';
import {
  caseInput,
  datasetHash,
  getDataset,
  getDatasetCases,
  importDataset,
  listDatasets,
  listDatasetVersions,
} from '../src/store/queries/eval.ts';
import { ensureTenant } from '../src/store/queries/tenants.ts';
import { driverCases } from './helpers/stores.ts';

/** Dataset versions: a changed import adds a version, an identical one does not; promotion. */

const V1 = [
  '{"input": "What is Keel?", "reference": "A gateway", "gold_ids": ["intro"], "tags": ["faq"]}',
  '{"id": "q2", "input": "Graded?", "gold_ids": {"a": 2, "c": 1}, "metadata": {"lang": "en", "n": 1}}',
].join('\n');
// The same cases: other key order, other white space, blank lines.
const V1_AGAIN = [
  '',
  '{"tags": ["faq"], "gold_ids": ["intro"], "reference": "A gateway",   "input": "What is Keel?"}',
  '{"metadata": {"n": 1, "lang": "en"}, "gold_ids": {"c": 1, "a": 2}, "input": "Graded?", "id": "q2"}',
  '',
].join('\n');
const V2 = `${V1}\n{"input": "A third question"}`;

describe.each(driverCases)('eval datasets on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (!driver.skip) db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(driver.skip)('versions a dataset only when its cases change', async () => {
    const t = 'ten_default';
    const first = await importDatasetJsonl(db, {
      tenantId: t,
      name: 'support-qa',
      text: V1,
      description: 'FAQ',
    });
    expect(first).toMatchObject({ created: true, dataset: { name: 'support-qa', version: 1, caseCount: 2 } });
    const same = await importDatasetJsonl(db, { tenantId: t, name: 'support-qa', text: V1_AGAIN });
    expect(same.created).toBe(false);
    expect(same.dataset.id).toBe(first.dataset.id);
    const second = await importDatasetJsonl(db, { tenantId: t, name: 'support-qa', text: V2 });
    expect(second).toMatchObject({
      created: true,
      dataset: { version: 2, caseCount: 3, description: 'FAQ' },
    });
    // Back to the first content: that is a change from the latest, so version 3.
    const third = await importDatasetJsonl(db, { tenantId: t, name: 'support-qa', text: V1 });
    expect(third.dataset).toMatchObject({ version: 3, contentHash: first.dataset.contentHash });

    expect((await listDatasetVersions(db, t, 'support-qa')).map((d) => d.version)).toEqual([1, 2, 3]);
    expect((await getDataset(db, { tenantId: t, name: 'support-qa' }))?.version).toBe(3);
    expect((await getDataset(db, { tenantId: t, name: 'support-qa', version: 2 }))?.id).toBe(
      second.dataset.id,
    );
    expect(await getDataset(db, { tenantId: t, name: 'support-qa', version: 9 })).toBeUndefined();

    const cases = await getDatasetCases(db, first.dataset.id);
    expect(cases.map((c) => c.position)).toEqual([0, 1]);
    expect(cases[0]).toMatchObject({
      input: 'What is Keel?',
      reference: 'A gateway',
      goldIds: ['intro'],
      tags: ['faq'],
    });
    expect(cases[1]).toMatchObject({ externalId: 'q2', goldIds: ['a', 'c'], goldGrades: { a: 2, c: 1 } });
    // What comes back hashes like what went in (so re-imports compare equal).
    expect(datasetHash(cases.map(caseInput))).toBe(first.dataset.contentHash);
  });

  it.skipIf(driver.skip)('keeps datasets per tenant and lists the latest versions', async () => {
    const other = await ensureTenant(db, 'acme');
    await importDatasetJsonl(db, { tenantId: 'ten_default', name: 'shared-name', text: V1 });
    await importDatasetJsonl(db, { tenantId: 'ten_default', name: 'shared-name', text: V2 });
    const theirs = await importDatasetJsonl(db, { tenantId: other.id, name: 'shared-name', text: V1 });
    expect(theirs).toMatchObject({ created: true, dataset: { version: 1, tenantId: other.id } });
    expect((await listDatasets(db, other.id)).map((d) => [d.name, d.version])).toEqual([['shared-name', 1]]);
    expect((await listDatasets(db, 'ten_default')).find((d) => d.name === 'shared-name')?.version).toBe(2);
  });

  it.skipIf(driver.skip)('promotes traces into a new version, each trace once', async () => {
    const t = 'ten_default';
    await importDatasetJsonl(db, { tenantId: t, name: 'regressions', text: V1 });
    const p = await promoteTraces(db, {
      tenantId: t,
      name: 'regressions',
      traces: [
        { traceId: 'req_a', input: 'Why was I charged twice?', tags: ['thumbs-down'] },
        { traceId: 'req_b', input: 'Cancel my plan', reference: 'Go to Settings > Billing.' },
        { traceId: 'req_a', input: 'Why was I charged twice?' },
      ],
    });
    expect(p).toMatchObject({ created: true, added: 2, dataset: { version: 2, caseCount: 4 } });
    const cases = await getDatasetCases(db, p.dataset.id);
    expect(cases.slice(2).map((c) => [c.sourceTraceId, c.input, c.tags])).toEqual([
      ['req_a', 'Why was I charged twice?', ['thumbs-down']],
      ['req_b', 'Cancel my plan', []],
    ]);
    const again = await promoteTraces(db, {
      tenantId: t,
      name: 'regressions',
      traces: [{ traceId: 'req_b', input: 'x' }],
    });
    expect(again).toMatchObject({ created: false, added: 0, dataset: { version: 2 } });
    const fresh = await promoteTraces(db, {
      tenantId: t,
      name: 'new-set',
      traces: [{ traceId: 'req_c', input: 'Hi' }],
    });
    expect(fresh).toMatchObject({ created: true, added: 1, dataset: { version: 1, caseCount: 1 } });
  });

  it.skipIf(driver.skip)('rejects a bad file and a bad name without writing anything', async () => {
    const t = 'ten_default';
    await expect(
      importDatasetJsonl(db, { tenantId: t, name: 'broken', text: '{"input": "ok"}\n{"inptu": "typo"}' }),
    ).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(
      importDataset(db, { tenantId: t, name: 'bad name!', cases: [{ input: 'x' }] }),
    ).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'name',
    });
    expect(await getDataset(db, { tenantId: t, name: 'broken' })).toBeUndefined();
  });

  it.skipIf(driver.skip)('gives concurrent imports of different content distinct versions', async () => {
    const t = 'ten_default';
    const texts = Array.from({ length: 4 }, (_, i) => `{"input": "concurrent ${i}"}`);
    const results = await Promise.all(
      texts.map((text) => importDatasetJsonl(db, { tenantId: t, name: 'race', text })),
    );
    expect(results.map((r) => r.dataset.version).sort()).toEqual([1, 2, 3, 4]);
  });

  it.skipIf(driver.skip)('imports the CACM benchmark (BEIR layout) as a dataset', async () => {
    const dir = '/work/shared/data/ir-cacm';
    const cases = casesFromBeir(
      readFileSync(`${dir}/queries.jsonl`, 'utf8'),
      readFileSync(`${dir}/qrels.tsv`, 'utf8'),
    );
    expect(cases).toHaveLength(52);
    expect(cases.reduce((n, c) => n + (c.goldIds?.length ?? 0), 0)).toBe(796);
    const { dataset } = await importDataset(db, { tenantId: 'ten_default', name: 'cacm', cases });
    expect(dataset.caseCount).toBe(52);
  });
});
