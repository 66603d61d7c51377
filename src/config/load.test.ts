// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about ${VAR} interpolation
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeelError } from '../errors.ts';
import { loadConfig, resolveConfigPath } from './load.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function loadError(fn: () => unknown): KeelError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KeelError) return e;
    throw e;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig defaults', () => {
  it('works with no file and no env: embedded store, built-in providers and the default app', () => {
    const c = loadConfig({ env: {}, cwd: dir });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8787, keyCacheTtlMs: 10_000 });
    expect(c.dataDir).toBe(join(dir, '.keel'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.providers.extractive).toEqual({ type: 'extractive' });
    expect(c.providers.hashing).toEqual({ type: 'hashing', dimensions: 512 });
    expect(c.apps.default).toMatchObject({ model: 'extractive', collections: ['default'], topK: 6 });
    expect(c.passthroughProvider).toBeUndefined();
    expect(c.rag).toMatchObject({ embedder: 'hashing', chunkTokens: 350, chunkOverlapTokens: 50 });
  });

  it('reads ./keel.yaml when present, KEEL_CONFIG or an explicit file otherwise', () => {
    expect(resolveConfigPath({ env: {}, cwd: dir })).toBeUndefined();
    write('keel.yaml', 'server: { port: 9000 }\n');
    write('other.yaml', 'server: { port: 9001 }\n');
    expect(loadConfig({ env: {}, cwd: dir }).server.port).toBe(9000);
    expect(loadConfig({ env: { KEEL_CONFIG: 'other.yaml' }, cwd: dir }).server.port).toBe(9001);
    expect(loadConfig({ env: { KEEL_CONFIG: 'other.yaml' }, cwd: dir, file: 'keel.yaml' }).server.port).toBe(
      9000,
    );
  });

  it('fails clearly when an explicit file does not exist', () => {
    const e = loadError(() => loadConfig({ env: {}, cwd: dir, file: 'missing.yaml' }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain('missing.yaml');
    expect(e.message).toContain('not found');
  });
});

describe('interpolation', () => {
  it('substitutes ${VAR} and ${VAR:-default}, typing whole plain values', () => {
    const file = write(
      'keel.yaml',
      [
        'server:',
        '  port: ${PORT}',
        '  host: "${HOST:-0.0.0.0}"',
        'providers:',
        '  local:',
        '    type: openai-compatible',
        '    baseUrl: http://${LLM_HOST:-127.0.0.1}:8080/v1',
        '    apiKey: ${LOCAL_KEY}',
        'apps:',
        '  support:',
        '    model: local/${MODEL:-qwen}',
        '    systemPrompt: "Costs $${PRICE} here"',
        '    collections: [docs]',
      ].join('\n'),
    );
    const c = loadConfig({ env: { PORT: '9999', LOCAL_KEY: 'k-123', MODEL: '' }, cwd: dir, file });
    expect(c.server.port).toBe(9999);
    expect(c.server.host).toBe('0.0.0.0');
    expect(c.providers.local).toMatchObject({ baseUrl: 'http://127.0.0.1:8080/v1', apiKey: 'k-123' });
    expect(c.apps.support?.model).toBe('local/qwen');
    expect(c.apps.support?.systemPrompt).toBe('Costs ${PRICE} here');
  });

  it('names a missing variable without a default, with its line', () => {
    const file = write('keel.yaml', 'server:\n  host: 127.0.0.1\n  port: ${KEEL_TEST_PORT}\n');
    const e = loadError(() => loadConfig({ env: {}, cwd: dir, file }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain('${KEEL_TEST_PORT}');
    expect(e.message).toContain(`${file}:3`);
  });

  it('does not interpolate inside comments', () => {
    const file = write('keel.yaml', '# port: ${NOT_SET}\nserver: { port: 1234 }\n');
    expect(loadConfig({ env: {}, cwd: dir, file }).server.port).toBe(1234);
  });
});

describe('environment variables', () => {
  it('override the file', () => {
    write(
      'keel.yaml',
      'server: { host: 0.0.0.0, port: 9000 }\ndataDir: ./from-file\ndatabaseUrl: postgres://file/db\n',
    );
    const c = loadConfig({
      env: {
        KEEL_HOST: '127.0.0.2',
        KEEL_PORT: '7000',
        KEEL_DATA_DIR: '/tmp/keel-x',
        DATABASE_URL: 'postgres://env/db',
        REDIS_URL: 'redis://127.0.0.1:6379',
        KEEL_ADMIN_KEY: 'a'.repeat(40),
      },
      cwd: dir,
    });
    expect(c.server).toMatchObject({ host: '127.0.0.2', port: 7000 });
    expect(c.dataDir).toBe('/tmp/keel-x');
    expect(c.databaseUrl).toBe('postgres://env/db');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.adminKey).toBe('a'.repeat(40));
  });

  it('resolves a relative dataDir in the file against the file, and from env against cwd', () => {
    const sub = join(dir, 'conf');
    mkdirSync(sub);
    const file = join(sub, 'keel.yaml');
    writeFileSync(file, 'dataDir: ./data\n');
    expect(loadConfig({ env: {}, cwd: dir, file }).dataDir).toBe(join(sub, 'data'));
    expect(loadConfig({ env: { KEEL_DATA_DIR: 'rel' }, cwd: dir, file }).dataDir).toBe(join(dir, 'rel'));
  });

  it('OPENAI_API_KEY creates provider openai and makes it the pass-through', () => {
    const c = loadConfig({ env: { OPENAI_API_KEY: 'sk-test-123' }, cwd: dir });
    expect(c.providers.openai).toMatchObject({
      type: 'openai-compatible',
      baseUrl: 'https://api.openai.com/v1',
      apiKey: 'sk-test-123',
    });
    expect(c.passthroughProvider).toBe('openai');
  });

  it('OPENAI_BASE_URL alone creates a keyless openai provider (vLLM, Ollama)', () => {
    const c = loadConfig({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }, cwd: dir });
    expect(c.providers.openai).toMatchObject({ baseUrl: 'http://127.0.0.1:11434/v1' });
    expect(c.providers.openai).not.toHaveProperty('apiKey');
    expect(c.passthroughProvider).toBe('openai');
  });

  it('keeps what the file says about pass-through and the openai provider', () => {
    write(
      'keel.yaml',
      [
        'passthroughProvider: local',
        'providers:',
        '  local: { type: openai-compatible, baseUrl: "http://127.0.0.1:1/v1" }',
        '  openai: { type: openai-compatible, baseUrl: "http://proxy.internal/v1", headers: { x-team: a } }',
      ].join('\n'),
    );
    const c = loadConfig({ env: { OPENAI_API_KEY: 'sk-env' }, cwd: dir });
    expect(c.passthroughProvider).toBe('local');
    expect(c.providers.openai).toMatchObject({
      baseUrl: 'http://proxy.internal/v1',
      apiKey: 'sk-env',
      headers: { 'x-team': 'a' },
    });
  });

  it('names the variable when an env value is invalid', () => {
    const e = loadError(() =>
      loadConfig({ env: { KEEL_PORT: 'eighty', KEEL_ADMIN_KEY: 'short' }, cwd: dir }),
    );
    expect(e.message).toContain('server.port: expected number, got string (from KEEL_PORT)');
    expect(e.message).toContain(
      'adminKey: the admin key must be at least 32 characters (from KEEL_ADMIN_KEY)',
    );
    expect(e.message).not.toContain('short');
  });
});

