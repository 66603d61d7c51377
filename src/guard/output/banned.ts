import { fold } from '../injection/normalize.ts';
import type { Finding, Scanner, Stage } from '../types.ts';

/**
 * Banned substrings and topics. Matching runs on folded text (case, diacritics, homoglyphs,
 * zero-width tricks removed) so "Fоrbidden" with a Cyrillic o still matches. A topic is a named
 * keyword set that counts once `minHits` distinct keywords appear. Reasons name the configured
 * substring's ordinal or the topic name, which are policy, not user data.
 */
export interface BannedTopic {
  name: string;
  keywords: readonly string[];
  minHits?: number;
}

export interface BannedOptions {
  id?: string;
  stage?: Stage;
  substrings?: readonly string[];
  topics?: readonly BannedTopic[];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function createBannedScanner(options: BannedOptions): Scanner {
  const id = options.id ?? 'banned';
  const subs = (options.substrings ?? []).map((s) => fold(s)).filter((s) => s.length > 0);
  const topics = (options.topics ?? []).map((t) => ({
    name: t.name,
    minHits: t.minHits ?? 2,
    res: t.keywords.map((k) => new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegex(fold(k))}`, 'u')),
  }));
  return {
    id,
    stage: options.stage ?? 'output',
    scan(text) {
      if (subs.length === 0 && topics.length === 0) return { findings: [] };
      const folded = fold(text);
      const aligned = folded.length === text.length;
      const findings: Finding[] = [];
      subs.forEach((s, i) => {
        const at = folded.indexOf(s);
        if (at < 0) return;
        const [start, end] = aligned ? [at, at + s.length] : [0, text.length];
        findings.push({
          type: 'BANNED_CONTENT',
          start,
          end,
          score: 1,
          reason: `substring#${i + 1}`,
          scanner: id,
        });
      });
      for (const t of topics) {
        const hits = t.res.filter((re) => re.test(folded)).length;
        if (hits >= t.minHits) {
          const score = Math.min(1, 0.6 + 0.1 * (hits - t.minHits));
          findings.push({
            type: 'BANNED_CONTENT',
            start: 0,
            end: text.length,
            score,
            reason: `topic:${t.name}`,
            scanner: id,
          });
        }
      }
      return { findings };
    },
  };
}
