/**
 * One pass over folded text that yields what both injection detectors need: per-sentence sparse
 * feature vectors for attack similarity, and the set of word prefixes the rules' pre-check uses.
 * Words are hashed in place (FNV-1a) so the pass allocates nothing per word.
 */
export type SparseVec = Map<number, number>;

/** Receives the features of each sentence as they are read (no per-sentence maps are built). */
export interface FeatureSink {
  feature(hash: number, weight: number): void;
  endSentence(): void;
}

const FNV_OFFSET = 2166136261;
const FNV_PRIME = 16777619;
const STEM = 6;
const PREFIX = 4;
const BIGRAM_WEIGHT = 1.5;

export function hashWord(s: string, max = Number.POSITIVE_INFINITY): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length && i < max; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

export const prefixHash = (word: string): number => hashWord(word, PREFIX);

const STOP = new Set(
  'a an the and or but of to in on at for with from by is are was were be been am i me my you your it its this that these those as so if then than there here we our they them he she his her do does did can could would should will shall may might must have has had not no yes just very all any some what which who how when where why der die das ein eine und oder aber zu im in an auf fur mit von ist sind war ich du sie er es wir ihr mir dir mich dich den dem des nicht auch noch nur so wie was wer wo le la les un une et de des du el los las y que il lo di e che'.split(
    ' ',
  ),
);
const STOP_HASHES = new Set([...STOP].map((w) => hashWord(w, STEM)));

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
}

/** Where words with chosen prefixes start (for rules whose matches can only start there). */
export interface WordPositions {
  /** Prefix hashes to record. */
  readonly wanted: ReadonlySet<number>;
  /** Prefix hash → ascending start offsets. */
  readonly at: Map<number, number[]>;
}

/**
 * Stems are a word's first six characters (crude, language-agnostic: "instructions" and
 * "instruction" meet); word pairs hash two stems together. `. ! ? : ;` and newlines end sentences.
 * Returns the word-prefix hashes; features go to `sink` when given, and the start offsets of words
 * with a wanted prefix to `positions`.
 */
export function scanWords(
  folded: string,
  sink?: FeatureSink,
  positions?: WordPositions,
  /** Only these prefixes are collected (the rules' trigger words); default all. */
  keep?: ReadonlySet<number>,
): Set<number> {
  const prefixes = new Set<number>();
  let prev = -1;
  let inSentence = false;
  const n = folded.length;
  let i = 0;
  const record = (h: number, start: number) => {
    if (!positions?.wanted.has(h)) return;
    const list = positions.at.get(h);
    if (list) list.push(start);
    else positions.at.set(h, [start]);
  };
  while (i < n) {
    const c = folded.charCodeAt(i);
    if (!isWordChar(c)) {
      if (c === 46 || c === 33 || c === 63 || c === 58 || c === 59 || c === 10) {
        if (inSentence && sink) sink.endSentence();
        inSentence = false;
        prev = -1;
      }
      i++;
      continue;
    }
    let h = FNV_OFFSET;
    let len = 0;
    const start = i;
    while (i < n && isWordChar(folded.charCodeAt(i))) {
      if (len < STEM) {
        h = Math.imul(h ^ folded.charCodeAt(i), FNV_PRIME);
        if (len === PREFIX - 1) {
          const p = h >>> 0;
          if (!keep || keep.has(p)) prefixes.add(p);
          if (positions) record(p, start);
        }
      }
      len++;
      i++;
    }
    h >>>= 0;
    if (len < PREFIX) {
      if (!keep || keep.has(h)) prefixes.add(h);
      if (positions) record(h, start);
    }
    if (!sink || len < 2 || (len <= STEM && STOP_HASHES.has(h))) continue;
    inSentence = true;
    sink.feature(h, 1);
    if (prev >= 0) sink.feature((Math.imul(prev, 31) ^ h ^ 0x9e3779b9) >>> 0, BIGRAM_WEIGHT);
    prev = h;
  }
  if (inSentence && sink) sink.endSentence();
  return prefixes;
}

/** Features of a whole text as one sparse vector (counts summed), for indexing known attacks. */
export function featureVector(folded: string): SparseVec {
  const v: SparseVec = new Map();
  scanWords(folded.replace(/[.!?:;\n]+/g, ' '), {
    feature: (h, w) => v.set(h, (v.get(h) ?? 0) + w),
    endSentence: () => {},
  });
  return v;
}
