import type { Queryable } from '../db.ts';
import { newId } from '../ids.ts';

export interface Tenant {
  id: string;
  name: string;
  createdAt: Date;
}

interface Row {
  id: string;
  name: string;
  created_at: Date;
}

const toTenant = (r: Row): Tenant => ({ id: r.id, name: r.name, createdAt: r.created_at });

/**
 * The tenant named `name`, created if missing. Safe under concurrency on both drivers: the insert
 * does nothing on a name conflict (waiting for a concurrent creator to commit), and the follow-up
 * select, a new statement, then sees the winner's row.
 */
export async function ensureTenant(q: Queryable, name: string): Promise<Tenant> {
  const inserted = await q.query<Row>(
    'insert into tenants (id, name) values ($1, $2) on conflict (name) do nothing returning id, name, created_at',
    [newId('ten'), name],
  );
  const row = inserted[0] ?? (await getTenantRow(q, name));
  if (!row) throw new Error(`tenant ${name} vanished while being ensured`);
  return toTenant(row);
}

export async function getTenant(q: Queryable, name: string): Promise<Tenant | undefined> {
  const row = await getTenantRow(q, name);
  return row && toTenant(row);
}

export async function getTenantById(q: Queryable, id: string): Promise<Tenant | undefined> {
  const rows = await q.query<Row>('select id, name, created_at from tenants where id = $1', [id]);
  return rows[0] && toTenant(rows[0]);
}

export async function listTenants(q: Queryable): Promise<Tenant[]> {
  const rows = await q.query<Row>('select id, name, created_at from tenants order by name');
  return rows.map(toTenant);
}

async function getTenantRow(q: Queryable, name: string): Promise<Row | undefined> {
  const rows = await q.query<Row>('select id, name, created_at from tenants where name = $1', [name]);
  return rows[0];
}
