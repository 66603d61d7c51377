import type { PiiMatch } from './types.ts';

// The lookbehind pins a match to the start of its run of local-part characters.
const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-][\p{L}\p{N}._%+-]{0,63}@[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?)*\.\p{L}{2,24}(?![\p{L}\p{N}-]|\.[\p{L}\p{N}])/uy;
const LOCAL_CHAR = /^[\p{L}\p{N}._%+-]$/u;
/** `scheme://user:` or `scheme://` right before a local part: URL credentials, not an address. */
const URL_USERINFO = /:\/\/[^\s/@]*$/;

/** Where the run of local-part characters that ends at `at` starts (code-point aware). */
function runStart(text: string, at: number): number {
  let s = at;
  while (s > 0) {
    const lo = text.charCodeAt(s - 1);
    const pair = lo >= 0xdc00 && lo <= 0xdfff && s >= 2;
    const ch = pair ? text.slice(s - 2, s) : text[s - 1]!;
    if (!LOCAL_CHAR.test(ch)) break;
    s -= ch.length;
  }
  return s;
}

/**
 * Every address contains an `@`, and the pattern can only start where the run of local-part
 * characters before it starts: so the pattern is tried there alone (sticky), never across the text.
 */
export function recognizeEmail(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  let from = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', Math.max(at + 1, from))) {
    EMAIL.lastIndex = Math.max(from, runStart(text, at));
    const m = EMAIL.exec(text);
    if (!m) continue;
    from = m.index + m[0].length;
    if (URL_USERINFO.test(text.slice(Math.max(0, m.index - 80), m.index))) continue;
    out.push({ type: 'EMAIL', start: m.index, end: from, score: 0.95, reason: 'email-syntax' });
  }
  return out;
}
