import { normalizeText, STOPWORDS, stem, words } from '../rag/text.ts';
import type { EmbeddingProvider, EmbeddingResult } from './types.ts';

export interface HashingEmbedderOptions {
  /** Provider instance id from config (default `hashing`). */
  id?: string;
  /** Output dimension (default 512). */
  dimensions?: number;
  /** Feature family weights and character n-gram range; the defaults are what the benchmark measured. */
  features?: Partial<HashingFeatures>;
}

export interface HashingFeatures {
  unigram: number;
  bigram: number;
  chargram: number;
  minGram: number;
  maxGram: number;
}

// Relative weights of the three feature families. Word unigrams carry the meaning; bigrams reward
// shared phrases; character n-grams (3-5, within words) let related forms and misspellings overlap.
// Per n-gram weight is small because a word yields about 15 of them.
export const DEFAULT_FEATURES: HashingFeatures = {
  unigram: 1,
  bigram: 0.6,
  chargram: 0.2,
  minGram: 3,
  maxGram: 5,
};

// Distinct FNV offset bases keep the feature families in separate hash spaces.
const SEED_UNIGRAM = 0x811c9dc5;
const SEED_BIGRAM = 0x01000193;
const SEED_CHARGRAM = 0x5bd1e995;
const BOUNDARY = 0x2f; // '/' marks word start and end in character n-grams

function fnv1a(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: spreads FNV's weak low bits before they pick a bucket and a sign. */
function fmix(h0: number): number {
  let h = h0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The built-in, offline embedder: deterministic feature hashing (signed, so collisions cancel
 * instead of piling up) of normalised word unigrams, word bigrams and in-word character 3-5-grams,
 * weighted by sublinear term frequency (1 + ln tf) and L2-normalised. No model, no network, about
 * 20 µs per sentence; similarity is lexical, not semantic.
 */
export class HashingEmbedder implements EmbeddingProvider {
  readonly id: string;
  readonly model = 'hashing';
  readonly dimensions: number;
  readonly #f: HashingFeatures;

  constructor(opts: HashingEmbedderOptions = {}) {
    this.id = opts.id ?? 'hashing';
    this.dimensions = opts.dimensions ?? 512;
    this.#f = { ...DEFAULT_FEATURES, ...opts.features };
    if (!Number.isInteger(this.dimensions) || this.dimensions < 8) {
      throw new RangeError(`hashing dimensions must be an integer >= 8, got ${this.dimensions}`);
    }
  }

  async embed(input: string[]): Promise<EmbeddingResult> {
    const vectors: number[][] = new Array(input.length);
    let tokens = 0;
    for (let i = 0; i < input.length; i++) {
      const { vector, wordCount } = this.embedText(input[i] as string);
      vectors[i] = Array.from(vector);
      tokens += wordCount;
    }
    return { vectors, usage: { promptTokens: tokens, totalTokens: tokens } };
  }

  /** One text's unit vector (all zeros for text without words) and its word count. */
  embedText(text: string): { vector: Float32Array; wordCount: number } {
    const f = this.#f;
    const uni = new Map<number, number>();
    const bi = new Map<number, number>();
    const grams = new Map<number, number>();
    const toks = words(normalizeText(text));
    let prev = -1;
    for (const tok of toks) {
      if (STOPWORDS.has(tok)) {
        prev = -1;
        continue;
      }
      const hu = fnv1a(stem(tok), SEED_UNIGRAM);
      count(uni, hu);
      if (prev !== -1 && f.bigram > 0) count(bi, (Math.imul(prev, 31) ^ hu ^ SEED_BIGRAM) >>> 0);
      prev = hu;
      if (f.chargram > 0 && tok.length >= f.minGram - 2) addCharGrams(tok, grams, f.minGram, f.maxGram);
    }
    const v = new Float32Array(this.dimensions);
    project(uni, f.unigram, v);
    project(bi, f.bigram, v);
    project(grams, f.chargram, v);
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += (v[i] as number) ** 2;
    if (norm > 0) {
      const inv = 1 / Math.sqrt(norm);
      for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * inv;
    }
    return { vector: v, wordCount: toks.length };
  }
}

function count(m: Map<number, number>, h: number): void {
  m.set(h, (m.get(h) ?? 0) + 1);
}

/** Adds each feature's sublinear weight into its signed bucket. */
function project(features: Map<number, number>, weight: number, v: Float32Array): void {
  const dim = v.length;
  for (const [h, tf] of features) {
    const f = fmix(h);
    const value = weight * (1 + Math.log(tf));
    const i = f % dim;
    v[i] = (v[i] as number) + (f & 0x80000000 ? -value : value);
  }
}

function addCharGrams(word: string, grams: Map<number, number>, minGram: number, maxGram: number): void {
  // Grams over `/word/` without building substrings: hash forward from each start position.
  const n = word.length + 2;
  const code = (i: number) => (i === 0 || i === n - 1 ? BOUNDARY : word.charCodeAt(i - 1));
  for (let start = 0; start + minGram <= n; start++) {
    let h = SEED_CHARGRAM;
    for (let len = 1; len <= maxGram && start + len <= n; len++) {
      h = Math.imul(h ^ code(start + len - 1), 0x01000193);
      if (len >= minGram) count(grams, h >>> 0);
    }
  }
}
