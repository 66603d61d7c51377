import { describe, expect, it } from 'vitest';
import { contentTerms, sourceUnits, splitSentences } from './extractive-text.ts';

describe('splitSentences', () => {
  it('splits prose at sentence ends', () => {
    expect(splitSentences('Keel is a gateway. It runs anywhere! Does it? Yes.')).toEqual([
      'Keel is a gateway.',
      'It runs anywhere!',
      'Does it?',
      'Yes.',
    ]);
  });

  it('does not split after abbreviations, initials, dotted acronyms, numbers or file names', () => {
    const s =
      'Use a provider, e.g. OpenAI or vLLM. Dr. Smith and J. R. Tolkien met in the U.S. Army. Version 1.5 reads keel.yaml first. Done.';
    expect(splitSentences(s)).toEqual([
      'Use a provider, e.g. OpenAI or vLLM.',
      'Dr. Smith and J. R. Tolkien met in the U.S. Army.',
      'Version 1.5 reads keel.yaml first.',
      'Done.',
    ]);
  });

  it('splits before a quote, a code span or a digit, not before lower case', () => {
    expect(splitSentences('Run it. `keel serve` starts. 3 things happen. then no split.')).toEqual([
      'Run it.',
      '`keel serve` starts.',
      '3 things happen. then no split.',
    ]);
  });
});

