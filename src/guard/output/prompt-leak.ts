import { fold } from '../injection/normalize.ts';
import type { Finding, Scanner } from '../types.ts';

/**
 * System-prompt leak: how much of the system prompt reappears in the answer, as the share of the
 * prompt's word n-grams (default 5) found in the answer. Quoting a sentence of a long prompt scores
 * low; reproducing the prompt, even reformatted, scores high.
 */
export const LEAK_NGRAM = 5;

function words(text: string): string[] {
  return fold(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
}

function grams(ws: string[], n: number): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + n <= ws.length; i++) out.add(ws.slice(i, i + n).join(' '));
  return out;
}

/** Share (0..1) of the system prompt's n-grams present in the output. */
export function promptLeakScore(output: string, systemPrompt: string, n = LEAK_NGRAM): number {
  const pw = words(systemPrompt);
  if (pw.length < n) {
    // Very short prompts: leak only if the whole prompt appears.
    return pw.length > 0 && fold(output).includes(pw.join(' ')) ? 1 : 0;
  }
  const pg = grams(pw, n);
  const og = grams(words(output), n);
  let hit = 0;
  for (const g of pg) if (og.has(g)) hit++;
  return hit / pg.size;
}

export function createPromptLeakScanner(id = 'prompt_leak'): Scanner {
  return {
    id,
    stage: 'output',
    scan(text, ctx) {
      if (!ctx.systemPrompt) return { findings: [] };
      const score = promptLeakScore(text, ctx.systemPrompt);
      const findings: Finding[] =
        score > 0.05
          ? [
              {
                type: 'SYSTEM_PROMPT_LEAK',
                start: 0,
                end: text.length,
                score,
                reason: `ngram${LEAK_NGRAM}-overlap`,
                scanner: id,
              },
            ]
          : [];
      return { findings, metrics: { 'prompt_leak.score': Math.round(score * 1000) / 1000 } };
    },
  };
}
