import { isIPv6 } from 'node:net';
import { before } from './context.ts';
import type { PiiMatch } from './types.ts';

const V4 = /(?<![\p{L}\p{N}_.-])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\p{N}_-]|\.\d)/gu;
const V6 =
  /(?<![\p{L}\p{N}_:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:%[\w.]+)?(?![\p{L}\p{N}_:])/uy;
// Dotted quads after these words are version numbers or outline numbering, not addresses.
const VERSION_CTX =
  /(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bfirmware|\bsection|\bchapter|§|\bkapitel|\babschnitt)\s*$/;
const IP_CTX = /\b(ip|ipv4|ipv6|address|adresse|host|server|client|from|login|logged)\b/;

function octetOk(s: string): boolean {
  return (s.length === 1 || s[0] !== '0') && Number(s) <= 255;
}

export function recognizeIp(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  if (text.includes('.')) {
    for (const m of text.matchAll(V4)) {
      if (!octetOk(m[1]!) || !octetOk(m[2]!) || !octetOk(m[3]!) || !octetOk(m[4]!)) continue;
      const start = m.index;
      const ctx = before(text, start, 24);
      if (VERSION_CTX.test(ctx)) continue;
      const score = IP_CTX.test(ctx) ? 0.95 : 0.8;
      out.push({ type: 'IP_ADDRESS', start, end: start + m[0].length, score, reason: 'ipv4' });
    }
  }
  // A match starts at most four hex digits before its first colon, where the hex run before that
  // colon starts (the lookbehind rules out any later start): tried there alone, per colon.
  let from = 0;
  for (let c = text.indexOf(':'); c >= 0; c = text.indexOf(':', Math.max(c + 1, from))) {
    let s = c;
    while (s > 0 && c - s < 5 && isHex(text.charCodeAt(s - 1))) s--;
    if (c - s > 4) continue;
    V6.lastIndex = Math.max(s, from);
    const m = V6.exec(text);
    if (!m) continue;
    from = m.index + m[0].length;
    const raw = m[0].replace(/%[\w.]+$/, '');
    if (raw.length < 6 || !isIPv6(raw)) continue;
    out.push({ type: 'IP_ADDRESS', start: m.index, end: from, score: 0.85, reason: 'ipv6' });
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}
