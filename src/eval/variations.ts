import { KeelError } from '../errors.ts';
import { normalizeAnswer, stripCitations, tokenF1 } from './answer.ts';
import { dedupe } from './retrieval.ts';

/**
 * Deterministic perturbations of an eval input (the same input and seed always give the same
 * variations, so two runs are comparable) and the consistency of answers and retrieval across them.
 */

export type VariationKind = 'lowercase' | 'uppercase' | 'whitespace' | 'typo' | 'paraphrase' | 'suffix';

/** `--variations` kinds parsed from a comma list (`typo,case`); `case` means both case kinds. */
export function parseVariationKinds(list: string): VariationKind[] {
  const out = new Set<VariationKind>();
  for (const raw of list.split(',').map((s) => s.trim().toLowerCase())) {
    if (!raw) continue;
    if (raw === 'case') {
      out.add('lowercase');
      out.add('uppercase');
    } else if (['lowercase', 'uppercase', 'whitespace', 'typo', 'paraphrase', 'suffix'].includes(raw)) {
      out.add(raw as VariationKind);
    } else {
      throw new KeelError('invalid_request', `unknown variation '${raw}'`, { param: 'variations' });
    }
  }
  return [...out];
}

export const VARIATION_KINDS: readonly VariationKind[] = [
  'lowercase',
  'uppercase',
  'whitespace',
  'typo',
  'paraphrase',
  'suffix',
];

export interface Variation {
  kind: VariationKind;
  text: string;
}

const PARAPHRASES = [
  (q: string) => `Can you tell me: ${q}`,
  (q: string) => `I would like to know ${lowerFirst(q)}`,
  (q: string) => `Question: ${q}`,
  (q: string) => `Please answer this. ${q}`,
];

const SUFFIXES = [
  ' Thanks in advance!',
  ' (asking for a colleague)',
  ' By the way, the weather is nice today.',
  ' Please be brief.',
];

/** mulberry32: a tiny, well-distributed 32-bit PRNG; plenty for picking typo positions. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/**
 * Swaps two adjacent letters inside one or two words of at least four letters (never the first
 * letter, which readers and spell-checkers anchor on). Inputs without such words come back unchanged.
 */
export function addTypos(text: string, rnd: () => number): string {
  const spans = [...text.matchAll(/\p{L}{4,}/gu)].map((m) => ({ start: m.index ?? 0, word: m[0] }));
  if (spans.length === 0) return text;
  const count = spans.length >= 6 ? 2 : 1;
  const chars = [...text];
  const picked = new Set<number>();
  for (let n = 0; n < count && picked.size < spans.length; n++) {
    let i = Math.floor(rnd() * spans.length);
    while (picked.has(i)) i = (i + 1) % spans.length;
    picked.add(i);
    const { start, word } = spans[i]!;
    const cpStart = [...text.slice(0, start)].length;
    const letters = [...word];
    const span = letters.length - 2;
    let at = 1 + Math.floor(rnd() * span);
    // Prefer a pair of different letters, so the swap is visible ("ll" would stay "ll").
    for (let tries = 0; tries < span && letters[at] === letters[at + 1]; tries++)
      at = 1 + ((at - 1 + 1) % span);
    const a = cpStart + at;
    [chars[a], chars[a + 1]] = [chars[a + 1]!, chars[a]!];
  }
  return chars.join('');
}

function messWhitespace(text: string): string {
  const parts = text.trim().split(/\s+/);
  // Double every other gap, a tab in the middle, and padding at both ends.
  return `  ${parts.map((p, i) => (i === 0 ? p : (i === Math.floor(parts.length / 2) ? '\t' : i % 2 ? '  ' : ' ') + p)).join('')} \n`;
}

export interface VariationOptions {
  /** Which kinds to make (default: all). */
  kinds?: readonly VariationKind[] | undefined;
  /** Changes which typos, paraphrase templates and suffixes are picked (default 0). */
  seed?: number | undefined;
}

/** One variation per kind; a kind that would leave the input unchanged is left out. */
export function makeVariations(input: string, opts: VariationOptions = {}): Variation[] {
  const kinds = opts.kinds ?? VARIATION_KINDS;
  const rnd = prng(hash32(input, opts.seed ?? 0));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: Variation[] = [];
  for (const kind of kinds) {
    let text: string;
    switch (kind) {
      case 'lowercase':
        text = input.toLowerCase();
        break;
      case 'uppercase':
        text = input.toUpperCase();
        break;
      case 'whitespace':
        text = messWhitespace(input);
        break;
      case 'typo':
        text = addTypos(input, rnd);
        break;
      case 'paraphrase':
        text = pick(PARAPHRASES)(input.trim());
        break;
      case 'suffix':
        text = input.trimEnd() + pick(SUFFIXES);
        break;
    }
    if (text !== input) out.push({ kind, text });
  }
  return out;
}

export interface Observation {
  answer: string;
  retrievedIds: readonly string[];
}

export interface Consistency {
  /** Mean Jaccard similarity of the top-k document sets, variant vs original. */
  retrieval: number;
  /** Share of variants whose top-k document set equals the original's. */
  retrievalAgreement: number;
  /** Mean token F1 of each variant's answer against the original answer. */
  answer: number;
  /** Share of variants whose normalised answer equals the original's. */
  answerAgreement: number;
}

export function jaccard(a: readonly string[], b: readonly string[]): number {
  const sa = new Set(a);
  const sb = new Set(b);
  if (sa.size === 0 && sb.size === 0) return 1;
  let inter = 0;
  for (const x of sa) if (sb.has(x)) inter++;
  return inter / (sa.size + sb.size - inter);
}

/** How much the variants (and repeats) agree with the original observation. Undefined with no variants. */
export function consistency(
  original: Observation,
  variants: readonly Observation[],
  k: number,
): Consistency | undefined {
  if (variants.length === 0) return undefined;
  const top = (o: Observation) => dedupe(o.retrievedIds).slice(0, k);
  const baseIds = top(original);
  const baseAnswer = stripCitations(original.answer);
  let retrieval = 0;
  let retrievalSame = 0;
  let answer = 0;
  let answerSame = 0;
  for (const v of variants) {
    const j = jaccard(baseIds, top(v));
    retrieval += j;
    if (j === 1) retrievalSame++;
    const va = stripCitations(v.answer);
    answer += tokenF1(va, baseAnswer);
    if (normalizeAnswer(va) === normalizeAnswer(baseAnswer)) answerSame++;
  }
  const n = variants.length;
  return {
    retrieval: retrieval / n,
    retrievalAgreement: retrievalSame / n,
    answer: answer / n,
    answerAgreement: answerSame / n,
  };
}
