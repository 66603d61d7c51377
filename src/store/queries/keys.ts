import type { Queryable } from '../db.ts';

export type KeyRole = 'admin' | 'member';

export interface NewApiKey {
  id: string;
  tenantId: string;
  name: string;
  userLabel: string;
  role: KeyRole;
  /** SHA-256 of the secret; the secret itself is never stored. */
  hash: string;
  /** Short display prefix of the secret. */
  prefix: string;
  /** Apps/models this key may use; null means no restriction. */
  allowedModels: string[] | null;
}

/** A stored key as listed to admins: everything except the hash. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  tenantName: string;
  name: string;
  userLabel: string;
  role: KeyRole;
  prefix: string;
  allowedModels: string[] | null;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** What authentication needs; callers check `revokedAt` themselves. */
export type ApiKeyRecord = ApiKeyInfo;

interface Row {
  id: string;
  tenant_id: string;
  tenant_name: string;
  name: string;
  user_label: string;
  role: KeyRole;
  prefix: string;
  allowed_models: string[] | null;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = `k.id, k.tenant_id, t.name as tenant_name, k.name, k.user_label, k.role, k.prefix,
  k.allowed_models, k.created_at, k.revoked_at, k.last_used_at`;

const toInfo = (r: Row): ApiKeyInfo => ({
  id: r.id,
  tenantId: r.tenant_id,
  tenantName: r.tenant_name,
  name: r.name,
  userLabel: r.user_label,
  role: r.role,
  prefix: r.prefix,
  allowedModels: r.allowed_models,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export async function insertKey(q: Queryable, key: NewApiKey): Promise<ApiKeyInfo> {
  const rows = await q.query<Row>(
    `with k as (
       insert into api_keys (id, tenant_id, name, user_label, role, hash, prefix, allowed_models)
       values ($1, $2, $3, $4, $5, $6, $7, $8) returning *
     )
     select ${COLUMNS} from k join tenants t on t.id = k.tenant_id`,
    [key.id, key.tenantId, key.name, key.userLabel, key.role, key.hash, key.prefix, key.allowedModels],
  );
  if (!rows[0]) throw new Error(`key ${key.id} missing right after insert`);
  return toInfo(rows[0]);
}

export async function getKey(q: Queryable, id: string): Promise<ApiKeyInfo | undefined> {
  const rows = await q.query<Row>(
    `select ${COLUMNS} from api_keys k join tenants t on t.id = k.tenant_id where k.id = $1`,
    [id],
  );
  return rows[0] && toInfo(rows[0]);
}

/** The key with this hash, revoked or not (the caller decides), or undefined. */
export async function findKeyByHash(q: Queryable, hash: string): Promise<ApiKeyRecord | undefined> {
  const rows = await q.query<Row>(
    `select ${COLUMNS} from api_keys k join tenants t on t.id = k.tenant_id where k.hash = $1`,
    [hash],
  );
  return rows[0] && toInfo(rows[0]);
}

export interface ListKeysFilter {
  tenantId?: string | undefined;
  includeRevoked?: boolean | undefined;
}

/** Keys, oldest first. Revoked keys are included unless `includeRevoked` is false. */
export async function listKeys(q: Queryable, filter: ListKeysFilter = {}): Promise<ApiKeyInfo[]> {
  const where: string[] = [];
  const params: string[] = [];
  if (filter.tenantId !== undefined) {
    params.push(filter.tenantId);
    where.push(`k.tenant_id = $${params.length}`);
  }
  if (filter.includeRevoked === false) where.push('k.revoked_at is null');
  const rows = await q.query<Row>(
    `select ${COLUMNS} from api_keys k join tenants t on t.id = k.tenant_id
     ${where.length ? `where ${where.join(' and ')}` : ''} order by k.created_at, k.id`,
    params,
  );
  return rows.map(toInfo);
}

/**
 * Revokes a key (idempotent: the first revocation time is kept). True when the key exists (and is
 * now revoked), false when there is no such key (in `tenantId`, when given).
 */
export async function revokeKey(
  q: Queryable,
  id: string,
  opts: { tenantId?: string } = {},
): Promise<boolean> {
  const params: string[] = [id];
  let scope = '';
  if (opts.tenantId !== undefined) {
    params.push(opts.tenantId);
    scope = ' and tenant_id = $2';
  }
  const rows = await q.query(
    `update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1${scope} returning id`,
    params,
  );
  return rows.length > 0;
}

export async function countActiveAdminKeys(q: Queryable): Promise<number> {
  const rows = await q.query<{ n: number }>(
    "select count(*) as n from api_keys where role = 'admin' and revoked_at is null",
  );
  return rows[0]?.n ?? 0;
}

/** Marks keys as used now, in one statement; auth batches ids and calls this off the hot path. */
export async function touchKeys(q: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query('update api_keys set last_used_at = now() where id = any($1::text[])', [[...new Set(ids)]]);
}
