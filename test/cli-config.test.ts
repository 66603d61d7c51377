// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config files under test use ${VAR} interpolation
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel } from './helpers/cli.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-cli-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ADMIN = 'admin-key-0123456789-abcdefghijklmnop';
const OPENAI = 'sk-test-VERYSECRET-openai-key-4321';

describe('keel config check', { timeout: 60_000 }, () => {
  it('prints the effective config with every secret masked', async () => {
    writeFileSync(
      join(dir, 'keel.yaml'),
      [
        'providers:',
        '  local:',
        '    type: openai-compatible',
        '    baseUrl: http://127.0.0.1:8080/v1',
        '    apiKey: ${LOCAL_LLM_KEY}',
        'apps:',
        '  support: { model: local/qwen, collections: [docs], topK: 4 }',
      ].join('\n'),
    );
    const r = await runKeel(['config', 'check'], {
      cwd: dir,
      env: {
        KEEL_DATA_DIR: join(dir, 'data'),
        KEEL_PORT: '9123',
        KEEL_ADMIN_KEY: ADMIN,
        OPENAI_API_KEY: OPENAI,
        LOCAL_LLM_KEY: 'local-llm-secret-key-abcdef',
        DATABASE_URL: 'postgres://keel:db-password-xyz@127.0.0.1:5432/keel',
      },
    });
    expect(r.stderr).toContain('config OK');
    expect(r.stderr).toContain(join(dir, 'keel.yaml'));
    expect(r.code).toBe(0);
    for (const secret of [ADMIN, OPENAI, 'local-llm-secret-key', 'db-password-xyz']) {
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
    expect(r.stdout).toContain('port: 9123');
    expect(r.stdout).toContain('postgres://keel:****@127.0.0.1:5432/keel');
    expect(r.stdout).toMatch(/adminKey: "?\*\*\*\*mnop/);
    expect(r.stdout).toContain('passthroughProvider: openai');
    expect(r.stdout).toContain('support:');
  });

  it('fails with each bad field, what was expected and the line, and a non-zero exit', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, ['server:', '  port: 99999', 'apps:', '  support:', '    topK: many'].join('\n'));
    const r = await runKeel(['--config', file, 'config', 'check'], { cwd: dir, env: {} });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`Invalid configuration (${file})`);
    expect(r.stderr).toContain(`server.port: expected number to be <=65535 (${file}:2)`);
    expect(r.stderr).toContain(`apps.support.model: required (expected string) (${file}:4)`);
    expect(r.stderr).toContain(`apps.support.topK: expected number, got string (${file}:5)`);
    expect(r.stderr).not.toContain('    at '); // no stack trace
  });

  it('names a variable the file needs but the environment lacks', async () => {
    const file = join(dir, 'needs-env.yaml');
    writeFileSync(file, 'adminKey: ${MY_ADMIN_KEY}\n');
    const r = await runKeel(['config', 'check'], { cwd: dir, env: { KEEL_CONFIG: file } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('${MY_ADMIN_KEY}');
  });
});
