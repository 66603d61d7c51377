import type { PiiMatch } from './types.ts';

// The lookbehind keeps the engine from restarting inside a word, which keeps this linear on long text.
const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-][\p{L}\p{N}._%+-]{0,63}@[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?)*\.\p{L}{2,24}(?![\p{L}\p{N}-]|\.[\p{L}\p{N}])/gu;

export function recognizeEmail(text: string): PiiMatch[] {
  if (!text.includes('@')) return [];
  const out: PiiMatch[] = [];
  for (const m of text.matchAll(EMAIL)) {
    out.push({
      type: 'EMAIL',
      start: m.index,
      end: m.index + m[0].length,
      score: 0.95,
      reason: 'email-syntax',
    });
  }
  return out;
}
