import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { buildMessages, type PromptHit, packSources, retrievalQuery, systemMessage } from './prompt.ts';

const hit = (n: number, text: string, extra: Partial<PromptHit> = {}): PromptHit => ({
  chunkId: `chk_${n}`,
  documentId: `doc_${n}`,
  title: `Doc ${n}`,
  uri: `docs/${n}.md`,
  text,
  score: 1 / n,
  ...extra,
});

describe('packSources', () => {
  it('numbers hits from 1 in rank order', () => {
    const s = packSources([hit(1, 'alpha'), hit(2, 'beta')], 1_000);
    expect(s.map((x) => [x.index, x.chunkId, x.text])).toEqual([
      [1, 'chk_1', 'alpha'],
      [2, 'chk_2', 'beta'],
    ]);
  });

  it('stays within the token budget, skipping a hit that does not fit for a later one that does', () => {
    const long = 'word '.repeat(400);
    const s = packSources([hit(1, 'short one'), hit(2, long), hit(3, 'short two')], 120);
    expect(s.map((x) => x.chunkId)).toEqual(['chk_1', 'chk_3']);
    expect(s.map((x) => x.index)).toEqual([1, 2]);
    expect(countTokens(systemMessage(undefined, s))).toBeLessThan(
      120 + countTokens(systemMessage(undefined, [])) + 80,
    );
  });

  it('truncates the first hit when even it does not fit', () => {
    const s = packSources([hit(1, 'token '.repeat(1_000))], 100);
    expect(s).toHaveLength(1);
    expect(countTokens(s[0]!.text)).toBeLessThanOrEqual(100);
    expect(countTokens(s[0]!.text)).toBeGreaterThan(50);
  });
});

describe('prompt', () => {
  it('lists numbered sources with title and uri and asks for [n] citations', () => {
    const msg = systemMessage('Be brief.', packSources([hit(1, 'Keys are hashed.')], 500));
    expect(msg.startsWith('Be brief.')).toBe(true);
    expect(msg).toContain('[1] Doc 1 (docs/1.md)\nKeys are hashed.');
    expect(msg).toMatch(/\[1\] or \[2\]\[3\]/);
  });

  it("names each source's section when its heading says more than the title", () => {
    const hits = [
      hit(1, 'Revokes the key.', { heading: 'HTTP API > DELETE /v1/admin/keys/{id}' }),
      hit(2, 'Keys are hashed.', { title: 'API keys', heading: 'API keys' }),
    ];
    const msg = systemMessage(undefined, packSources(hits, 500));
    expect(msg).toContain(
      '[1] Doc 1 (docs/1.md)\nSection: HTTP API > DELETE /v1/admin/keys/{id}\nRevokes the key.',
    );
    expect(msg).toContain('[2] API keys (docs/2.md)\nKeys are hashed.');
  });

  it('says so when there are no sources', () => {
    expect(systemMessage(undefined, [])).toMatch(/No document matched/);
  });

  it('puts the app system message before the conversation', () => {
    const m = buildMessages(
      undefined,
      [],
      [
        { role: 'system', content: 'client system' },
        { role: 'user', content: 'q' },
      ],
    );
    expect(m.map((x) => x.role)).toEqual(['system', 'system', 'user']);
  });

  it('retrieves for the latest user message, text parts joined', () => {
    expect(
      retrievalQuery([
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        {
          role: 'user',
          content: [{ type: 'text', text: 'second' }, { type: 'image_url' }, { type: 'text', text: 'part' }],
        },
      ]),
    ).toBe('second\npart');
  });
});
