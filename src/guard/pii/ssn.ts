import { withContext } from './context.ts';
import type { PiiMatch } from './types.ts';

/** US Social Security numbers: valid area, group and serial; context decides for bare 9-digit runs. */
const CANDIDATE = /(?<![\p{L}\p{N}_\-.])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\p{L}\p{N}_]|[-.]\d)/gu;
const POS = /\b(ssn|ss#|ss no|social security|soc\.? ?sec|sozialversicherung\w*|taxpayer|tin)\b/;
const NEG =
  /\b(phone|tel|fax|order|account|acct|card|zip|isbn|routing|invoice|tracking|ticket|license|licence|serial|bestell|rechnung)\b[^\n]{0,16}$/;

/** Numbers the SSA never issued or that are famous examples. */
const NEVER = new Set(['078051120', '219099999', '123456789', '987654320']);

export function validSsn(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900) return false;
  if (group === '00' || serial === '0000') return false;
  return !NEVER.has(area + group + serial);
}

export function recognizeSsn(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    if (!validSsn(m[1]!, m[3]!, m[4]!)) continue;
    const sep = m[2];
    const base = sep === '-' ? 0.6 : sep === ' ' ? 0.45 : 0.25;
    const start = m.index;
    const end = start + m[0].length;
    const s = withContext(text, start, end, base, POS, NEG, { up: 0.35, down: 0.4 });
    out.push({ type: 'US_SSN', start, end, score: s, reason: 'ssn-format' });
  }
  return out;
}
