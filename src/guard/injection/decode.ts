/**
 * Encoded runs hidden in a text: base64 (both alphabets), hex (plain, `\x41`/`0x41`, or pairs like
 * `49 67 6e`) and percent-encoding, decoded when the result is readable text.
 */
const ESCAPED_HEX = /(?:(?:\\x|0x)[0-9A-Fa-f]{2}[\s,]?){8,}/g;
const URL_ENC = /(?:%[0-9A-Fa-f]{2}[^%]{0,16}){3,}/;

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
