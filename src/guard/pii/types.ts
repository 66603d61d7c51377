import type { CountryCode } from 'libphonenumber-js';

/** The PII entity types Keel recognizes. Placeholders are `<TYPE_n>`. */
export const PII_TYPES = [
  'PERSON',
  'EMAIL',
  'PHONE',
  'CREDIT_CARD',
  'IBAN',
  'US_SSN',
  'NATIONAL_ID',
  'IP_ADDRESS',
  'DATE_OF_BIRTH',
  'ADDRESS',
  'SECRET',
] as const;
export type PiiType = (typeof PII_TYPES)[number];

/** A recognizer's hit. `reason` is a constant phrase, never built from the text. */
export interface PiiMatch {
  type: PiiType;
  start: number;
  end: number;
  score: number;
  reason: string;
}

export interface RecognizerOptions {
  /** Regions tried for phone numbers written without a country code, in order. */
  defaultCountries: readonly CountryCode[];
  /** `nlp` adds compromise's people() on top of the lexicon recognizer (slower; strict profiles). */
  names: 'lexicon' | 'nlp';
}

export type Recognize = (text: string, opts: RecognizerOptions) => PiiMatch[];
