/**
 * Normalisation before injection detection: attackers hide instructions from naive matching with
 * compatibility characters, zero-width and bidi controls, Unicode tag characters, look-alike
 * letters from other scripts, encodings and light leetspeak. Everything here produces a folded,
 * lower-case ASCII-ish text for matching; the original text is never changed.
 */

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

const ESCAPED_HEX = /(?:(?:\\x|0x)[0-9A-Fa-f]{2}[\s,]?){8,}/g;
const URL_ENC = /(?:%[0-9A-Fa-f]{2}[^%]{0,16}){3,}/;

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

function printableRatio(s: string): number {
  if (s.length === 0) return 0;
  let ok = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || (c >= 160 && c !== 0xfffd)) ok++;
  }
  return ok / s.length;
}

function plausibleText(s: string): boolean {
  return s.length >= 8 && printableRatio(s) > 0.95 && /[a-zA-Z]{3,}/.test(s) && /\s/.test(s);
}

/** Base64 characters of both alphabets (`A-Za-z0-9+/_-`), as a table: this runs per character. */
const B64 = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-')
  B64[ch.charCodeAt(0)] = 1;

function isB64(c: number): boolean {
  return c < 128 && B64[c] === 1;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isSep(c: number): boolean {
  return c === 32 || c === 58 || c === 44 || c === 45 || c === 9 || c === 10;
}

/**
 * Decodes base64 (both alphabets), hex (plain, `\x41`/`0x41`, or pairs like `49 67 6e`) and
 * percent-encoded runs that turn out to be readable text. A hand-written scan: character-class
 * regular expressions tried at every offset cost ten times more on long prompts.
 */
export function decodeRuns(text: string): string[] {
  const out: string[] = [];
  const tryPush = (s: string) => {
    if (plausibleText(s)) out.push(s);
  };
  const n = text.length;
  if (n >= 16) {
    let i = 0;
    while (i < n) {
      if (!isB64(text.charCodeAt(i))) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < n && isB64(text.charCodeAt(j))) j++;
      const len = j - i;
      if (len !== 2 && len < 16) {
        // Ordinary words: nothing encoded can hide in them.
        i = j;
        continue;
      }
      let hexOnly = true;
      let mixed = false;
      for (let k = i; k < j; k++) {
        const c = text.charCodeAt(k);
        if (hexOnly && !isHex(c)) hexOnly = false;
        if ((c >= 48 && c <= 57) || c === 43 || c === 47 || c === 95) mixed = true;
      }
      if (len === 2 && hexOnly && j < n && isSep(text.charCodeAt(j))) {
        // Separated hex pairs: "49 67 6e 6f ..."
        let k = i;
        let pairs = 0;
        while (
          k + 1 < n &&
          isHex(text.charCodeAt(k)) &&
          isHex(text.charCodeAt(k + 1)) &&
          (k + 2 >= n || isSep(text.charCodeAt(k + 2)) || !isB64(text.charCodeAt(k + 2)))
        ) {
          pairs++;
          k += 2;
          if (k < n && isSep(text.charCodeAt(k))) k++;
          else break;
        }
        if (pairs >= 10) {
          tryPush(Buffer.from(text.slice(i, k).replace(/[^0-9A-Fa-f]/g, ''), 'hex').toString('utf8'));
          i = k;
          continue;
        }
      }
      if (len >= 16) {
        const run = text.slice(i, j);
        if (hexOnly && len >= 20 && len % 2 === 0) tryPush(Buffer.from(run, 'hex').toString('utf8'));
        else if (mixed || /[a-z][A-Z]/.test(run)) {
          let end = j;
          while (end < n && text.charCodeAt(end) === 61 && end - j < 2) end++;
          tryPush(Buffer.from(text.slice(i, end), 'base64').toString('utf8'));
        }
      }
      i = j;
    }
    if (text.includes('\\x') || text.includes('0x')) {
      for (const m of text.matchAll(ESCAPED_HEX))
        tryPush(Buffer.from(m[0].replace(/\\x|0x/g, ''), 'hex').toString('utf8'));
    }
  }
  if (text.includes('%') && URL_ENC.test(text)) {
    try {
      tryPush(decodeURIComponent(text));
    } catch {
      // Malformed escapes: nothing hidden we could read.
    }
  }
  return out;
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
