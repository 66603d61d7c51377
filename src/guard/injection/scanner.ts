import type { Finding, Scanner, ScanResult, Stage } from '../types.ts';
import { type AttackIndex, type AttackMatch, InMemoryAttackIndex } from './attack-index.ts';
import { normalizeForDetection } from './normalize.ts';
import { combineRuleScore, matchRules, newWordPositions, type RuleHit, TRIGGER_PREFIXES } from './rules.ts';
import { scanWords, type WordPositions } from './words.ts';

/**
 * Prompt-injection scanner for user input and for retrieved chunks. Score = noisy-OR of the rule
 * hits, of hidden-content signals and of the similarity to known attacks (above a floor, since
 * every text is a little similar to something). The profile's threshold for `PROMPT_INJECTION`
 * decides; the finding's reason lists the rule categories and the nearest attack's id.
 */
export interface InjectionScannerOptions {
  id?: string;
  stage?: Stage;
  index?: AttackIndex;
  /** Similarity below this adds nothing. */
  similarityFloor?: number;
  /** Similarity at which it counts as much as a strong rule. */
  similarityFull?: number;
}

let sharedIndex: InMemoryAttackIndex | undefined;
function defaultIndex(): InMemoryAttackIndex {
  sharedIndex ??= new InMemoryAttackIndex();
  return sharedIndex;
}

export interface InjectionAssessment {
  score: number;
  hits: RuleHit[];
  similarity: AttackMatch;
  hidden: boolean;
  /** Offsets of the strongest rule hit when they map onto the input, else the whole text. */
  start: number;
  end: number;
}

function similarityWeight(s: number, floor: number, full: number): number {
  if (s <= floor) return 0;
  return Math.min(0.85, ((s - floor) / (full - floor)) * 0.85);
}

/**
 * Similarity of one folded text to the known attacks; returns what its word scan produced: the word
 * prefixes and, for long texts, where the rules' start words are.
 */
export type SimilarityFn = (folded: string) => {
  match: AttackMatch;
  prefixes: Set<number>;
  positions?: WordPositions | undefined;
};

export function assess(
  text: string,
  similar: SimilarityFn,
  floor: number,
  full: number,
): InjectionAssessment {
  const norm = normalizeForDetection(text);
  const first = similar(norm.folded);
  const hits = matchRules(norm.folded, first.prefixes, first.positions);
  let similarity = first.match;
  for (const d of norm.decoded) {
    const r = similar(d);
    for (const h of matchRules(d, r.prefixes, r.positions))
      hits.push({ ...h, id: `decoded:${h.id}`, start: 0, end: text.length });
    if (r.match.score > similarity.score) similarity = r.match;
  }
  // Hidden characters in a text that also carries instructions are a technique, not an accident.
  const hidden =
    norm.hidden.tags > 0 ||
    (norm.hidden.invisible > 2 && hits.length > 0) ||
    (norm.decoded.length > 0 && hits.length > 0);
  let keep = 1 - combineRuleScore(hits);
  keep *= 1 - similarityWeight(similarity.score, floor, full);
  if (hidden) keep *= 0.6;
  const score = 1 - keep;
  const strongest = hits.reduce<RuleHit | undefined>(
    (a, h) => (!a || h.weight > a.weight ? h : a),
    undefined,
  );
  const aligned = norm.aligned && strongest && !strongest.id.startsWith('decoded:');
  return {
    score,
    hits,
    similarity,
    hidden,
    start: aligned ? strongest.start : 0,
    end: aligned ? strongest.end : text.length,
  };
}

function reasonOf(a: InjectionAssessment, floor: number): string {
  const cats = [
    ...new Set(a.hits.map((h) => (h.id.startsWith('decoded:') ? `decoded:${h.category}` : h.category))),
  ];
  const parts = cats.length > 0 ? [`rules:${cats.join('+')}`] : [];
  if (a.similarity.score > floor && a.similarity.attackId) parts.push(`similar:${a.similarity.attackId}`);
  if (a.hidden) parts.push('hidden-content');
  return parts.join(';') || 'none';
}

export function createInjectionScanner(options: InjectionScannerOptions = {}): Scanner {
  const id = options.id ?? 'injection';
  const floor = options.similarityFloor ?? 0.3;
  const full = options.similarityFull ?? 0.65;
  const index = options.index ?? defaultIndex();
  const toResult = (a: InjectionAssessment): ScanResult => {
    const findings: Finding[] = [];
    if (a.score >= 0.15) {
      findings.push({
        type: 'PROMPT_INJECTION',
        start: a.start,
        end: a.end,
        score: a.score,
        reason: reasonOf(a, floor),
        scanner: id,
      });
    }
    return { findings, metrics: { 'injection.score': Math.round(a.score * 1000) / 1000 } };
  };
  return {
    id,
    stage: options.stage ?? 'input',
    scan(text) {
      if (index instanceof InMemoryAttackIndex) {
        return toResult(
          assess(
            text,
            (folded) => {
              const scorer = index.scorer();
              const positions = newWordPositions(folded);
              const prefixes = scanWords(folded, scorer, positions, TRIGGER_PREFIXES);
              return { match: index.result(scorer), prefixes, positions };
            },
            floor,
            full,
          ),
        );
      }
      // A store-backed index answers asynchronously: ask it first, then combine.
      return (async () => {
        const remote = await index.nearest(text);
        return toResult(
          assess(
            text,
            (folded) => {
              const positions = newWordPositions(folded);
              const prefixes = scanWords(folded, undefined, positions, TRIGGER_PREFIXES);
              return { match: remote, prefixes, positions };
            },
            floor,
            full,
          ),
        );
      })();
    },
  };
}
