import { HashingEmbedder } from '../providers/hashing.ts';

/**
 * Answer quality against a reference (SQuAD exact match and token F1, ROUGE-L) and against the
 * question (answer relevance). All deterministic, offline and dependency-free.
 */

// Python's string.punctuation, which SQuAD's official script strips.
const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
const ARTICLES = /\b(a|an|the)\b/g;
const CITATION = /\s*\[\d+(?:\s*[,-]\s*\d+)*\]/g;

/** Removes `[1]`, `[2, 3]` citation markers so they do not count as answer words. */
export function stripCitations(text: string): string {
  return text.replace(CITATION, '');
}

/** SQuAD v1.1's normalize_answer: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  let out = '';
  for (const ch of s.toLowerCase()) if (!PUNCTUATION.has(ch)) out += ch;
  return out.replace(ARTICLES, ' ').split(/\s+/).filter(Boolean).join(' ');
}

const tokens = (s: string): string[] => {
  const n = normalizeAnswer(s);
  return n ? n.split(' ') : [];
};

const refs = (reference: string | readonly string[]): readonly string[] =>
  typeof reference === 'string' ? [reference] : reference;

/** 1 when the normalised answer equals a normalised reference, else 0. */
export function exactMatch(prediction: string, reference: string | readonly string[]): number {
  const p = normalizeAnswer(prediction);
  return refs(reference).some((r) => normalizeAnswer(r) === p) ? 1 : 0;
}

/** SQuAD token F1 (bag of normalised tokens), the best over the references. */
export function tokenF1(prediction: string, reference: string | readonly string[]): number {
  const p = tokens(prediction);
  let best = 0;
  for (const r of refs(reference)) best = Math.max(best, f1(p, tokens(r)));
  return best;
}

function f1(pred: string[], gold: string[]): number {
  if (pred.length === 0 || gold.length === 0) return pred.length === gold.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of gold) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of pred) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / pred.length;
  const recall = same / gold.length;
  return (2 * precision * recall) / (precision + recall);
}

/** ROUGE's default tokenizer: lower case, runs of letters and digits (no stemming, no stop words). */
function rougeTokens(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Length of the longest common subsequence of two token lists (O(n·m) time, O(m) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] =
        a[i - 1] === b[j - 1]
          ? (prev[j - 1] as number) + 1
          : Math.max(prev[j] as number, cur[j - 1] as number);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] as number;
}

/** ROUGE-L F-measure (β = 1) over tokens, the best over the references. */
export function rougeL(prediction: string, reference: string | readonly string[]): number {
  const p = rougeTokens(prediction);
  let best = 0;
  for (const r of refs(reference)) {
    const g = rougeTokens(r);
    const lcs = lcsLength(p, g);
    if (lcs === 0) continue;
    const precision = lcs / p.length;
    const recall = lcs / g.length;
    best = Math.max(best, (2 * precision * recall) / (precision + recall));
  }
  return best;
}

let defaultEmbedder: HashingEmbedder | undefined;

/**
 * How much the answer is about the question: cosine similarity of their embeddings by the offline
 * hashing embedder (lexical: shared words, phrases and word pieces), clamped to [0, 1].
 */
export function answerRelevance(question: string, answer: string, embedder?: HashingEmbedder): number {
  defaultEmbedder ??= new HashingEmbedder();
  const e = embedder ?? defaultEmbedder;
  const q = e.embedText(question).vector;
  const a = e.embedText(stripCitations(answer)).vector;
  let dot = 0;
  for (let i = 0; i < q.length; i++) dot += (q[i] as number) * (a[i] as number);
  // Both are unit vectors (or zero), so the dot product is the cosine.
  return Math.min(1, Math.max(0, dot));
}
