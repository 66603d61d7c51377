/**
 * Normalisation before injection detection: attackers hide instructions from naive matching with
 * compatibility characters, zero-width and bidi controls, Unicode tag characters, look-alike
 * letters from other scripts, encodings and light leetspeak. Everything here produces a folded,
 * lower-case ASCII-ish text for matching; the original text is never changed.
 */

import { decodeRuns } from './decode.ts';

export { decodeRuns };

// Zero-width, joiners, soft hyphen, bidi embeddings/overrides/isolates, variation selectors, fillers.
const INVISIBLE =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: stripping lone joiners and combining marks is the point
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]/g;
const TAG_CHARS = /[\u{E0000}-\u{E007F}]+/gu;
const COMBINING = /[\u0300-\u036f]/g;

/** Look-alikes NFKC leaves alone: Cyrillic, Greek, Armenian and a few Latin extensions. */
const HOMOGLYPHS: Record<string, string> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  ɡ: 'g',
  ɩ: 'i',
  ӏ: 'l',
  һ: 'h',
  ց: 'g',
  օ: 'o',
  ս: 'u',
  ո: 'n',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ω: 'w',
  ϲ: 'c',
  ϳ: 'j',
  ı: 'i',
  ȷ: 'j',
  ł: 'l',
  ø: 'o',
  đ: 'd',
  ħ: 'h',
  ŧ: 't',
  ß: 'ss',
  А: 'a',
  В: 'b',
  Е: 'e',
  К: 'k',
  М: 'm',
  Н: 'h',
  О: 'o',
  Р: 'p',
  С: 'c',
  Т: 't',
  У: 'y',
  Х: 'x',
  Ѕ: 's',
  І: 'i',
  Ј: 'j',
  Α: 'a',
  Β: 'b',
  Ε: 'e',
  Ζ: 'z',
  Η: 'h',
  Ι: 'i',
  Κ: 'k',
  Μ: 'm',
  Ν: 'n',
  Ο: 'o',
  Ρ: 'p',
  Τ: 't',
  Υ: 'y',
  Χ: 'x',
  Ϲ: 'c',
};
const HOMOGLYPH_RE = new RegExp(`[${Object.keys(HOMOGLYPHS).join('')}]`, 'g');

const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
};
// "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e"
const SPACED = /\b(?:[a-z][ .\-_*]){3,}[a-z]\b/g;

export interface NormalizedText {
  /** Lower-cased, folded text for matching. */
  folded: string;
  /** True when `folded` has the same length as the input, so match offsets are input offsets. */
  aligned: boolean;
  /** Texts recovered from encodings or hidden tag characters, already folded. */
  decoded: string[];
  /** What was found hidden (for the finding reason; counts only). */
  hidden: { invisible: number; homoglyphs: number; tags: number };
}

const NON_ASCII = /[\u0080-\uffff]/;

function isLeetChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 64 || c === 36;
}

/** `nonAscii`: whether `s` has non-ASCII characters, when the caller knows (saves a pass). */
export function fold(s: string, nonAscii = NON_ASCII.test(s)): string {
  // Plain ASCII (most prompts) needs none of the Unicode passes.
  let t = nonAscii
    ? s
        .normalize('NFKC')
        .replace(INVISIBLE, '')
        .replace(HOMOGLYPH_RE, (c) => HOMOGLYPHS[c] ?? c)
        .toLowerCase()
        .normalize('NFD')
        .replace(COMBINING, '')
    : s.toLowerCase();
  t = unleet(t);
  return t.replace(SPACED, (run) => run.replace(/[ .\-_*]/g, ''));
}

function isLeetTokenChar(c: number): boolean {
  return (c >= 97 && c <= 122) || isLeetChar(c);
}

/**
 * Rewrites the leet characters of tokens (runs of `[a-z0-9@$]`) that mix letters with them; pure
 * words and pure numbers stay. One pass, copying only around the tokens that change.
 */
function unleet(t: string): string {
  let out = '';
  let copied = 0;
  const n = t.length;
  let i = 0;
  while (i < n) {
    if (!isLeetTokenChar(t.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let letters = false;
    let leet = false;
    for (; i < n; i++) {
      const c = t.charCodeAt(i);
      if (c >= 97 && c <= 122) letters = true;
      else if (isLeetChar(c)) leet = true;
      else break;
    }
    if (!letters || !leet) continue;
    out += t.slice(copied, start);
    for (let k = start; k < i; k++) {
      const ch = t[k]!;
      out += LEET[ch] ?? ch;
    }
    copied = i;
  }
  return copied === 0 ? t : out + t.slice(copied);
}

export function normalizeForDetection(text: string): NormalizedText {
  const hidden = { invisible: 0, homoglyphs: 0, tags: 0 };
  const decoded: string[] = [];
  let t = text;
  const nonAscii = NON_ASCII.test(t);
  if (nonAscii && /[\u{E0000}-\u{E007F}]/u.test(t)) {
    t = t.replace(TAG_CHARS, (run) => {
      hidden.tags += run.length;
      let ascii = '';
      for (const ch of run) ascii += String.fromCharCode(ch.codePointAt(0)! - 0xe0000);
      decoded.push(fold(ascii));
      return ' ';
    });
  }
  if (nonAscii) {
    const inv = t.match(INVISIBLE);
    if (inv) hidden.invisible = inv.length;
    const hom = t.match(HOMOGLYPH_RE);
    if (hom) hidden.homoglyphs = hom.length;
  }
  // Removing tag characters can only remove non-ASCII, so plain text stays known-plain.
  const folded = fold(t, nonAscii && NON_ASCII.test(t));
  for (const d of decodeRuns(text)) decoded.push(fold(d));
  return { folded, aligned: folded.length === text.length, decoded, hidden };
}