describe('invalid files', () => {
  it('lists every bad field with its path, what was expected and its line', () => {
    const file = write(
      'keel.yaml',
      [
        'server:',
        '  port: "80"', // 2
        'apps:',
        '  support:',
        '    model: extractive',
        '    topK: 500', // 6
        '    colections: [docs]', // 7
        '  broken:', // 8
        '    systemPrompt: hi',
        'providers:',
        '  local:',
        '    type: magic', // 12
      ].join('\n'),
    );
    const e = loadError(() => loadConfig({ env: {}, cwd: dir, file }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain(file);
    const lines = e.message.split('\n');
    expect(lines).toContain(`  - server.port: expected number, got string (${file}:2)`);
    expect(lines).toContain(`  - apps.support.topK: expected number to be <=50 (${file}:6)`);
    expect(lines).toContain(`  - apps.support.colections: unknown setting (${file}:7)`);
    expect(lines).toContain(`  - apps.broken.model: required (expected string) (${file}:8)`);
    expect(lines).toContain(
      `  - providers.local.type: expected one of: openai-compatible, extractive, hashing, anthropic, azure-openai, llama-cpp, onnx-embeddings (${file}:12)`,
    );
  });

  it('reports YAML syntax errors with the line', () => {
    const file = write('keel.yaml', 'server:\n  port: 1\n   host: x\n');
    const e = loadError(() => loadConfig({ env: {}, cwd: dir, file }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toMatch(new RegExp(`Invalid YAML in ${file}:\\d`));
  });

  it('checks references between settings', () => {
    const file = write(
      'keel.yaml',
      [
        'apps:',
        '  support: { model: nowhere/gpt, collections: [docs] }',
        'models:',
        '  fast: { provider: ghost, model: x }',
        'passthroughProvider: ghost',
      ].join('\n'),
    );
    const e = loadError(() => loadConfig({ env: {}, cwd: dir, file }));
    expect(e.message).toContain(`apps.support.model: unknown provider "nowhere" in "nowhere/gpt"`);
    expect(e.message).toContain(`models.fast.provider: unknown provider "ghost"`);
    expect(e.message).toContain(`passthroughProvider: unknown provider "ghost"`);
  });

  it('accepts a full example with apps, providers and model aliases', () => {
    const file = write(
      'keel.yaml',
      [
        'providers:',
        '  local: { type: openai-compatible, baseUrl: "http://127.0.0.1:8080/v1" }',
        '  hashing: { type: hashing, dimensions: 256 }',
        'models:',
        '  fast: { provider: local, model: qwen2.5-1.5b }',
        'apps:',
        '  support: { model: fast, collections: [docs], topK: 8, systemPrompt: Be brief. }',
        '  raw: { model: local/qwen2.5-1.5b }',
      ].join('\n'),
    );
    const c = loadConfig({ env: {}, cwd: dir, file });
    expect(Object.keys(c.apps).sort()).toEqual(['default', 'raw', 'support']);
    expect(c.providers.hashing).toEqual({ type: 'hashing', dimensions: 256 });
    expect(c.apps.support).toMatchObject({ model: 'fast', topK: 8, collections: ['docs'] });
  });
});
