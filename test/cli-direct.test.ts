import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel } from './helpers/cli.ts';

/**
 * The CLI with no server running: each command opens the temp data dir itself (PGlite), does its
 * work and exits. Tests run in order on one data dir, as a user would.
 */
let root: string;
let env: Record<string, string>;
const keel = (...args: string[]) => runKeel(args, { cwd: root, env, timeoutMs: 120_000 });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-cli-direct-'));
  env = { KEEL_DATA_DIR: join(root, 'data') };
  const corpus = join(root, 'corpus');
  mkdirSync(join(corpus, 'nested'), { recursive: true });
  writeFileSync(
    join(corpus, 'lighthouse.md'),
    [
      '# Lighthouse keeping',
      '',
      'The Skerryvore lighthouse lamp is lit every evening at dusk by the keeper on duty.',
      '',
      '## Fuel',
      '',
      'The lamp burns paraffin; the keeper refills the reservoir every morning after sunrise.',
    ].join('\n'),
  );
  writeFileSync(
    join(corpus, 'nested', 'tides.html'),
    '<html><head><title>Tide tables</title><style>p{color:red}</style></head><body>' +
      '<h1>Tides</h1><p>Spring tides at Skerryvore rise four metres above the low-water mark.</p>' +
      '<script>var x = "not text";</script></body></html>',
  );
  // Invalid UTF-8 and a NUL byte: a file that cannot be parsed.
  writeFileSync(join(corpus, 'broken.md'), Buffer.from([0x23, 0x20, 0xff, 0xfe, 0x00, 0x41]));
  writeFileSync(join(corpus, 'image.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  // A placeholder with nothing to index.
  writeFileSync(join(corpus, 'todo.md'), '\n  \n');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('keel CLI on a data dir (no server)', { timeout: 180_000 }, () => {
  it('ingests the good files, reports the broken one and exits non-zero', async () => {
    const r = await keel('ingest', 'corpus');
    expect(r.stderr).toContain(`using data dir ${join(root, 'data')} directly`);
    expect(r.stdout).toMatch(/collection "default": 2 documents ingested \(\d+ chunks?\), 0 unchanged/);
    expect(r.stdout).toContain('2 files ignored');
    expect(r.stderr).toContain('ignored: corpus/image.png: unsupported file type ".png"');
    expect(r.stderr).toContain('ignored: corpus/todo.md: no text to index');
    expect(r.stdout).toContain('1 failed');
    expect(r.stderr).toMatch(/error: corpus\/broken\.md: content is not valid UTF-8 text/);
    expect(r.code).toBe(1);
  });

  it('re-ingesting reports the good files unchanged and writes nothing', async () => {
    const r = await keel('ingest', 'corpus');
    expect(r.stdout).toMatch(/0 documents ingested \(0 chunks\), 2 unchanged \(skipped\)/);
    expect(r.code).toBe(1); // the broken file still fails
  });

  it('a changed file is ingested again, the others stay unchanged', async () => {
    writeFileSync(
      join(root, 'corpus', 'lighthouse.md'),
      '# Lighthouse keeping\n\nThe Skerryvore lamp is now electric and needs no paraffin.\n',
    );
    rmSync(join(root, 'corpus', 'broken.md'));
    const r = await keel('ingest', 'corpus');
    expect(r.stdout).toMatch(/1 document ingested \(1 chunk\), 1 unchanged \(skipped\).*0 failed/);
    expect(r.code).toBe(0);
  });

  it('ask prints a cited answer, then the sources', async () => {
    const r = await keel('ask', 'How high do spring tides rise at Skerryvore?');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('using data dir');
    const [answer, sources] = r.stdout.split('\nSources:\n');
    expect(answer).toContain('four metres');
    expect(answer).toMatch(/\[\d+\]/);
    expect(sources).toMatch(/\[\d+\] Tide tables — corpus\/nested\/tides\.html/);
  });

  it('ask says plainly when the documents do not cover the question', async () => {
    const r = await keel('ask', 'What is the capital of Mongolia?');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('could not find anything relevant');
    expect(r.stdout).not.toContain('Sources:');
  });

  it('ask with an unknown app fails with the API error', async () => {
    const r = await keel('ask', 'hello', '--app', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: The model 'nope' does not exist");
    expect(r.stderr).toContain('model_not_found');
  });

  it('docs lists collections and documents; search shows what retrieval finds; rm deletes a document and its chunks', async () => {
    const cols = await keel('docs', 'collections');
    expect(cols.code).toBe(0);
    expect(cols.stdout).toMatch(/^default\s+2\s+\d+\s+hashing$/m);
    const list = await keel('docs', 'list', '--json');
    expect(list.code).toBe(0);
    const ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map((d) => d.id);
    expect(ids).toEqual(['corpus/lighthouse.md', 'corpus/nested/tides.html']);

    // search: what an app would retrieve, best first, with where it ranked and what it says.
    const found = await keel('docs', 'search', 'how', 'high', 'do', 'spring', 'tides', 'rise?');
    expect(found.code).toBe(0);
    expect(found.stdout).toMatch(
      /^1\. corpus\/nested\/tides\.html › .*Tides\n {3}score \d\.\d{4} \(bm25 #1, vector #\d+\)\n {3}.*Spring tides at Skerryvore rise four metres/m,
    );

    const rm = await keel('docs', 'rm', 'corpus/nested/tides.html');
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain('deleted corpus/nested/tides.html');
    const table = await keel('docs', 'list');
    expect(table.stdout).toMatch(/^corpus\/lighthouse\.md\s+Lighthouse keeping\s+\d+\s+\d{4}-/m);
    expect(table.stdout).not.toContain('tides');
    const answer = await keel('ask', 'How high do spring tides rise at Skerryvore?');
    expect(answer.stdout).not.toContain('four metres');

    const again = await keel('docs', 'rm', 'corpus/nested/tides.html');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not_found');
  });
});
