/**
 * Text normalisation shared by the hashing embedder and the chunker: NFKC, lower case, diacritics
 * folded, word tokens, English stop words and a light stemmer. Deterministic and dependency-free, so
 * an embedding computed today equals one computed after an upgrade of an unrelated package.
 */

const MARKS = /\p{M}+/gu;
const WORD = /[\p{L}\p{N}]+/gu;

/** NFKC + lower case + diacritics folded (`Café` → `cafe`, `ﬁ` → `fi`). */
export function normalizeText(text: string): string {
  const nfkc = text.normalize('NFKC').toLowerCase();
  // Only pay for decomposition when the text has non-ASCII characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range test is the point
  if (/^[\u0000-\u007f]*$/.test(nfkc)) return nfkc;
  return nfkc.normalize('NFD').replace(MARKS, '').normalize('NFC');
}

/** Word tokens (letters and digits) of already-normalised text. */
export function words(normalized: string): string[] {
  return normalized.match(WORD) ?? [];
}

// The Snowball English stop-word list (the one PostgreSQL's `english` configuration uses), so the
// embedder and the full-text index ignore the same function words.
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers ' +
    'herself it its itself they them their theirs themselves what which who whom this that these those am is ' +
    'are was were be been being have has had having do does did doing a an the and but if or because as until ' +
    'while of at by for with about against between into through during before after above below to from up ' +
    'down in out on off over under again further then once here there when where why how all any both each ' +
    'few more most other some such no nor not only own same so than too very s t can will just don should now ' +
    'd ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn ' +
    'weren won wouldn'
  ).split(' '),
);

const VOWEL = /[aeiouy]/;

/**
 * A light English suffix stripper (plural, -ing, -ed, -ly and a few derivational endings). Cheaper
 * than a full Porter stemmer and, together with character n-grams, enough for hashed features: two
 * forms of a word only need to land on the same feature, not on a linguistically correct stem.
 */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  for (const suffix of [
    'ational',
    'ization',
    'fulness',
    'ousness',
    'iveness',
    'ations',
    'ation',
    'ingly',
    'edly',
  ]) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  if (w.endsWith('ing') && w.length > 5 && VOWEL.test(w.slice(0, -3))) w = undouble(w.slice(0, -3));
  else if (w.endsWith('ed') && w.length > 4 && VOWEL.test(w.slice(0, -2))) w = undouble(w.slice(0, -2));
  else if (w.endsWith('ly') && w.length > 4) w = w.slice(0, -2);
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  if (w.endsWith('y') && w.length > 3) w = `${w.slice(0, -1)}i`;
  return w;
}

function undouble(w: string): string {
  const n = w.length;
  if (n > 3 && w[n - 1] === w[n - 2] && !'lsz'.includes(w[n - 1] as string)) return w.slice(0, -1);
  return w;
}
