import { describe, expect, it } from 'vitest';
import { DEFAULT_COUNTRIES, detectPii } from './scanner.ts';
import { PII_TYPES, type PiiType } from './types.ts';

const ALL = new Set<PiiType>(PII_TYPES);

/** Detected values by type, for readable assertions (tests may see values; traces never do). */
function found(text: string, names: 'lexicon' | 'nlp' = 'lexicon', min = 0.5): Array<[string, string]> {
  return detectPii(text, ALL, { defaultCountries: DEFAULT_COUNTRIES, names })
    .filter((m) => m.score >= min)
    .map((m) => [m.type, text.slice(m.start, m.end)]);
}
const typesIn = (text: string) => found(text).map(([t]) => t);

describe('PII recognizers: positives', () => {
  it.each([
    ['Write to jane.doe+news@example.co.uk today.', 'EMAIL', 'jane.doe+news@example.co.uk'],
    ['Call me on +49 30 12345678 tomorrow', 'PHONE', '+49 30 12345678'],
    ['my phone: (415) 555-0132', 'PHONE', '(415) 555-0132'],
    ['Can someone call me on 01.84.17.61.18?', 'PHONE', '01.84.17.61.18'],
    ['What is the limit for card 4111 1111 1111 1111?', 'CREDIT_CARD', '4111 1111 1111 1111'],
    ['Amex 378282246310005 expired', 'CREDIT_CARD', '378282246310005'],
    ['IBAN: DE89 3704 0044 0532 0130 00, thanks', 'IBAN', 'DE89 3704 0044 0532 0130 00'],
    ['pay to GB82WEST12345698765432', 'IBAN', 'GB82WEST12345698765432'],
    ["Here's my SSN: 460-89-9847", 'US_SSN', '460-89-9847'],
    ['social security number 536 22 8726', 'US_SSN', '536 22 8726'],
    ['Meine Steuer-ID ist 86095742719', 'NATIONAL_ID', '86095742719'],
    ['NI number AB 12 34 56 C', 'NATIONAL_ID', 'AB 12 34 56 C'],
    ['login from 203.0.113.42 failed', 'IP_ADDRESS', '203.0.113.42'],
    ['client 2001:db8:85a3::8a2e:370:7334 connected', 'IP_ADDRESS', '2001:db8:85a3::8a2e:370:7334'],
    ['I was born on 12 May 1990 in Berlin', 'DATE_OF_BIRTH', '12 May 1990'],
    ['DOB: 1985-03-04', 'DATE_OF_BIRTH', '1985-03-04'],
    ['Geburtsdatum: 04.03.1985', 'DATE_OF_BIRTH', '04.03.1985'],
    ['Ich bin am 3. März 1979 geboren? nein: geboren am 3. März 1979', 'DATE_OF_BIRTH', '3. März 1979'],
    ['Ship it to 14 Crown Street, London', 'ADDRESS', '14 Crown Street'],
    ['Ich wohne in der Hauptstraße 5, 10115 Berlin', 'ADDRESS', 'Hauptstraße 5, 10115 Berlin'],
    ['Send mail to PO Box 1234 please', 'ADDRESS', 'PO Box 1234'],
    ['ZIP: 90210', 'ADDRESS', '90210'],
    ['My name is Rubija', 'PERSON', 'Rubija'],
    ['Please meet John Smith at noon', 'PERSON', 'John Smith'],
    ['correct it to Dr. Cettina Fanucci?', 'PERSON', 'Cettina Fanucci'],
    ['Dear Frau Müller, danke', 'PERSON', 'Müller'],
    ['key sk-proj-abcdefghijklmnopqrstuvwx1234 here', 'SECRET', 'sk-proj-abcdefghijklmnopqrstuvwx1234'],
    ['AWS AKIAIOSFODNN7EXAMPLE', 'SECRET', 'AKIAIOSFODNN7EXAMPLE'],
    ['token ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'SECRET', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
    ['slack xoxb-123456789012-abcdefghijkl', 'SECRET', 'xoxb-123456789012-abcdefghijkl'],
    ['password: Tr0ub4dor&3xyz', 'SECRET', 'Tr0ub4dor&3xyz'],
  ])('%s', (text, type, value) => {
    expect(found(text)).toContainEqual([type, value]);
  });

  it('finds JWTs and PEM private keys', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(found(`Authorization header ${jwt}`)).toContainEqual(['SECRET', jwt]);
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234\n-----END RSA PRIVATE KEY-----';
    expect(found(`key:\n${pem}\nthanks`)).toContainEqual(['SECRET', pem]);
  });

  it('flags long random strings by entropy', () => {
    expect(typesIn('use Zx9qL2mPvT7rW4kY8nB3cF6hJ1sD5gA0 for the api')).toContain('SECRET');
  });

  it('raises confidence with context words', () => {
    const bare = detectPii('4111111111111111', ALL, {
      defaultCountries: DEFAULT_COUNTRIES,
      names: 'lexicon',
    })[0]!;
    const ctx = detectPii('credit card 4111111111111111', ALL, {
      defaultCountries: DEFAULT_COUNTRIES,
      names: 'lexicon',
    })[0]!;
    expect(ctx.score).toBeGreaterThan(bare.score);
  });

  it('recognizes people with compromise in nlp mode', () => {
    expect(
      found('Yesterday I spoke with Barack Obama about it.', 'nlp').map(([t, v]) => `${t}:${v}`),
    ).toContain('PERSON:Barack Obama');
  });
});

