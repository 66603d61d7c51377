import { RULES, type Rule, type RuleCategory } from './rule-table.ts';
import { prefixHash, scanWords, type WordPositions } from './words.ts';

/**
 * Runs the rule table over folded text. Each rule is tried only when one of its trigger words
 * occurs, found through the word-prefix set that the similarity scan produces anyway. A rule whose
 * pattern starts with a word alternative (`\b(?:ignore|disregard|...)`) can only match where one
 * of those words starts: on long texts it is tried there alone (sticky), not across the whole text.
 */
export { RULES, type Rule, type RuleCategory };

export interface RuleHit {
  id: string;
  category: RuleCategory;
  weight: number;
  start: number;
  end: number;
}

const WORD = /^[a-z0-9]+$/;
const PREFIX_LEN = 4;

/**
 * Prefix hashes of the words a match of `src` can start with, or null when that cannot be read off
 * the pattern (it does not start with `\b(?:alternatives)`, or an alternative's first word is not a
 * plain literal long enough to fix its prefix).
 */
export function startPrefixes(src: string): number[] | null {
  const head = '\\b(?:';
  // `\bword...`: one alternative, the literal word.
  if (src.startsWith('\\b') && !src.startsWith(head)) return prefixesOf([src.slice(2)]);
  if (!src.startsWith(head)) return null;
  const alts: string[] = [];
  let cur = '';
  let depth = 0;
  let closed = false;
  for (let i = head.length; i < src.length && !closed; i++) {
    const c = src[i]!;
    if (c === '\\') {
      cur += c + (src[i + 1] ?? '');
      i++;
    } else if (c === '(') {
      depth++;
      cur += c;
    } else if (c === ')') {
      if (depth === 0) {
        alts.push(cur);
        closed = true;
      } else {
        depth--;
        cur += c;
      }
    } else if (c === '|' && depth === 0) {
      alts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (!closed) return null;
  return prefixesOf(alts);
}

function prefixesOf(alts: readonly string[]): number[] | null {
  const out = new Set<number>();
  for (const a of alts) {
    const w = /^[a-z0-9]+/.exec(a)?.[0];
    if (!w) return null;
    const next = a.slice(w.length);
    if (w.length < PREFIX_LEN) {
      // A short word fixes the prefix only when it visibly ends there.
      if (!(next === '' || next.startsWith(' ') || next.startsWith('\\s') || next.startsWith('\\b')))
        return null;
    } else if (w.length === PREFIX_LEN && /^[?*{]/.test(next)) return null;
    out.add(prefixHash(w.slice(0, PREFIX_LEN)));
  }
  return [...out];
}

interface Prepared {
  rule: Rule;
  prefixes: number[];
  substrings: string[];
  starts: number[] | null;
  /** The pattern can only start at the text's start or after a newline (`(?<=^|\n)`). */
  lineStart: boolean;
  sticky: RegExp | null;
}

const LINE_START = '(?<=^|\\n)';

/** Per rule: the pre-check's word-prefix hashes and substrings, and its start words, computed once. */
const PREPARED: Prepared[] = RULES.map((rule) => {
  const starts = startPrefixes(rule.re.source);
  const lineStart = rule.re.source.startsWith(LINE_START) && !rule.re.flags.includes('m');
  return {
    rule,
    prefixes: rule.need.filter((k) => WORD.test(k)).map(prefixHash),
    substrings: rule.need.filter((k) => !WORD.test(k)),
    starts,
    lineStart,
    sticky: starts || lineStart ? new RegExp(rule.re.source, `${rule.re.flags}y`) : null,
  };
});

/** Every rule's trigger-word prefixes: the only prefixes `wanted` asks about. */
export const TRIGGER_PREFIXES: ReadonlySet<number> = new Set(PREPARED.flatMap((p) => p.prefixes));

/** The start-word prefixes of every anchored rule: what `scanWords` should record positions for. */
export const ANCHOR_PREFIXES: ReadonlySet<number> = new Set(PREPARED.flatMap((p) => p.starts ?? []));

/** Below this length a whole-text scan is as cheap as looking up where words start. */
const ANCHOR_MIN_CHARS = 600;

export function newWordPositions(folded: string): WordPositions | undefined {
  return folded.length >= ANCHOR_MIN_CHARS ? { wanted: ANCHOR_PREFIXES, at: new Map() } : undefined;
}

function wanted(p: Prepared, folded: string, prefixes: ReadonlySet<number>): boolean {
  for (const h of p.prefixes) if (prefixes.has(h)) return true;
  for (const s of p.substrings) if (folded.includes(s)) return true;
  return false;
}

/** Tries a line-anchored pattern at the start and after each newline only. */
function lineExec(p: Prepared, folded: string): RegExpExecArray | null {
  const re = p.sticky!;
  for (let at = 0; at >= 0; at = folded.indexOf('\n', at) + 1 || -1) {
    re.lastIndex = at;
    const m = re.exec(folded);
    if (m) return m;
    if (at >= folded.length) break;
  }
  return null;
}

function anchoredExec(p: Prepared, folded: string, positions: WordPositions): RegExpExecArray | null {
  const lists: number[][] = [];
  for (const h of p.starts!) {
    const l = positions.at.get(h);
    if (l) lists.push(l);
  }
  if (lists.length === 0) return null;
  const at = lists.length === 1 ? lists[0]! : lists.flat().sort((a, b) => a - b);
  const re = p.sticky!;
  for (const pos of at) {
    re.lastIndex = pos;
    const m = re.exec(folded);
    if (m) return m;
  }
  return null;
}

/**
 * The first match of each wanted rule. `positions` (from the same `scanWords` pass, see
 * `newWordPositions`) lets anchored rules be tried only where their start words are.
 */
export function matchRules(
  folded: string,
  prefixes: ReadonlySet<number> = scanWords(folded),
  positions?: WordPositions,
): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const p of PREPARED) {
    if (!wanted(p, folded, prefixes)) continue;
    const m =
      positions && p.starts
        ? anchoredExec(p, folded, positions)
        : positions && p.lineStart
          ? lineExec(p, folded)
          : p.rule.re.exec(folded);
    if (m)
      hits.push({
        id: p.rule.id,
        category: p.rule.category,
        weight: p.rule.weight,
        start: m.index,
        end: m.index + m[0].length,
      });
  }
  return hits;
}

/** Noisy-OR: independent weak signals add up, one strong signal is enough. */
export function combineRuleScore(hits: readonly RuleHit[]): number {
  let keep = 1;
  for (const h of hits) keep *= 1 - h.weight;
  return 1 - keep;
}
