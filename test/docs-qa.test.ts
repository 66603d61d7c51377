import { beforeAll, describe, expect, it } from 'vitest';
import { type DocsQaRun, runDocsQa } from '../bench/docs-qa/docs-qa.ts';

/**
 * The first-start promise, held by CI: with nothing configured, the default app answers the questions
 * of bench/docs-qa about Keel's own docs, citing a document that answers each one, and says plainly
 * when a question is not about them. `npm run bench:docs-qa` reports the finer figures.
 */

let run: DocsQaRun;

beforeAll(async () => {
  run = await runDocsQa();
}, 120_000);

describe('docs QA through the default app', () => {
  it('answers every question without an error (none is taken for an attack)', () => {
    expect(run.cases.filter((c) => c.error).map((c) => `${c.id}: ${c.error}`)).toEqual([]);
  });

  it('answers every question the docs answer, citing a document that answers it', () => {
    const answerable = run.cases.filter((c) => c.gold);
    expect(answerable.length).toBeGreaterThanOrEqual(30);
    const missed = answerable
      .filter((c) => c.nothingFound || !c.cited.some((id) => c.gold!.includes(id)))
      .map((c) => `${c.id}: cites ${c.cited.join(', ') || 'nothing'}`);
    expect(missed).toEqual([]);
  });

  it("opens the README tour's answers with a document that answers them", () => {
    const tour = run.cases.filter((c) => c.tags.includes('readme'));
    expect(tour.map((c) => c.input)).toEqual(
      expect.arrayContaining(['How do I create an API key?', 'How does Keel chunk documents?']),
    );
    const misled = tour
      .filter((c) => !c.gold!.includes(c.cited[0] ?? ''))
      .map((c) => `${c.id}: first cites ${c.cited[0] ?? 'nothing'}`);
    expect(misled).toEqual([]);
  });

  it('says "nothing found" to questions the docs do not answer', () => {
    const offTopic = run.cases.filter((c) => !c.gold);
    expect(offTopic.length).toBeGreaterThanOrEqual(2);
    expect(offTopic.filter((c) => !c.nothingFound).map((c) => c.id)).toEqual([]);
  });

  it('ranks a document that answers in the top 3 for nearly every question', () => {
    expect(run.metrics['hit@3']).toBeGreaterThanOrEqual(0.9);
  });
});
