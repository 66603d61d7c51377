import { countTokens } from 'gpt-tokenizer';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeelError } from '../src/errors.ts';
import { chunkDocument, indexText } from '../src/rag/chunk.ts';
import { formatFromPath, parseDocument } from '../src/rag/parse/index.ts';
import type { ParsedDocument } from '../src/rag/types.ts';

const MD = `---
title: Keel guide
---
# Keel *Guide*

Intro with **bold**, _emphasis_, a snake_case_name, \`inline code\`, [a link](https://example.com/x)
and ![a diagram](img/d.png).

Install
-------

- step **one**
- [x] step two
1. numbered

> quoted advice

\`\`\`sh
# not a heading
npm install keel
\`\`\`

| key | value |
|-----|:-----:|
| port | 8787 |

<!-- a hidden
comment -->

## Configure ##
See the [reference][ref] for <b>every</b> option.

[ref]: https://example.com/ref
`;

const HTML = `<!doctype html><html><head><title>Keel &amp; Friends</title>
<style>body { color: red }</style><script>window.secret = 1</script></head>
<body><nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
<h1>API <em>keys</em></h1><p>Create a key with <a href="/cli">keel keys create</a>. It is shown <b>once</b>.</p>
<h2>Revoking</h2><ul><li>list keys</li><li>revoke one</li></ul>
<pre><code>keel keys revoke key_123</code></pre>
<h3>Caching</h3><p>Revocation takes effect within the cache TTL &lt;10s&gt;.</p>
<script>alert("x")</script><img src="x.png" alt="decor"></body></html>`;

describe('markdown parser', () => {
  let doc: ParsedDocument;
  beforeAll(async () => {
    doc = await parseDocument('md', MD, { uri: 'docs/guide.md' });
  });

  it('keeps the heading structure and the title', () => {
    expect(doc.title).toBe('Keel guide');
    expect(doc.sections.map((s) => s.headingPath)).toEqual([
      ['Keel Guide'],
      ['Keel Guide', 'Install'],
      ['Keel Guide', 'Configure'],
    ]);
  });

  it('strips markup but keeps the words, code in its fences and table rows in their pipes', () => {
    const all = doc.sections.map((s) => s.text).join('\n');
    expect(all).toContain('Intro with bold, emphasis, a snake_case_name, inline code, a link');
    expect(all).toContain('a diagram');
    expect(all).toContain('- step one\n- step two\n1. numbered');
    expect(all).toContain('quoted advice');
    expect(all).toContain('```sh\n# not a heading\nnpm install keel\n```');
    expect(all).toContain('| key | value |\n| port | 8787 |');
    expect(all).toContain('See the reference for every option.');
    for (const noise of ['**', '](', '<!--', 'hidden', '<b>', '|---', 'https://example.com', '> ']) {
      expect(all).not.toContain(noise);
    }
  });

  it('keeps code spans and escaped characters literal', async () => {
    const d = await parseDocument(
      'md',
      'Name `<provider>/<model>` or `**x**`; **use `y` now**, \\*not em\\* and <b>tag</b>.',
    );
    expect(d.sections[0]?.text).toBe('Name <provider>/<model> or **x**; use y now, *not em* and tag.');
  });

  it('reads a code span that runs over a line break as one span', async () => {
    const d = await parseDocument(
      'md',
      'Fields: `budget {daily_usd,\nmode}`, `regions`\nand more.\n\nA stray ` tick\nstays.',
    );
    expect(d.sections[0]?.text).toBe(
      'Fields: budget {daily_usd, mode}, regions\nand more.\n\nA stray ` tick\nstays.',
    );
  });

  it('closes a fence left open at the end of the document', async () => {
    const open = await parseDocument('md', '# T\n\n~~~~js\nrun()\n\nmore()');
    expect(open.sections[0]?.text).toBe('~~~~js\nrun()\n\nmore()\n~~~~');
  });

  it('falls back to the first heading, then the file name, for the title', async () => {
    expect((await parseDocument('md', '## Only h2\n\ntext')).title).toBe('Only h2');
    expect((await parseDocument('markdown', 'just text', { uri: 'notes/todo.md' })).title).toBe('todo');
    expect((await parseDocument('md', '# Inner', { title: 'Given' })).title).toBe('Given');
  });
});

