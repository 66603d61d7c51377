import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.ts';
import { formatConfig, maskConfig, maskUrl } from './mask.ts';

const ADMIN = 'adm-0123456789abcdefghijklmnopqrstuvwxyz';
const OPENAI = 'sk-proj-SECRETSECRETSECRET-9876';

describe('maskConfig', () => {
  const config = loadConfig({
    cwd: '/tmp',
    env: {
      KEEL_ADMIN_KEY: ADMIN,
      OPENAI_API_KEY: OPENAI,
      DATABASE_URL: 'postgres://keel:pg-pass-word@db.internal:5432/keel',
      REDIS_URL: 'redis://:redis-pass@127.0.0.1:6379/0',
    },
  });

  it('masks api keys, the admin key and passwords inside URLs', () => {
    const masked = maskConfig(config);
    expect(masked.adminKey).toBe('****wxyz');
    expect(masked.providers.openai).toMatchObject({ apiKey: '****9876' });
    expect(masked.databaseUrl).toBe('postgres://keel:****@db.internal:5432/keel');
    expect(masked.redisUrl).toBe('redis://:****@127.0.0.1:6379/0');
    // the original is untouched
    expect(config.adminKey).toBe(ADMIN);
  });

  it('never prints a secret in the formatted config', () => {
    const text = formatConfig(config);
    for (const secret of [ADMIN, OPENAI, 'pg-pass-word', 'redis-pass', 'SECRETSECRET']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('db.internal:5432');
    expect(text).toContain('port: 8787');
  });

  it('masks secret headers and leaves the rest', () => {
    const masked = maskValueOfHeaders({ Authorization: 'Bearer abc', 'x-api-key': 'k', 'x-team': 'support' });
    expect(masked).toEqual({ Authorization: '****', 'x-api-key': '****', 'x-team': 'support' });
  });

  it('leaves URLs without credentials alone and masks unparsable ones', () => {
    expect(maskUrl('http://127.0.0.1:8080/v1')).toBe('http://127.0.0.1:8080/v1');
    expect(maskUrl('postgres://user@host/db')).toBe('postgres://****@host/db');
    expect(maskUrl('weird://a:b@[bad')).toBe('weird://****@[bad');
  });
});

function maskValueOfHeaders(headers: Record<string, string>): Record<string, string> {
  const config = loadConfig({ cwd: '/tmp', env: {} });
  config.providers.up = {
    type: 'openai-compatible',
    baseUrl: 'http://x/v1',
    headers,
    timeouts: { connectMs: 1, firstByteMs: 1, totalMs: 1 },
    connections: 1,
  };
  const up = maskConfig(config).providers.up;
  return up && up.type === 'openai-compatible' ? up.headers : {};
}
