import { hash, randomBytes } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { newId } from '../store/ids.ts';
import { type ApiKeyInfo, insertKey, type KeyRole } from '../store/queries/keys.ts';
import { ensureTenant } from '../store/queries/tenants.ts';

/** The tenant that exists from the start; keys without a tenant belong to it. */
export const DEFAULT_TENANT = 'default';

/** Every Keel API key starts with this, so leaked keys are easy to recognise (and to scan for). */
export const KEY_PREFIX = 'keel_';
/** Characters of the key kept in clear as its display prefix (`keel_` + 8). */
const DISPLAY_PREFIX_LENGTH = KEY_PREFIX.length + 8;

export interface GeneratedKey {
  /** The secret; shown to the user once and never stored. */
  key: string;
  hash: string;
  prefix: string;
}

/** SHA-256 (hex) of a presented key; the only form in which keys are stored or cached. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** A new key: `keel_` + base64url of 32 random bytes (256 bits). */
export function generateApiKey(): GeneratedKey {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, hash: hashApiKey(key), prefix: displayPrefix(key) };
}

export interface IssueKeyInput {
  /** Tenant name; created when missing. Default `default`. */
  tenant?: string | undefined;
  user?: string | undefined;
  name?: string | undefined;
  role?: KeyRole | undefined;
  allowedModels?: string[] | null | undefined;
}

export interface IssuedKey {
  info: ApiKeyInfo;
  /** The secret, to show once. */
  key: string;
}

/** Creates a key (and its tenant if needed) in one transaction; the secret is returned, never stored. */
export async function issueKey(db: Db, input: IssueKeyInput, secret?: string): Promise<IssuedKey> {
  const g = secret
    ? { key: secret, hash: hashApiKey(secret), prefix: displayPrefix(secret) }
    : generateApiKey();
  const info = await db.transaction(async (tx) => {
    const tenant = await ensureTenant(tx, input.tenant ?? DEFAULT_TENANT);
    return insertKey(tx, {
      id: newId('key'),
      tenantId: tenant.id,
      name: input.name ?? '',
      userLabel: input.user ?? '',
      role: input.role ?? 'member',
      hash: g.hash,
      prefix: g.prefix,
      allowedModels: input.allowedModels?.length ? [...input.allowedModels] : null,
    });
  });
  return { info, key: g.key };
}

/** The API representation of a key (never the hash). */
export function keyView(k: ApiKeyInfo): Record<string, unknown> {
  return {
    id: k.id,
    object: 'api_key',
    prefix: k.prefix,
    tenant: k.tenantName,
    tenant_id: k.tenantId,
    user: k.userLabel,
    name: k.name,
    role: k.role,
    allowed_models: k.allowedModels,
    created_at: k.createdAt.toISOString(),
    revoked_at: k.revokedAt ? k.revokedAt.toISOString() : null,
    last_used_at: k.lastUsedAt ? k.lastUsedAt.toISOString() : null,
  };
}