describe('sourceUnits', () => {
  it('drops headings, keeps bullets as items, short commands inline and code blocks whole', () => {
    const md = [
      '# Creating keys',
      '',
      'Keys are created by an admin. They are shown once.',
      '',
      '- Each key has a tenant and a role',
      '* Keys may have an allow-list',
      '',
      '```sh',
      'keel keys create --name ci',
      '```',
      '',
      '```yaml',
      '  policy:',
      '    keys:',
      '      limits: { rpm: 60 }',
      '      budget: { dailyUsd: 5 }',
      '```',
      '',
      '```js',
      ...Array.from({ length: 13 }, (_, i) => `step${i}()`),
      '```',
      '',
      '```sh',
      'curl -X DELETE http://127.0.0.1:8787/v1/admin/keys/key_1 \\',
      '  -H "Authorization: Bearer $KEY"',
      '```',
      '',
      '| Variable | Default |',
      '| --- | --- |',
      '| KEEL_PORT | 8787 |',
      '',
      '| status | code | when |',
      '| 429 | rate_limit_exceeded | over a limit |',
    ].join('\n');
    const units = sourceUnits(md, 0);
    expect(units.map((u) => [u.text, u.item, u.code])).toEqual([
      ['Keys are created by an admin.', false, false],
      ['They are shown once.', false, false],
      ['Each key has a tenant and a role', true, false],
      ['Keys may have an allow-list', true, false],
      ['`keel keys create --name ci`', true, false],
      // Dedented, fences and language kept; the 13-line listing is too long to quote.
      ['```yaml\npolicy:\n  keys:\n    limits: { rpm: 60 }\n    budget: { dailyUsd: 5 }\n```', false, true],
      // A command continued over lines stays a block, not two inline pieces.
      [
        '```sh\ncurl -X DELETE http://127.0.0.1:8787/v1/admin/keys/key_1 \\\n  -H "Authorization: Bearer $KEY"\n```',
        false,
        true,
      ],
      // A table row reads with its header: two columns as "name: value", wider ones cell by cell.
      ['KEEL_PORT: 8787', true, false],
      ['status: 429; code: rate_limit_exceeded; when: over a limit', true, false],
    ]);
    expect([...units[0]!.context.keys()]).toEqual(contentTerms('Creating keys'));
    expect([...units.at(-1)!.context.keys()]).toEqual([
      ...contentTerms('Creating keys'),
      ...contentTerms('status code when'),
    ]);
  });

  it('quotes a short list item of several sentences whole, and splits a long one', () => {
    const long = Array.from({ length: 12 }, (_, i) => `Sentence ${i} says five more words.`).join(' ');
    const units = sourceUnits(
      `- unchanged: documents that did not change. Nothing is written for them.\n- ${long}\n\n\`\`\`sh\nnpm start\n\`\`\``,
      0,
    );
    expect(units[0]).toMatchObject({
      text: 'unchanged: documents that did not change. Nothing is written for them.',
      item: true,
    });
    expect(units.filter((u) => u.text.startsWith('Sentence '))).toHaveLength(12);
    // A two-word command in a code block is still an answer.
    expect(units.at(-1)).toMatchObject({ text: '`npm start`', item: true });
  });

  it('never quotes a block labelled as output', () => {
    const md =
      '```text\n$ keel ask "how do I revoke a key?"\nRevoke it with keel keys revoke.\n```\n\n```sh\nkeel keys revoke key_1\n```';
    expect(sourceUnits(md, 0).map((u) => u.text)).toEqual(['`keel keys revoke key_1`']);
  });

  it('keeps an escaped pipe inside its table cell', () => {
    const units = sourceUnits('| flag | meaning |\n| a \\| b | either a or b |', 0);
    expect(units.map((u) => u.text)).toEqual(['a | b: either a or b']);
  });

  it('never takes a command or a table row for a heading of plain text', () => {
    const units = sourceUnits('```sh\nkeel keys revoke key_1\n```\n\nor\n\nRevocation is permanent.', 0);
    expect(units.map((u) => u.text)).toEqual(['`keel keys revoke key_1`', 'Revocation is permanent.']);
  });

  it('skips a leading lower-case fragment left by chunk overlap, and cleans markdown links and emphasis', () => {
    const units = sourceUnits('of the previous sentence. See the **API** [guide](api.md) for details.', 3);
    expect(units.map((u) => u.text)).toEqual(['See the API guide for details.']);
    expect(units[0]!.source).toBe(3);
    // A fragment may start with the end of a number or a closing bracket as well.
    const cut = sourceUnits(
      '50), cursor. request_id finds the trace of a request. Filters narrow the list.',
      0,
    );
    expect(cut.map((u) => u.text)).toEqual(['Filters narrow the list.']);
  });

  it('infers headings in plain text and gives list items their lead-in as context', () => {
    const txt =
      'Setup steps\n\nBefore you start, check these:\n\n- Node 20 is installed\n- A data folder exists\n\nThat covers the setup.';
    const units = sourceUnits(txt, 0);
    expect(units.map((u) => u.text)).toEqual([
      'Node 20 is installed',
      'A data folder exists',
      'That covers the setup.',
    ]);
    expect(units[0]!.leadIn).toBe(true);
    expect(units[0]!.context.has('check')).toBe(true);
    expect(units[2]!.leadIn).toBe(false);
  });

  it('quotes the sentences of a paragraph before its closing lead-in, and gives the lead-in to the block after', () => {
    const units = sourceUnits(
      'Latency percentiles come from the stored traces. The p95 per hour:\n\n```bash\ncurl /v1/stats\n```',
      0,
    );
    expect(units.map((u) => u.text)).toEqual([
      'Latency percentiles come from the stored traces.',
      '`curl /v1/stats`',
    ]);
    expect(units[0]!.context.size).toBe(0);
    expect([...units[1]!.context.keys()]).toEqual(['p95', 'per', 'hour']);
  });

  it("takes a paragraph's run-in heading as the context of its sentences, not as a sentence", () => {
    const units = sourceUnits(
      '## rag\n\n**Chunking.** Documents are split by headings. Each piece is counted in tokens.\n\nNext paragraph here.',
      0,
    );
    expect(units.map((u) => u.text)).toEqual([
      'Documents are split by headings.',
      'Each piece is counted in tokens.',
      'Next paragraph here.',
    ]);
    expect([...units[0]!.context.keys()]).toEqual(['rag', 'chunk']);
    expect(units[1]!.context.has('chunk')).toBe(true);
    expect(units[2]!.context.has('chunk')).toBe(false);
  });
});

describe('contentTerms', () => {
  it('drops stop words and question filler, and stems', () => {
    expect(contentTerms('How do I create an API key, please?')).toEqual(['creat', 'api', 'key']);
    expect(contentTerms('What happens when a budget is exceeded?')).toEqual(['budget', 'exceed']);
  });
});
