import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeelError } from '../src/errors.ts';
import { parseDocument } from '../src/rag/parse/index.ts';
import { makeDocx, makePdf } from './helpers/documents.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';

describe('PDF, Word and CSV parsers', () => {
  it('reads a PDF page by page, with the page as the heading and its Info title', async () => {
    const pdf = makePdf(
      [
        ['Anchoring', 'Drop the anchor windward of the mooring buoy.'],
        ['Sails', 'Reef the mainsail before the squall arrives.'],
      ],
      'Seamanship notes',
    );
    const doc = await parseDocument('pdf', pdf, { uri: 'notes.pdf' });
    expect(doc.title).toBe('Seamanship notes');
    expect(doc.sections).toEqual([
      { headingPath: ['Page 1'], text: 'Anchoring\nDrop the anchor windward of the mooring buoy.' },
      { headingPath: ['Page 2'], text: 'Sails\nReef the mainsail before the squall arrives.' },
    ]);
    // Without an Info title: the first line of the first page.
    expect((await parseDocument('pdf', makePdf([['Tide tables', 'Spring tides rise high.']]))).title).toBe(
      'Tide tables',
    );
  });

  it('rejects bytes that are not a PDF, and a PDF without text, with a clear error', async () => {
    await expect(parseDocument('pdf', new TextEncoder().encode('hello'))).rejects.toThrow(
      /not a readable PDF/,
    );
    await expect(parseDocument('pdf', makePdf([[]]))).rejects.toThrow(/no text layer/);
    await expect(parseDocument('pdf', new TextEncoder().encode('hello'))).rejects.toBeInstanceOf(KeelError);
  });

  it('reads a .docx with its headings as sections', async () => {
    const docx = await makeDocx([
      '# Sails',
      'Reef the mainsail before the squall arrives.',
      '## Storm jib',
      'Hank on the storm jib & sheet it hard.',
    ]);
    const doc = await parseDocument('docx', docx);
    expect(doc.title).toBe('Sails');
    expect(doc.sections).toEqual([
      { headingPath: ['Sails'], text: 'Reef the mainsail before the squall arrives.' },
      { headingPath: ['Sails', 'Storm jib'], text: 'Hank on the storm jib & sheet it hard.' },
    ]);
    await expect(parseDocument('docx', Buffer.from('not a zip'))).rejects.toThrow(/not a readable .docx/);
  });

  it('reads a CSV as one line per record, each field named by its column', async () => {
    const csv = 'name;role;notes\nAda;engineer;"likes ""engines""; and maths"\nGrace;;admiral\n';
    const doc = await parseDocument('csv', csv, { uri: 'crew.csv' });
    expect(doc.title).toBe('crew');
    expect(doc.sections).toEqual([
      {
        headingPath: [],
        text: 'name: Ada; role: engineer; notes: likes "engines"; and maths\nname: Grace; notes: admiral',
      },
    ]);
    await expect(parseDocument('csv', 'a,b\n"unclosed,1\n')).rejects.toThrow(/not valid CSV/);
  });
});

describe('ingesting PDF and Word documents through the API', () => {
  let t: TestKeel;
  beforeAll(async () => {
    t = await startKeel();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers from a PDF and a .docx, citing them', async () => {
    const pdf = makePdf([['Mooring', 'Secure the bow line to the forward cleat first.']], 'Mooring guide');
    const docx = await makeDocx(['# Provisioning', 'Stow fresh water in the keel tanks before departure.']);
    const ing = await api(t, 'POST', '/v1/collections/default/documents', {
      body: {
        documents: [
          { uri: 'guides/mooring.pdf', content_base64: Buffer.from(pdf).toString('base64') },
          { uri: 'guides/provisioning.docx', content_base64: docx.toString('base64') },
        ],
      },
    });
    expect(ing.body).toMatchObject({ documents: 2, errors: [] });
    for (const [question, uri, words] of [
      ['Which line is secured to the forward cleat first?', 'guides/mooring.pdf', /bow line/],
      ['Where is fresh water stowed before departure?', 'guides/provisioning.docx', /keel tanks/],
    ] as const) {
      const res = await api(t, 'POST', '/v1/chat/completions', {
        body: { model: 'default', messages: [{ role: 'user', content: question }] },
      });
      const body = res.body as { choices: { message: { content: string } }[]; citations: { uri: string }[] };
      expect(body.choices[0]?.message.content).toMatch(words);
      expect(body.citations.map((c) => c.uri)).toContain(uri);
    }
  });
});
