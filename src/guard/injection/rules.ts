import { RULES, type Rule, type RuleCategory } from './rule-table.ts';
import { prefixHash, scanWords } from './words.ts';

/**
 * Runs the rule table over folded text. Each rule is tried only when one of its trigger words
 * occurs, found through the word-prefix set that the similarity scan produces anyway.
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
/** Per rule: word-prefix hashes and substrings for the pre-check, computed once. */
const PRECHECK = new Map(
  RULES.map((rule) => [
    rule,
    {
      prefixes: rule.need.filter((k) => WORD.test(k)).map(prefixHash),
      substrings: rule.need.filter((k) => !WORD.test(k)),
    },
  ]),
);

function wanted(rule: Rule, folded: string, prefixes: ReadonlySet<number>): boolean {
  const p = PRECHECK.get(rule)!;
  for (const h of p.prefixes) if (prefixes.has(h)) return true;
  for (const s of p.substrings) if (folded.includes(s)) return true;
  return false;
}

export function matchRules(folded: string, prefixes: ReadonlySet<number> = scanWords(folded)): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const rule of RULES) {
    if (!wanted(rule, folded, prefixes)) continue;
    const m = rule.re.exec(folded);
    if (m)
      hits.push({
        id: rule.id,
        category: rule.category,
        weight: rule.weight,
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
