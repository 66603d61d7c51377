import { withContext } from './context.ts';
import type { PiiMatch } from './types.ts';

/** Payment card numbers: Luhn checksum plus the issuer (IIN) ranges and lengths of the major networks. */
const CANDIDATE = /(?<![\p{L}\p{N}_\-.])\d(?:[ -]?\d){11,18}(?![\p{L}\p{N}_]|[-.]\d)/gu;

const POS =
  /\b(card|credit|debit|visa|master ?card|amex|american express|discover|maestro|cc|cvv|cvc|expir\w*|kreditkarte|karte|kartennummer|zahlung|payment|pay)\b/;
const NEG =
  /\b(order|tracking|invoice|ref|reference|isbn|phone|tel|fax|account number|ticket|serial|bestell|rechnung|sendung)\b[^\n]{0,16}$/;

export function luhn(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** True when the prefix and length belong to a card network's issuer range. */
export function issuerMatches(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // Amex
  if (p4 >= 2200 && p4 <= 2204) return n >= 16 && n <= 19; // Mir
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925))
    return n >= 16 && n <= 19; // Discover
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19; // Diners
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if (p2 === 62 || p2 === 81) return n >= 16 && n <= 19; // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19; // Maestro
  return false;
}

export function recognizeCard(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const d = m[0].replace(/[ -]/g, '');
    if (d.length < 12 || d.length > 19 || !luhn(d) || /^(\d)\1+$/.test(d)) continue;
    const iin = issuerMatches(d);
    const start = m.index;
    const end = start + m[0].length;
    const s = withContext(text, start, end, iin ? 0.75 : 0.3, POS, NEG, { up: 0.2, down: 0.45 });
    out.push({ type: 'CREDIT_CARD', start, end, score: s, reason: iin ? 'luhn+iin' : 'luhn' });
  }
  return out;
}
