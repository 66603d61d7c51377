import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.ts';
import { newId } from '../src/store/ids.ts';
import { ensureTenant, getTenant, getTenantById, listTenants } from '../src/store/queries/tenants.ts';
import { driverCases } from './helpers/stores.ts';

/** The driver contract: what every query module relies on, identical on PGlite and PostgreSQL. */

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe.each(driverCases)('store contract on $name', (driver) => {
  let db: Db;
  beforeAll(async () => {
    if (driver.skip) return;
    db = await driver.open();
    await db.exec('create table contract_counter (id integer primary key, n integer not null)');
    await db.exec('insert into contract_counter values (1, 0)');
  });
  afterAll(async () => {
    await db?.close();
  });

  const countTenants = async (name: string) =>
    (await db.query<{ n: number }>('select count(*) as n from tenants where name = $1', [name]))[0]?.n;

  it.skipIf(driver.skip)('returns the same JS types on both drivers', async () => {
    const [row] = await db.query<Record<string, unknown>>(
      `select count(*) as n, sum(2::bigint) as big, 1.5::numeric as num, '2024-03-04'::date as d,
        now() as t, array['a','b'] as arr, $1::jsonb as j, true as b`,
      [JSON.stringify({ spans: [1, 2] })],
    );
    expect(row).toMatchObject({ n: 1, big: 2, num: 1.5, d: '2024-03-04', arr: ['a', 'b'], b: true });
    expect(row?.t).toBeInstanceOf(Date);
    expect(row?.j).toEqual({ spans: [1, 2] });
  });

  it.skipIf(driver.skip)('commits a transaction and rolls back a failed one', async () => {
    const out = await db.transaction(async (tx) => {
      await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'tx-commit']);
      return 'done';
    });
    expect(out).toBe('done');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'tx-rollback']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await countTenants('tx-commit')).toBe(1);
    expect(await countTenants('tx-rollback')).toBe(0);
  });

  it.skipIf(driver.skip)(
    'never lets a concurrent query see or run inside another caller’s open transaction',
    async () => {
      const entered = deferred();
      const gate = deferred();
      const txDone = db.transaction(async (tx) => {
        await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'ghost']);
        entered.resolve();
        await gate.promise;
        throw new Error('roll it back');
      });
      await entered.promise;
      let settled = false;
      const concurrent = db.query<{ n: number }>('select count(*) as n from tenants where name = $1', [
        'ghost',
      ]);
      void concurrent.then(() => {
        settled = true;
      });
      await turns(20);
      // PGlite has one connection: the other caller must wait for the transaction to end.
      if (driver.name === 'pglite') expect(settled).toBe(false);
      gate.resolve();
      await expect(txDone).rejects.toThrow('roll it back');
      expect((await concurrent)[0]?.n).toBe(0);
      expect(await countTenants('ghost')).toBe(0);
    },
  );

  it.skipIf(driver.skip)('a waiting concurrent query sees the committed result afterwards', async () => {
    const entered = deferred();
    const gate = deferred();
    const txDone = db.transaction(async (tx) => {
      await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'late-commit']);
      entered.resolve();
      await gate.promise;
    });
    await entered.promise;
    const concurrent = db.query<{ n: number }>('select count(*) as n from tenants where name = $1', [
      'late-commit',
    ]);
    await turns(5);
    gate.resolve();
    await txDone;
    const n = (await concurrent)[0]?.n;
    // PostgreSQL may answer from before the commit (MVCC); PGlite only after it.
    if (driver.name === 'pglite') expect(n).toBe(1);
    else expect([0, 1]).toContain(n);
    expect(await countTenants('late-commit')).toBe(1);
  });

  it.skipIf(driver.skip)(
    'refuses db calls inside a transaction callback instead of deadlocking',
    async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'nested']);
          await db.query('select 1');
        }),
      ).rejects.toThrow(/inside a db.transaction/);
      await expect(db.transaction(async () => db.transaction(async () => 1))).rejects.toThrow(
        /inside a db.transaction/,
      );
      expect(await countTenants('nested')).toBe(0);
      // Work spawned inside a transaction may use the db once the transaction is over.
      let later: Promise<unknown> = Promise.resolve();
      await db.transaction(async () => {
        later = Promise.resolve().then(async () => {
          await turns(5);
          return db.query('select 1 as one');
        });
      });
      await expect(later).resolves.toEqual([{ one: 1 }]);
    },
  );

  it.skipIf(driver.skip)(
    'still refuses them in a transaction that outlives another (the check is armed per open transaction)',
    async () => {
      let openFirst: () => void = () => {};
      const gate = new Promise<void>((r) => {
        openFirst = r;
      });
      const first = db.transaction(async () => {
        await gate;
        return 1;
      });
      // PostgreSQL runs the second alongside the first, which ends while the second is open;
      // PGlite queues it until the first is over.
      const second = db.transaction(async () => {
        await first;
        return db.query('select 1');
      });
      setTimeout(openFirst, 20);
      await expect(second).rejects.toThrow(/inside a db.transaction/);
      await expect(first).resolves.toBe(1);
      expect(await db.query('select 1 as one')).toEqual([{ one: 1 }]);
    },
  );

  it.skipIf(driver.skip)(
    'does not report a transaction as committed when a caught statement aborted it',
    async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'swallowed']);
          await tx.query('select 1/0').catch(() => undefined);
          return 'looks fine';
        }),
      ).rejects.toThrow(/rolled back/);
      expect(await countTenants('swallowed')).toBe(0);
      // Recovering through a savepoint is legitimate and commits.
      await db.transaction(async (tx) => {
        await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), 'recovered']);
        await tx.exec('savepoint s');
        await tx.query('select 1/0').catch(() => undefined);
        await tx.exec('rollback to savepoint s');
      });
      expect(await countTenants('recovered')).toBe(1);
    },
  );

  it.skipIf(driver.skip)('refuses a transaction handle used after its transaction', async () => {
    let leaked: { query(sql: string): Promise<unknown> } | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked?.query('select 1')).rejects.toThrow(/after its transaction ended/);
  });

  it.skipIf(driver.skip)(
    'serialises 50 concurrent read-modify-write transactions without lost updates',
    async () => {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          db.transaction(async (tx) => {
            const [row] = await tx.query<{ n: number }>(
              'select n from contract_counter where id = 1 for update',
            );
            await tx.query('update contract_counter set n = $1 where id = 1', [(row?.n ?? 0) + 1]);
          }),
        ),
      );
      const [row] = await db.query<{ n: number }>('select n from contract_counter where id = 1');
      expect(row?.n).toBe(50);
    },
  );

  it.skipIf(driver.skip)('mixes concurrent transactions and plain queries without interference', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0
          ? db.query<{ n: number }>('select count(*) as n from tenants where name like $1', ['mix-%'])
          : db.transaction(async (tx) => {
              const name = `mix-${i}`;
              await tx.query('insert into tenants (id, name) values ($1, $2)', [newId('ten'), name]);
              await turns(1);
              const mine = await tx.query<{ n: number }>(
                'select count(*) as n from tenants where name = $1',
                [name],
              );
              if (i % 3 === 2) throw new Error(`rollback ${i}`);
              return mine;
            }),
      ).map((p) => p.catch((e: Error) => e.message)),
    );
    for (const [i, r] of results.entries()) {
      if (i % 3 === 2) expect(r).toBe(`rollback ${i}`);
      else if (i % 3 === 1) expect(r).toEqual([{ n: 1 }]);
    }
    expect(await db.query('select name from tenants where name like $1', ['mix-%'])).toHaveLength(10);
  });

  describe('tenants', () => {
    it.skipIf(driver.skip)('has the default tenant from the start', async () => {
      expect(await getTenant(db, 'default')).toMatchObject({ id: 'ten_default', name: 'default' });
      expect((await getTenantById(db, 'ten_default'))?.name).toBe('default');
    });

    it.skipIf(driver.skip)('ensureTenant is idempotent, also under 50 concurrent calls', async () => {
      const first = await ensureTenant(db, 'acme');
      expect(first.id).toMatch(/^ten_[0-9a-z]{26}$/);
      expect((await ensureTenant(db, 'acme')).id).toBe(first.id);
      const racers = await Promise.all(Array.from({ length: 50 }, () => ensureTenant(db, 'racing')));
      expect(new Set(racers.map((t) => t.id)).size).toBe(1);
      expect(await countTenants('racing')).toBe(1);
      expect((await listTenants(db)).map((t) => t.name)).toEqual(expect.arrayContaining(['acme', 'default']));
      expect(await getTenant(db, 'nobody')).toBeUndefined();
    });

    it.skipIf(driver.skip)('ensureTenant works inside a transaction', async () => {
      const t = await db.transaction((tx) => ensureTenant(tx, 'in-tx'));
      expect((await getTenant(db, 'in-tx'))?.id).toBe(t.id);
    });
  });
});