describe('html parser', () => {
  let doc: ParsedDocument;
  let all: string;
  beforeAll(async () => {
    doc = await parseDocument('html', HTML);
    all = doc.sections.map((s) => `${s.headingPath.join(' > ')}\n${s.text}`).join('\n');
  });

  it('takes the title from <title> and sections from headings', () => {
    expect(doc.title).toBe('Keel & Friends');
    expect(doc.sections.map((s) => s.headingPath)).toEqual([
      ['API keys'],
      ['API keys', 'Revoking'],
      ['API keys', 'Revoking', 'Caching'],
    ]);
  });

  it('keeps readable text only: no markup, scripts, styles, navigation or URLs', () => {
    expect(all).toContain('Create a key with keel keys create. It is shown once.');
    expect(all).toContain('list keys');
    expect(all).toContain('keel keys revoke key_123');
    expect(all).toContain('Revocation takes effect within the cache TTL <10s>.');
    for (const noise of ['<', 'secret', 'alert', 'color', 'Home', '/cli', 'x.png', '&amp;']) {
      expect(all.replace('<10s>', '')).not.toContain(noise);
    }
  });

  it('marks code in fences and tables in pipe rows, as the Markdown parser does', async () => {
    const d = await parseDocument(
      'html',
      '<h1>T</h1><pre class="language-yaml"><code>policy:\n  keys:\n    rpm: 60\n</code></pre>' +
        '<table><thead><tr><th>status</th><th>code</th></tr></thead>' +
        '<tbody><tr><td>413</td><td>too <b>large</b> | big</td></tr></tbody></table><p>After.</p>',
    );
    expect(d.sections[0]?.text).toBe(
      '```yaml\npolicy:\n  keys:\n    rpm: 60\n```\n\n| status | code |\n| 413 | too large \\| big |\n\nAfter.',
    );
  });

  it('gives a table without <th> an empty header row, so its first row stays data', async () => {
    const d = await parseDocument('html', '<table><tr><td>KEEL_PORT</td><td>8787</td></tr></table>');
    expect(d.sections[0]?.text).toBe('|  |  |\n| KEEL_PORT | 8787 |');
  });

  it('uses the first h1 when there is no <title>', async () => {
    expect((await parseDocument('htm', '<h1>Heading</h1><p>x</p>')).title).toBe('Heading');
  });
});

describe('text parser and decoding', () => {
  it('takes a short first paragraph line as the title', async () => {
    const doc = await parseDocument('txt', 'A title\n\nBody line one.\nBody line two.');
    expect(doc.title).toBe('A title');
    expect(doc.sections).toEqual([{ headingPath: [], text: 'A title\n\nBody line one.\nBody line two.' }]);
  });

  it('indexes a given title with the text when the text does not start with it', async () => {
    expect((await parseDocument('txt', 'body', { title: 'T' })).sections[0]?.headingPath).toEqual(['T']);
    expect((await parseDocument('txt', 'T and body', { title: 'T' })).sections[0]?.headingPath).toEqual([]);
  });

  it('decodes UTF-8 bytes and rejects invalid or binary content with a typed error', async () => {
    expect((await parseDocument('txt', Buffer.from('\uFEFFcafé\r\nbar', 'utf8'))).sections[0]?.text).toBe(
      'café\nbar',
    );
    const bad = () => parseDocument('txt', Buffer.from([0x61, 0xff, 0xfe, 0x62]));
    await expect(bad()).rejects.toThrow(KeelError);
    await expect(bad()).rejects.toThrow(/not valid UTF-8/);
    await expect(parseDocument('txt', 'a\u0000b')).rejects.toThrow(/binary/);
  });

  it('maps extensions to formats and rejects unknown ones with unsupported_media_type', async () => {
    expect(formatFromPath('a/b.MD')).toBe('md');
    expect(formatFromPath('x.htm')).toBe('html');
    expect(formatFromPath('x.txt')).toBe('txt');
    expect(formatFromPath('Report.PDF')).toBe('pdf');
    expect(formatFromPath('notes.docx')).toBe('docx');
    expect(formatFromPath('people.csv')).toBe('csv');
    try {
      formatFromPath('report.xls');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KeelError);
      expect((e as KeelError).code).toBe('unsupported_media_type');
      expect((e as KeelError).message).toContain('.xls');
    }
    await expect(parseDocument('odt', 'x')).rejects.toThrow(/unsupported document format/);
    await expect(parseDocument('pdf', 'x')).rejects.toThrow(/binary: send its bytes/);
  });
});

