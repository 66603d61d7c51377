import { withContext } from './context.ts';
import type { PiiMatch } from './types.ts';

/**
 * National ids other than the US SSN that carry a check we can verify: the German tax id
 * (Steuer-IdNr, ISO 7064 MOD 11,10 plus its digit-repetition rule) and the UK National Insurance
 * number (prefix rules). Both formats also fit ordinary codes, so context words carry much weight.
 */
const DE_TAX = /(?<![\p{L}\p{N}_\-.])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\p{L}\p{N}_]|[-.]\d)/gu;
const DE_POS =
  /\b(steuer-?id\w*|steueridentifikationsnummer|identifikationsnummer|idnr|tax id|tax identification|tin)\b/;
const UK_NINO =
  /(?<![\p{L}\p{N}])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\p{L}\p{N}])/gu;
const UK_POS = /\b(national insurance|ni number|ni no|nino|nin)\b/;
const UK_BAD_PREFIX = new Set(['BG', 'GB', 'NK', 'KN', 'TN', 'NT', 'ZZ']);

export function deTaxIdOk(d: string): boolean {
  if (d.length !== 11 || d[0] === '0') return false;
  const counts = new Map<string, number>();
  for (const c of d.slice(0, 10)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const repeated = [...counts.values()].filter((n) => n > 1);
  if (repeated.length !== 1 || repeated[0]! > 3) return false;
  let product = 10;
  for (let i = 0; i < 10; i++) {
    let sum = (Number(d[i]) + product) % 10;
    if (sum === 0) sum = 10;
    product = (sum * 2) % 11;
  }
  const check = (11 - product) % 10;
  return check === Number(d[10]);
}

export function recognizeNationalId(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of text.matchAll(DE_TAX)) {
    if (!deTaxIdOk(m[0].replace(/ /g, ''))) continue;
    const start = m.index;
    const end = start + m[0].length;
    const s = withContext(text, start, end, 0.3, DE_POS, null, { up: 0.5 });
    out.push({ type: 'NATIONAL_ID', start, end, score: s, reason: 'de-tax-id-checksum' });
  }
  for (const m of text.matchAll(UK_NINO)) {
    if (UK_BAD_PREFIX.has(m[1]!)) continue;
    const start = m.index;
    const end = start + m[0].length;
    const s = withContext(text, start, end, 0.35, UK_POS, null, { up: 0.5 });
    out.push({ type: 'NATIONAL_ID', start, end, score: s, reason: 'uk-nino-format' });
  }
  return out;
}
