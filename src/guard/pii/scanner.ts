import type { CountryCode } from 'libphonenumber-js';
import type { Finding, Scanner, Stage } from '../types.ts';
import { recognizeAddress } from './address.ts';
import { recognizeCard } from './card.ts';
import { recognizeDob } from './dob.ts';
import { recognizeEmail } from './email.ts';
import { recognizeIban } from './iban.ts';
import { recognizeIp } from './ip.ts';
import { recognizeNationalId } from './national-id.ts';
import { recognizePerson } from './person.ts';
import { recognizePhone } from './phone.ts';
import { recognizeSecrets } from './secrets.ts';
import { recognizeSsn } from './ssn.ts';
import { PII_TYPES, type PiiMatch, type PiiType, type Recognize, type RecognizerOptions } from './types.ts';

const RECOGNIZERS: Array<[readonly PiiType[], Recognize]> = [
  [['SECRET'], recognizeSecrets],
  [['EMAIL'], recognizeEmail],
  [['IBAN'], recognizeIban],
  [['CREDIT_CARD'], recognizeCard],
  [['US_SSN'], recognizeSsn],
  [['NATIONAL_ID'], recognizeNationalId],
  [['IP_ADDRESS'], recognizeIp],
  [['DATE_OF_BIRTH'], recognizeDob],
  [['PHONE'], recognizePhone],
  [['ADDRESS'], recognizeAddress],
  [['PERSON'], recognizePerson],
];

export const DEFAULT_COUNTRIES: readonly CountryCode[] = [
  'US',
  'GB',
  'DE',
  'FR',
  'IT',
  'ES',
  'NL',
  'AT',
  'CH',
  'CA',
  'AU',
  'IN',
];

export interface PiiScannerOptions {
  id?: string;
  stage?: Stage;
  entities?: readonly PiiType[];
  names?: 'lexicon' | 'nlp';
  defaultCountries?: readonly CountryCode[];
  /** Matches below this are dropped before overlap resolution (profiles apply their own thresholds later). */
  minScore?: number;
}

/**
 * Keeps the best of overlapping matches: higher score first, then the longer span. An email inside
 * a "name" run, or a card number that is also a valid phone number, ends up as one finding.
 */
export function resolveOverlaps(matches: PiiMatch[], containerMin = 0.5): PiiMatch[] {
  // A confident match that contains another wins regardless of score: a street named after a
  // person is part of the address, a name inside an email address is part of the email.
  // One sweep in start order: a match is contained when a confident one that started earlier
  // reaches at least as far, or one that starts with it reaches further.
  const byStart = [...matches].sort((a, b) => a.start - b.start || b.end - a.end);
  const inner = new Set<PiiMatch>();
  let reach = Number.NEGATIVE_INFINITY; // furthest end of confident matches that started earlier
  for (let i = 0; i < byStart.length; ) {
    const start = byStart[i]!.start;
    let j = i;
    while (j < byStart.length && byStart[j]!.start === start) j++;
    let sameStartReach = Number.NEGATIVE_INFINITY; // sorted by end descending within the group
    for (let k = i; k < j; k++) {
      const m = byStart[k]!;
      if (reach >= m.end || sameStartReach > m.end) inner.add(m);
      if (m.score >= containerMin && m.end > sameStartReach) sameStartReach = m.end;
    }
    if (sameStartReach > reach) reach = sameStartReach;
    i = j;
  }
  // Input order, then a stable sort: ties keep the order the recognizers produced them in.
  const sorted = matches
    .filter((m) => !inner.has(m))
    .sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start));
  const kept: PiiMatch[] = [];
  for (const m of sorted) {
    if (kept.some((k) => m.start < k.end && k.start < m.end)) continue;
    kept.push(m);
  }
  return kept.sort((a, b) => a.start - b.start);
}

/** Runs the selected recognizers over `text`; the core of the `pii` and `secrets` scanners. */
export function detectPii(
  text: string,
  entities: ReadonlySet<PiiType>,
  opts: RecognizerOptions,
  minScore = 0.2,
): PiiMatch[] {
  const all: PiiMatch[] = [];
  for (const [types, recognize] of RECOGNIZERS) {
    if (!types.some((t) => entities.has(t))) continue;
    for (const m of recognize(text, opts)) if (m.score >= minScore && entities.has(m.type)) all.push(m);
  }
  return resolveOverlaps(all);
}

export function createPiiScanner(options: PiiScannerOptions = {}): Scanner {
  const id = options.id ?? 'pii';
  const entities = new Set<PiiType>(options.entities ?? PII_TYPES);
  const ropts: RecognizerOptions = {
    defaultCountries: options.defaultCountries ?? DEFAULT_COUNTRIES,
    names: options.names ?? 'lexicon',
  };
  const minScore = options.minScore ?? 0.2;
  return {
    id,
    stage: options.stage ?? 'input',
    scan(text) {
      const findings: Finding[] = detectPii(text, entities, ropts, minScore).map((m) => ({
        type: m.type,
        start: m.start,
        end: m.end,
        score: m.score,
        reason: m.reason,
        scanner: id,
      }));
      return { findings };
    },
  };
}
