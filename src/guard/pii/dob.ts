import type { PiiMatch } from './types.ts';

/**
 * Dates of birth: a date is only personal when the words before it say it is a birth date.
 * Every other date (deadlines, release dates, "born" of products aside) stays clean.
 */
const MONTHS_EN =
  'january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec';
const MONTHS_DE = 'januar|jänner|februar|märz|maerz|mai|juni|juli|oktober|dezember|okt|dez';
const M = `(?:${MONTHS_EN}|${MONTHS_DE})\\.?`;
const D = '(?:0?[1-9]|[12]\\d|3[01])';
const MO = '(?:0?[1-9]|1[0-2])';
const Y = '(?:1[89]\\d\\d|20\\d\\d)';
const DATE = new RegExp(
  [
    `${Y}[-./]${MO}[-./]${D}`,
    `${D}[./-]${MO}[./-](?:${Y}|\\d\\d)`,
    `${MO}/${D}/(?:${Y}|\\d\\d)`,
    `${D}(?:st|nd|rd|th|\\.)?\\s+(?:of\\s+)?${M},?\\s+${Y}`,
    `${M}\\s+${D}(?:st|nd|rd|th)?,?\\s+${Y}`,
  ].join('|'),
  'giy',
);
const YEAR_ONLY = new RegExp(`(?:in\\s+)?${Y}`, 'giy');

// The cue must end right before the date (allowing "on", ":" and similar glue).
const CUE =
  /(?:\bborn|\bbirth|\bbirthday|\bbirthdate|\bdob|\bd\.o\.b\.?|\bdate of birth|\bgeboren|\bgeburtsdatum|\bgeburtstag|\bgeb\.|\bnée?|\bnacido|\bnacida|\bfecha de nacimiento|\bdata di nascita)[^\n\d]{0,24}$/i;
const CUE_YEAR = /(?:\bborn|\bgeboren|\bgeb\.|\bnée?)\s*$/i;

const CUE_ANY = /born|birth|dob|d\.o\.b|geboren|geburt|geb\.|née|nacid|nascita/i;
const CUE_ALL = new RegExp(CUE_ANY.source, 'gi');

export function recognizeDob(text: string): PiiMatch[] {
  if (!CUE_ANY.test(text)) return [];
  const out: PiiMatch[] = [];
  let lastEnd = -1;
  for (const cm of text.matchAll(CUE_ALL)) {
    // Look for a date starting within 40 characters after the cue.
    const from = cm.index + cm[0].length;
    for (let i = from; i < Math.min(text.length, from + 40); i++) {
      if (i < lastEnd) continue;
      const c = text.charCodeAt(i);
      const isDigit = c >= 48 && c <= 57;
      const isAlpha = (c | 32) >= 97 && (c | 32) <= 122;
      if (!isDigit && !isAlpha) continue;
      const prev = text.charCodeAt(i - 1);
      if ((prev >= 48 && prev <= 57) || ((prev | 32) >= 97 && (prev | 32) <= 122)) continue;
      const head = text.slice(Math.max(0, i - 48), i);
      DATE.lastIndex = i;
      const dm = DATE.exec(text);
      if (dm && CUE.test(head)) {
        out.push({
          type: 'DATE_OF_BIRTH',
          start: i,
          end: i + dm[0].length,
          score: 0.85,
          reason: 'date+birth-cue',
        });
        lastEnd = i + dm[0].length;
        break;
      }
      YEAR_ONLY.lastIndex = i;
      const ym = YEAR_ONLY.exec(text);
      if (ym && CUE_YEAR.test(head) && !/\d/.test(text[i + ym[0].length] ?? '')) {
        const yStart = i + ym[0].length - 4;
        out.push({
          type: 'DATE_OF_BIRTH',
          start: yStart,
          end: yStart + 4,
          score: 0.6,
          reason: 'year+birth-cue',
        });
        lastEnd = i + ym[0].length;
        break;
      }
    }
  }
  return out;
}
