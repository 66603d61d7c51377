import { stringify } from 'yaml';
import type { KeelConfig } from './schema.ts';

const SECRET_KEY = /(api[-_]?key|secret|token|password|passwd|authorization|^adminkey$)/i;
const URL_KEY = /url$/i;

/** `sk-…` → `****wxyz`: enough to tell two keys apart, never enough to use one. */
export function maskSecret(secret: string): string {
  return secret.length >= 20 ? `****${secret.slice(-4)}` : '****';
}

/** Masks the password (and a username that looks like a token) inside a URL: `postgres://u:****@h/db`. */
export function maskUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not a URL we can parse: hide anything between `://` and `@`, which is where credentials live.
    return value.replace(/(\/\/)[^/@]*@/, '$1****@');
  }
  if (!url.password && !url.username) return value;
  if (url.password) url.password = '****';
  else url.username = '****';
  return url.toString();
}

/** A deep copy of the config with every secret masked: API keys, the admin key, secret headers, URL passwords. */
export function maskConfig(config: KeelConfig): KeelConfig {
  return maskValue(config, '') as KeelConfig;
}

function maskValue(value: unknown, key: string): unknown {
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key)) return maskSecret(value);
    if (URL_KEY.test(key) || /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return maskUrl(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => maskValue(v, ''));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(v, k);
    return out;
  }
  return value;
}

/** The effective config as YAML, secrets masked (what `keel config check` prints). */
export function formatConfig(config: KeelConfig): string {
  return stringify(maskConfig(config), { lineWidth: 0 });
}