describe('PII recognizers: false-positive traps stay clean', () => {
  it.each([
    ['order numbers', 'Your order number 4111111111111111 has shipped, invoice 2023-00017'],
    ['tracking numbers', 'Tracking 1Z999AA10123456784, reference 9876543210'],
    ['dates that are not birthdays', 'The release is on 2024-05-01 and the deadline is 12 May 1990.'],
    ['version strings', 'Upgrade to version 1.2.3.4 or v10.0.0.1, see section 4.2.1.3'],
    ['plain numbers and amounts', 'We sold 12,345 units for $1,234,567.89 in 2023.'],
    ['products and brands', 'We use Apple Music, Microsoft Teams and Google Docs.'],
    ['places used as things', 'The Paris Agreement and the Berlin Wall are history.'],
    ['chapter and section numbers', 'See Chapter 3 Section 4 and Version 2 Street Fighter.'],
    ['git hashes without a key label', 'Fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8.'],
    ['uuids', 'Request 123e4567-e89b-12d3-a456-426614174000 failed'],
    [
      'ordinary questions',
      'What articles exist which deal with TSS (Time Sharing System), an operating system for IBM computers?',
    ],
  ])('%s', (_name, text) => {
    expect(found(text)).toEqual([]);
  });

  it('keeps a street named after a person inside the address, not as a name', () => {
    expect(typesIn('He lives at 12 Victor Hugo Street, Paris')).toEqual(['ADDRESS']);
  });
});

describe('Secrets: connection strings and labelled values', () => {
  it('takes the password of a URL, not the host after it when the password is the word "secret"', () => {
    const text = 'run `export DATABASE_URL=postgres://keel:secret@db.internal:5432/keel`; then `npm start`';
    // Nor is `keel:secret@db.internal` an email address: it is the URL's user and password.
    expect(found(text)).toEqual([['SECRET', 'secret']]);
    expect(found('mail jane@example.com or see https://jane@example.com/x')).toEqual([
      ['EMAIL', 'jane@example.com'],
    ]);
  });

  it('leaves prose after a label word alone, and drops closing punctuation from a value', () => {
    expect(found('limits.tpm: tokens per minute (token bucket): prompt tokens are counted')).toEqual([]);
    expect(found('Send a password reset link; the token expires.')).toEqual([]);
    expect(found('password: sunshine99.')).toContainEqual(['SECRET', 'sunshine99']);
    expect(found('the api_key "correcthorse" works')).toContainEqual(['SECRET', 'correcthorse']);
  });

  it('still takes a labelled value that follows its label with a separator or a space', () => {
    expect(found('the token abcdEFGH1234ijkl here')).toContainEqual(['SECRET', 'abcdEFGH1234ijkl']);
    expect(found('secret=hunter2hunter2')).toContainEqual(['SECRET', 'hunter2hunter2']);
  });
});
