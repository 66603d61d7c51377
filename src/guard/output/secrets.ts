import { DEFAULT_COUNTRIES, detectPii } from '../pii/scanner.ts';
import type { Finding, Scanner, Stage } from '../types.ts';

/** Secrets in an answer (keys, tokens, private keys): the input recognizers, reused on output. */
const ONLY_SECRETS = new Set(['SECRET'] as const);

export function createSecretsScanner(id = 'secrets', stage: Stage = 'output'): Scanner {
  return {
    id,
    stage,
    scan(text) {
      const findings: Finding[] = detectPii(text, ONLY_SECRETS, {
        defaultCountries: DEFAULT_COUNTRIES,
        names: 'lexicon',
      }).map((m) => ({
        type: m.type,
        start: m.start,
        end: m.end,
        score: m.score,
        reason: m.reason,
        scanner: id,
      }));
      return { findings };
    },
  };
}
