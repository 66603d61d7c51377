import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel } from './helpers/cli.ts';
import { makeDocx, makePdf } from './helpers/documents.ts';

/**
 * More of the CLI with no server running, on data dirs of their own: key management and binary
 * documents. Apart from `cli-direct.test.ts`, whose steps share one data dir in order, so the two
 * files run side by side.
 */
let root: string;
let env: Record<string, string>;
const keel = (...args: string[]) => runKeel(args, { cwd: root, env, timeoutMs: 120_000 });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-cli-direct-fresh-'));
  env = { KEEL_DATA_DIR: join(root, 'data') };
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('keel CLI on a data dir of its own (no server)', { timeout: 180_000 }, () => {
  it('keys create prints the key once; list shows its prefix, never the key', async () => {
    const created = await keel('keys', 'create', '--name', 'ci', '--user', 'alice', '--models', 'default');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^keel_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('only time the key is shown');

    const json = await keel('keys', 'list', '--json');
    expect(json.code).toBe(0);
    expect(json.stdout).not.toContain(key);
    const keys = JSON.parse(json.stdout) as Array<{ id: string; name: string; prefix: string }>;
    const ci = keys.find((k) => k.name === 'ci');
    expect(ci?.prefix).toBe(key.slice(0, 13));

    const revoked = await keel('keys', 'revoke', ci!.id);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${ci!.id}`);

    const list = await keel('keys', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(key);
    const row = list.stdout.split('\n').find((l) => l.includes(' ci '));
    for (const cell of [ci!.id, key.slice(0, 13), 'default', 'alice', 'member', 'revoked']) {
      expect(row).toContain(cell);
    }
  });

  it('the first command on a new store shows the generated admin key, once', async () => {
    const fresh = { KEEL_DATA_DIR: join(root, 'fresh-data') };
    const first = await runKeel(['keys', 'list'], { cwd: root, env: fresh, timeoutMs: 120_000 });
    expect(first.stderr).toMatch(/no admin key, so Keel generated one[\s\S]*keel_[A-Za-z0-9_-]{43}/);
    const second = await runKeel(['keys', 'list'], { cwd: root, env: fresh, timeoutMs: 120_000 });
    expect(second.stderr).not.toContain('generated');
  });

  it('ingests PDF, Word and CSV files from a folder', async () => {
    const dir = join(root, 'office');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'mooring.pdf'), makePdf([['Mooring', 'Secure the bow line first.']], 'Mooring'));
    writeFileSync(join(dir, 'crew.docx'), await makeDocx(['# Crew', 'The bosun keeps the rigging log.']));
    writeFileSync(join(dir, 'watch.csv'), 'watch,officer\nmorning,Ada\n');
    const r = await keel('ingest', 'office', '--collection', 'office');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 documents ingested/);
    const list = await keel('docs', 'list', '-C', 'office', '--json');
    const docs = JSON.parse(list.stdout) as Array<{ id: string; title: string; chunks: number }>;
    expect(docs.map((d) => [d.id, d.title])).toEqual([
      ['office/crew.docx', 'Crew'],
      ['office/mooring.pdf', 'Mooring'],
      ['office/watch.csv', 'watch'],
    ]);
    for (const d of docs) expect(d.chunks).toBeGreaterThan(0);
  });
});
