import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { digitCount, withContext } from './context.ts';
import type { PiiMatch, RecognizerOptions } from './types.ts';

/**
 * Phone numbers. A cheap regex finds digit runs shaped like phone numbers; libphonenumber (full
 * metadata) then decides validity, internationally for `+`/`00` numbers and per default region
 * otherwise. Scanning the whole text with libphonenumber's own finder costs ~1 ms per KB, this
 * costs nothing on text without digit runs.
 */
const CANDIDATE =
  /(?<![\p{L}\p{N}_+\-./,])(?:\+|00)?(?:\(\d{1,5}\)|\d{1,5})(?:(?:[ .\-/]|\) ?| ?\()?\d{1,6}\)?){1,7}(?: ?(?:ext\.?|x|#) ?\d{1,5})?(?![\p{L}\p{N}_]|[.\-/,:]\d)/gu;

const POS =
  /\b(phone|tel|telephone|mobile|cell|call|calls|called|text me|sms|whatsapp|fax|contact|reach|dial|ring|number|no\.|nummer|telefon|handy|mobil|rufnummer|anruf|anrufen|ruf|erreichbar)\b|☎|📞/;
const NEG =
  /\b(order|invoice|account|acct|card|credit|iban|ssn|social security|tracking|reference|ref|id|isbn|serial|zip|postcode|plz|bestell|rechnung|kunden|konto|ticket|case|pin|otp|code|amount|price|total|version|policy|license|licence|routing|customer)\b[^\n]{0,12}$|[$€£]\s*$/;

const DATE_LIKE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2}))(?:$|\s)/;
// Dotted numbers with up to four groups are versions, IPs or decimals; French phones have five.
const SHORT_DOTTED = /^\d+(?:\.\d+){1,3}$/;

export function recognizePhone(text: string, opts: RecognizerOptions): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const raw = m[0];
    const digits = digitCount(raw);
    if (digits < 7 || digits > 15) continue;
    if (DATE_LIKE.test(raw) || SHORT_DOTTED.test(raw)) continue;
    const score = scoreNumber(raw, opts);
    if (score <= 0) continue;
    const start = m.index;
    const end = start + raw.length;
    const intl = raw.startsWith('+') || raw.startsWith('00');
    const hasSeparators = /[\s\-.()/]/.test(raw) || intl;
    // Short national numbers look like postcodes, house numbers and amounts: they need context.
    const base = score - (hasSeparators ? 0 : 0.15) - (!intl && digits < 9 ? 0.2 : 0);
    const s = withContext(text, start, end, base, POS, NEG, {
      up: 0.3,
      down: 0.45,
    });
    if (s > 0) out.push({ type: 'PHONE', start, end, score: s, reason: 'phone-valid' });
  }
  return out;
}

function scoreNumber(raw: string, opts: RecognizerOptions): number {
  const intl = raw.startsWith('+') || raw.startsWith('00');
  if (intl) {
    const p = parsePhoneNumberFromString(raw.startsWith('00') ? `+${raw.slice(2)}` : raw);
    if (!p) return 0;
    return p.isValid() ? 0.8 : p.isPossible() ? 0.4 : 0;
  }
  let possible = false;
  for (const country of opts.defaultCountries) {
    const p = parsePhoneNumberFromString(raw, country);
    if (!p) continue;
    if (p.isValid()) return 0.6;
    if (p.isPossible()) possible = true;
  }
  return possible ? 0.3 : 0.15;
}
