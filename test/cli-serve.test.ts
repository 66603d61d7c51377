import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel, type ServeHandle, startServe } from './helpers/cli.ts';

/**
 * `keel serve` as a real child process on a fresh temp data dir (with the first-start seeding of
 * Keel's docs), and CLI commands that find it through `server.json` and go over HTTP.
 */
let root: string;
let dataDir: string;
let env: Record<string, string>;
let server: ServeHandle | undefined;
const keel = (...args: string[]) => runKeel(args, { cwd: root, env, timeoutMs: 120_000 });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'keel-cli-serve-'));
  dataDir = join(root, 'data');
  env = { KEEL_DATA_DIR: dataDir, KEEL_PORT: '0' };
  mkdirSync(join(root, 'notes'));
  writeFileSync(
    join(root, 'notes', 'orchard.md'),
    '# Orchard\n\nThe quince trees in the north orchard are pruned in late February.\n',
  );
  writeFileSync(join(root, 'notes', 'garbled.html'), Buffer.from([0x3c, 0x70, 0x3e, 0xc3, 0x28, 0x00]));
  writeFileSync(join(root, 'notes', 'empty.txt'), '');
  server = await startServe([], { cwd: root, env, timeoutMs: 180_000 });
}, 200_000);

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('keel serve and the CLI through it', { timeout: 180_000 }, () => {
  it('prints its URL and a generated admin key once, and writes server.json (0600)', async () => {
    const s = server!;
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const adminKey = /^\s+(keel_[A-Za-z0-9_-]{43})$/m.exec(s.stdout())?.[1];
    expect(adminKey).toBeDefined();
    const file = join(dataDir, 'server.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // The printed admin key works against the admin API.
    const res = await fetch(`${s.url}/v1/admin/keys`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ role: string; prefix: string }> };
    expect(body.data.some((k) => k.role === 'admin' && adminKey!.startsWith(k.prefix))).toBe(true);
  });

  it('answers "how do I create an API key?" from its own docs on first start', async () => {
    const r = await keel('ask', 'how do I create an API key?');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`using running server at ${server!.url}`);
    const [answer, sources] = r.stdout.split('\nSources:\n');
    expect(answer).toContain('keel keys create');
    expect(answer).toMatch(/\[\d+\]/);
    expect(sources).toContain('api-keys.md');
  });

  it('ingest uploads through the server: good files in, the broken one reported, non-zero exit', async () => {
    const r = await keel('ingest', 'notes', '--collection', 'default');
    expect(r.stderr).toContain(`using running server at ${server!.url}`);
    expect(r.stdout).toMatch(/1 document ingested \(1 chunk\), 0 unchanged/);
    expect(r.stderr).toMatch(/error: notes\/garbled\.html: content (is not valid UTF-8 text|looks binary)/);
    // The server found nothing to index in it, and said so.
    expect(r.stdout).toContain('1 file ignored');
    expect(r.stderr).toContain('ignored: notes/empty.txt: no text to index');
    expect(r.code).toBe(1);

    const again = await keel('ingest', 'notes/orchard.md');
    expect(again.stdout).toMatch(/0 documents ingested \(0 chunks\), 1 unchanged \(skipped\)/);
    expect(again.code).toBe(0);

    const ask = await keel('ask', 'When are the quince trees pruned?');
    expect(ask.code).toBe(0);
    expect(ask.stdout).toContain('late February');
    expect(ask.stdout).toMatch(/\[\d+\] Orchard — notes\/orchard\.md/);
  });

  it('keys create then list go through the admin API, never showing the full key', async () => {
    const created = await keel('keys', 'create', '--name', 'served', '--role', 'admin');
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('using running server');
    const key = created.stdout.trim();
    expect(key).toMatch(/^keel_[A-Za-z0-9_-]{43}$/);

    const list = await keel('keys', 'list');
    expect(list.stdout).not.toContain(key);
    expect(list.stdout.split('\n').find((l) => l.includes(' served '))).toContain(key.slice(0, 13));

    // The new key is live on the server at once.
    const res = await fetch(`${server!.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });

  it('refuses a second server on the same data dir', async () => {
    const r = await keel('serve');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already running on .* at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('shuts down gracefully on SIGTERM and removes server.json', async () => {
    const code = await server!.stop();
    server = undefined;
    expect(code).toBe(0);
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'keel.lock'))).toBe(false);

    // With the server gone, commands open the data dir again, and the data is still there.
    const r = await keel('ask', 'When are the quince trees pruned?');
    expect(r.stderr).toContain('directly');
    expect(r.stdout).toContain('late February');
  });
});