describe('chunker', () => {
  const sentence = (i: number) => `Fact number ${i} says that component ${i % 9} handles request type ${i}.`;
  const paragraph = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => sentence(from + i)).join(' ');
  const doc = {
    title: 'Big',
    sections: [
      {
        headingPath: ['Big', 'Part one'],
        text: [paragraph(0, 3), paragraph(100, 60), paragraph(200, 4)].join('\n\n'),
      },
      { headingPath: ['Big', 'Part two'], text: `${'x'.repeat(4000)}\n\nshort tail` },
      { headingPath: ['Big', 'Part three'], text: 'Tiny section.' },
    ],
  };
  const opts = { chunkTokens: 120, overlapTokens: 30 };
  const chunks = chunkDocument(doc, opts);

  it('keeps every chunk (heading included) within the token budget', () => {
    expect(chunks.length).toBeGreaterThan(8);
    for (const c of chunks) {
      expect(c.tokenCount).toBe(countTokens(c.text));
      expect(countTokens(indexText(c))).toBeLessThanOrEqual(opts.chunkTokens + 1);
    }
  });

  it('never crosses a heading and keeps each chunk heading path and position', () => {
    expect(chunks.map((c) => c.position)).toEqual(chunks.map((_, i) => i));
    expect(chunks.at(-1)).toMatchObject({ heading: 'Big > Part three', text: 'Tiny section.' });
    for (const c of chunks) expect(c.heading).toBe(c.headingPath.join(' > '));
    const one = chunks.filter((c) => c.heading === 'Big > Part one');
    expect(one.every((c) => !c.text.includes('xxx'))).toBe(true);
  });

  it('overlaps consecutive chunks of a section', () => {
    const one = chunks.filter((c) => c.heading === 'Big > Part one');
    let overlapping = 0;
    for (let i = 1; i < one.length; i++) {
      const prev = one[i - 1]?.text ?? '';
      const firstSentence = (one[i]?.text ?? '').split('. ')[0] ?? '';
      if (prev.includes(firstSentence)) overlapping++;
    }
    expect(overlapping).toBeGreaterThanOrEqual(one.length - 2);
    // Every sentence of the source survives somewhere.
    const all = one.map((c) => c.text).join(' ');
    for (let i = 100; i < 160; i++) expect(all).toContain(sentence(i));
  });

  it('re-opens a code block cut between chunks, keeping its language and indentation', () => {
    const yaml = Array.from({ length: 40 }, (_, i) => `  key${i}:\n    value: ${i} # setting number ${i}`);
    const code = chunkDocument(
      {
        title: 'c',
        sections: [
          {
            headingPath: ['C'],
            text: `Set it up:\n\n\`\`\`yaml\nroot:\n${yaml.join('\n')}\n\`\`\`\n\nDone.`,
          },
        ],
      },
      opts,
    );
    expect(code.length).toBeGreaterThan(3);
    for (const c of code) {
      expect(countTokens(indexText(c))).toBeLessThanOrEqual(opts.chunkTokens + 1);
      const fences = c.text.split('\n').filter((l) => l.startsWith('```'));
      // Balanced: an opening line with the language, then a closing one.
      expect(fences.length % 2).toBe(0);
      if (c.text.includes('value:')) expect(fences[0]).toBe('```yaml');
    }
    expect(code[1]?.text.startsWith('```yaml\n  ')).toBe(true);
    expect(code.map((c) => c.text).join('\n')).toContain('  key39:\n    value: 39 # setting number 39');
  });

  it('repeats the header row of a table cut between chunks', () => {
    const rows = Array.from({ length: 40 }, (_, i) => `| ${400 + i} | code_${i} | what status ${i} means |`);
    const table = chunkDocument(
      {
        title: 't',
        sections: [{ headingPath: ['T'], text: `| status | code | when |\n${rows.join('\n')}` }],
      },
      opts,
    );
    expect(table.length).toBeGreaterThan(2);
    for (const c of table) {
      expect(c.text.split('\n')[0]).toBe('| status | code | when |');
      expect(countTokens(indexText(c))).toBeLessThanOrEqual(opts.chunkTokens + 1);
    }
    const seen = table.flatMap((c) => c.text.split('\n').slice(1));
    for (const r of rows) expect(seen).toContain(r);
  });

  it('carries whole sentences as overlap, so a chunk does not open mid-sentence', () => {
    // Paragraphs longer than the overlap: the overlap is their last sentence, not their last 30 tokens.
    const para = (p: number) =>
      Array.from(
        { length: 4 },
        (_, i) => `Sentence ${p}.${i} says how the keeper tends lamp ${p} at dusk.`,
      ).join(' ');
    const text = Array.from({ length: 12 }, (_, p) => para(p)).join('\n\n');
    const out = chunkDocument({ title: 't', sections: [{ headingPath: ['S'], text }] }, opts);
    expect(out.length).toBeGreaterThan(3);
    for (const c of out) expect(c.text).toMatch(/^Sentence \d+\.\d /);
    // ...and each later chunk does repeat the end of the one before it.
    for (let i = 1; i < out.length; i++) {
      const first = /^Sentence \d+\.\d [^.]*\./.exec(out[i]!.text)![0];
      expect(out[i - 1]!.text).toContain(first);
    }
  });

  it('never carries part of a table row into the next chunk', () => {
    // Rows longer than the overlap: the overlap would otherwise be a row's tail ("& budgets | ...").
    const rows = Array.from(
      { length: 30 },
      (_, i) =>
        `| Page ${i} & more | ${'what this page shows and where its figures come from '.repeat(2)}| GET /v1/p${i} |`,
    );
    const table = chunkDocument(
      { title: 't', sections: [{ headingPath: ['T'], text: `| page | what | API |\n${rows.join('\n')}` }] },
      opts,
    );
    expect(table.length).toBeGreaterThan(2);
    for (const c of table) {
      const [header, ...body] = c.text.split('\n');
      expect(header).toBe('| page | what | API |');
      for (const line of body) expect(rows).toContain(line);
    }
    expect(table.flatMap((c) => c.text.split('\n').slice(1))).toEqual(expect.arrayContaining(rows));
  });

  it('splits a run without breaks by tokens and keeps short documents whole', () => {
    const two = chunks.filter((c) => c.heading === 'Big > Part two');
    expect(two.length).toBeGreaterThan(2);
    expect(
      two
        .map((c) => c.text)
        .join('')
        .replace(/[^x]/g, '').length,
    ).toBeGreaterThanOrEqual(4000);
    expect(chunkDocument({ title: 't', sections: [{ headingPath: [], text: 'one\n\ntwo' }] })).toEqual([
      {
        position: 0,
        headingPath: [],
        heading: '',
        text: 'one\n\ntwo',
        tokenCount: countTokens('one\n\ntwo'),
      },
    ]);
  });
});
