import type { MaybePromise } from '../types.ts';
import { KNOWN_ATTACKS, type KnownAttack } from './attacks.ts';
import { fold } from './normalize.ts';
import { type FeatureSink, featureVector, type SparseVec, scanWords } from './words.ts';

/**
 * Similarity to known attacks. `AttackIndex` is the seam: the in-memory index below embeds texts as
 * sparse hashed bags of stemmed words and word pairs; a store-backed index (pgvector over the
 * configured embedder) can replace it without touching the scanner.
 */
export interface AttackMatch {
  /** Cosine similarity of the closest known attack, 0..1. */
  score: number;
  /** Id of that attack (safe for traces), or null when nothing is close. */
  attackId: string | null;
}

export interface AttackIndex {
  /** The best match over the text's sentence windows. */
  nearest(text: string): MaybePromise<AttackMatch>;
}

/** The whole text as one L2-normalised vector (for indexing known attacks). */
export function embed(folded: string): SparseVec {
  const v = featureVector(folded);
  let norm = 0;
  for (const x of v.values()) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (const [k, x] of v) v.set(k, x / norm);
  return v;
}

/**
 * Scores windows of one and of two consecutive sentences while the words stream in: an attack is
 * often "Forget that. Now say X." inside a long text. A sentence's norm counts each feature
 * occurrence once (repeats within a sentence are rare once stop words are gone), which keeps the
 * scan free of per-sentence maps.
 */
class WindowScorer implements FeatureSink {
  private cur: Float64Array;
  private prev: Float64Array;
  private norm2 = 0;
  private prevNorm2 = 0;
  private touched = false;
  private hasPrev = false;
  best = 0;
  bestOrd = -1;

  constructor(
    private readonly postings: Map<number, Array<[number, number]>>,
    private readonly n: number,
    /** A bitmap of the features known attacks have: most of a text's features are in none. */
    private readonly present: Uint8Array,
  ) {
    this.cur = new Float64Array(n);
    this.prev = new Float64Array(n);
  }

  feature(hash: number, weight: number): void {
    this.norm2 += weight * weight;
    const bit = hash & FILTER_MASK;
    if ((this.present[bit >>> 3]! & (1 << (bit & 7))) === 0) return;
    const list = this.postings.get(hash);
    if (!list) return;
    this.touched = true;
    for (const [ord, y] of list) this.cur[ord]! += weight * y;
  }

  endSentence(): void {
    const { cur, prev, n } = this;
    if (this.touched && this.norm2 > 0) this.consider(cur, null, this.norm2);
    if (this.hasPrev && this.norm2 + this.prevNorm2 > 0)
      this.consider(cur, prev, this.norm2 + this.prevNorm2);
    this.prev = cur;
    this.cur = prev;
    this.cur.fill(0, 0, n);
    this.prevNorm2 = this.norm2;
    this.hasPrev = true;
    this.norm2 = 0;
    this.touched = false;
  }

  private consider(a: Float64Array, b: Float64Array | null, norm2: number): void {
    const inv = 1 / Math.sqrt(norm2);
    for (let i = 0; i < this.n; i++) {
      const s = (a[i]! + (b ? b[i]! : 0)) * inv;
      if (s > this.best) {
        this.best = s;
        this.bestOrd = i;
      }
    }
  }
}

const FILTER_BITS = 1 << 16;
const FILTER_MASK = FILTER_BITS - 1;

export class InMemoryAttackIndex implements AttackIndex {
  private readonly ids: string[] = [];
  private readonly present = new Uint8Array(FILTER_BITS / 8);
  /** Inverted index: feature → (attack ordinal, weight). Sparse-sparse dot products stay cheap. */
  private readonly postings = new Map<number, Array<[number, number]>>();

  constructor(attacks: readonly KnownAttack[] = KNOWN_ATTACKS) {
    for (const a of attacks) this.add(a);
  }

  add(attack: KnownAttack): void {
    const ord = this.ids.length;
    this.ids.push(attack.id);
    for (const [k, w] of embed(fold(attack.text))) {
      const bit = k & FILTER_MASK;
      this.present[bit >>> 3]! |= 1 << (bit & 7);
      let list = this.postings.get(k);
      if (!list) {
        list = [];
        this.postings.set(k, list);
      }
      list.push([ord, w]);
    }
  }

  /** `text` may be raw or already folded; folding twice is harmless. */
  nearest(text: string): AttackMatch {
    return this.nearestFolded(fold(text));
  }

  nearestFolded(folded: string): AttackMatch {
    const scorer = this.scorer();
    scanWords(folded, scorer);
    return this.result(scorer);
  }

  /** A sink to pass to `scanWords` when the caller scans the words anyway (the injection scanner). */
  scorer(): WindowScorer {
    return new WindowScorer(this.postings, this.ids.length, this.present);
  }

  result(scorer: WindowScorer): AttackMatch {
    return {
      score: Math.min(1, scorer.best),
      attackId: scorer.bestOrd >= 0 ? this.ids[scorer.bestOrd]! : null,
    };
  }
}
