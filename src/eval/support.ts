import { normalizeText, STOPWORDS, stem, words } from '../rag/text.ts';
import { stripCitations } from './answer.ts';

/**
 * Lexical groundedness of an answer in its sources, for runs whose answers carry no guard score:
 * each answer sentence is supported when most of its content words occur in the sources and every
 * number in it does. The score is the share of supported sentences (RAGAS-style: supported
 * statements over all statements). Same contract as the guard's grounding check: sources in,
 * a 0..1 score and per-sentence spans out.
 */

export interface SupportSource {
  text: string;
}

export interface SentenceSupport {
  /** Offsets into the answer as given. */
  start: number;
  end: number;
  /** Share of the sentence's content words found in the sources. */
  coverage: number;
  /** Numbers in the sentence missing from every source. */
  missingNumbers: number;
  supported: boolean;
}

export interface SupportResult {
  /** Supported sentences / checkable sentences; null when the answer has no checkable sentence. */
  score: number | null;
  sentences: SentenceSupport[];
}

/** Share of content words a sentence needs in the sources to count as supported. */
export const SUPPORT_THRESHOLD = 0.7;

// A sentence ends at . ! ? followed by white space (so 3.5 stays whole), at a line break, or at the end.
const SENTENCE = /\S[^\n]*?(?:[.!?]+(?=\s|$)|(?=\n)|$)/g;
const HAS_DIGIT = /\d/;

function contentTokens(text: string): string[] {
  return words(normalizeText(text))
    .filter((w) => !STOPWORDS.has(w))
    .map((w) => (HAS_DIGIT.test(w) ? w : stem(w)));
}

export function supportScore(answer: string, sources: readonly SupportSource[]): SupportResult {
  const vocabulary = new Set<string>();
  for (const s of sources) for (const t of contentTokens(s.text)) vocabulary.add(t);
  const sentences: SentenceSupport[] = [];
  for (const m of answer.matchAll(SENTENCE)) {
    const raw = m[0];
    const toks = contentTokens(stripCitations(raw));
    if (toks.length === 0) continue;
    let found = 0;
    let missingNumbers = 0;
    for (const t of toks) {
      if (vocabulary.has(t)) found++;
      else if (HAS_DIGIT.test(t)) missingNumbers++;
    }
    const coverage = found / toks.length;
    const start = m.index ?? 0;
    sentences.push({
      start,
      end: start + raw.trimEnd().length,
      coverage,
      missingNumbers,
      supported: coverage >= SUPPORT_THRESHOLD && missingNumbers === 0,
    });
  }
  if (sentences.length === 0) return { score: null, sentences };
  return { score: sentences.filter((s) => s.supported).length / sentences.length, sentences };
}
