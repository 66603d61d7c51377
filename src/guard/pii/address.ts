import { withContext } from './context.ts';
import type { PiiMatch } from './types.ts';

/**
 * Street addresses. Three shapes cover most of the world's written addresses:
 *  - number first, then capitalised words and a street-type word ("14 Crown Street", "9 Elm Ave."),
 *  - a street name then its number ("Hauptstraße 5", "Rua do Arenque 1634", "Via Roma 12"),
 *  - post boxes and US military addresses ("PO Box 12", "PSC 1234, Box 5678 APO AE 09012").
 * A match is then extended over what follows it in an address block: unit, postcode and city,
 * "City, ST 12345", a country line ending in a postcode.
 */

/** Accept "Street", "street" and "STREET" without the `i` flag (which would loosen \p{Lu}). */
function words(list: string): string {
  return list
    .split('|')
    .map((w) => `${w[0]!.toUpperCase()}${w.slice(1)}|${w}|${w.toUpperCase()}`)
    .join('|');
}

const STREET_TYPES = words(
  'street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|ter|way|square|sq|parkway|pkwy|highway|hwy|circle|cir|crescent|close|grove|gardens|row|alley|trail|trl|loop|plaza|walk|mews|squares|streets|expressway|freeway|turnpike|pike|route|rte',
);
const CAP = "[\\p{Lu}\\d][\\p{L}\\p{M}'’.-]*";
const NUM_FIRST = new RegExp(
  `(?<![\\p{L}\\p{N}])\\d{1,6}[A-Za-z]?(?:[-/]\\d{1,4})?,?\\s+(?:${CAP}\\s+){0,4}(?:${STREET_TYPES})\\.?(?![\\p{L}\\p{N}])`,
  'gu',
);

const SUFFIXES =
  'straße|strasse|str\\.|weg|gasse|platz|allee|damm|ufer|steig|pfad|chaussee|katu|kuja|tie|polku|vej|vænget|gade|vägen|gatan|veien|gata|laan|straat|plein|gracht|utca|ulica|ulice|sokak|caddesi';
const LEADING_STREET_WORDS =
  'Rue|Rua|Via|Viale|Calle|Avenida|Avenue|Piazza|Piazzale|Corso|Largo|Plaza|Paseo|Carrer|Rambla|Chemin|Allée|Boulevard|Praça|Travessa|Ulica|Al\\.';
const NAME_THEN_NUM = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:` +
    // one word ending in a street suffix: "Hauptstraße 5", "Koskikatu 25"
    `[\\p{Lu}][\\p{L}\\p{M}-]*(?:${SUFFIXES})|[\\p{Lu}][\\p{L}\\p{M}-]{3,}ring` +
    // or a leading street word and its name: "Rua do Arenque 1634", "Via Roma 12", "Avenue des Champs 3"
    `|(?:${LEADING_STREET_WORDS})` +
    `\\s+(?:(?:de|do|da|dos|das|des|del|della|di|la|le|los|las|du)\\s+)?[\\p{Lu}][\\p{L}\\p{M}'’-]+(?:\\s+[\\p{Lu}][\\p{L}\\p{M}'’-]+){0,3}` +
    // or "Name u. 15", "Name út 3" (Hungarian street abbreviations)
    `|[\\p{Lu}][\\p{L}\\p{M}-]+\\s+(?:u\\.|utca|út|tér|krt\\.)` +
    `),?\\s+\\d{1,5}[a-zA-Z]?(?:[-/]\\d{1,4})?\\.?(?![\\p{L}\\p{N}])`,
  'gu',
);
// "12 Rue de la Paix", "62 Via Roma": the street word comes after the number and before the name.
const NUM_THEN_STREET_WORD = new RegExp(
  `(?<![\\p{L}\\p{N}])\\d{1,5}[A-Za-z]?,?\\s+(?:${LEADING_STREET_WORDS})\\s+(?:(?:de|do|da|des|del|della|di|la|le|du)\\s+)*[\\p{Lu}][\\p{L}\\p{M}'’-]+(?:\\s+[\\p{Lu}][\\p{L}\\p{M}'’-]+){0,2}`,
  'gu',
);
// "28030 Edeby 55", "Dalmatinova 43": a name between numbers, with no street word to prove it.
// Only an address cue or a following address line (unit, postcode, city) makes it count.
const NUM_NAME_NUM =
  /(?<![\p{L}\p{N}])(?:\d{1,6}\s+)?[\p{Lu}][\p{Ll}\p{M}'’-]{2,}(?:\s+[\p{Lu}][\p{Ll}\p{M}'’-]{2,}){0,2}\s+\d{1,4}[a-zA-Z]?(?![\p{L}\p{N}.,:]\d|[\p{L}\p{N}])/gu;
const ZIP_LABELLED =
  /(?<![\p{L}\p{N}])(?:zip(?: code)?|postcode|post code|postal code|plz|postleitzahl|code postal|cap)\s*[:#]?\s*(\d{4,5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})(?![\p{L}\p{N}])/giu;
const PO_BOX =
  /(?<![\p{L}\p{N}])(?:(?:P\.? ?O\.? ?Box|Post(?:fach| Office Box))\s+\d{1,6}|(?:PSC|CMR|Unit)\s+\d{1,6},?\s*Box\s+\d{1,6})(?![\p{L}\p{N}])/gu;

// Continuations, tried in order at the position after a match (sticky).
const SEP = /[ \t]*(?:,[ \t]*|\r?\n(?:[ \t]*\r?\n)?[ \t]*(?:,[ \t]*)?)?/y;
const CONT: RegExp[] = [
  /(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|Wohnung|Whg|Bldg|Building|#)\.?\s*[\w-]{1,6}(?![\p{L}\p{N}])/uy,
  /(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}/y,
  /\d{4,5}\s+[\p{Lu}][\p{L}\p{M}-]+(?:[ -][\p{Lu}][\p{L}\p{M}-]+)?(?![\p{L}\p{N}])/uy,
  /[\p{Lu}][\p{L}\p{M}.'-]+(?:\s[\p{Lu}][\p{L}\p{M}.'-]+){0,2},?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?(?!\d)/uy,
  /[\p{Lu}][\p{L}\p{M}.'-]+(?:\s[\p{Lu}][\p{L}\p{M}.'-]+){0,2}\s+\d{4,6}(?![\p{L}\p{N}])/uy,
  /[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}(?![\p{L}\p{N}])/uy,
];
// A bare city or region line only counts when a postcode line follows it in the block.
const CITY_LINE = /[\p{Lu}][\p{L}\p{M}.'-]*(?:\s[\p{Lu}][\p{L}\p{M}.'-]*){0,2}(?=[ \t]*(?:,[ \t]*|\r?\n))/uy;

const POS =
  /\b(address|addr|live at|lives at|living at|located at|ship to|shipping|billing|deliver|send (?:it |them )?to|mail to|adresse|wohne|wohnhaft|anschrift|lieferadresse|straße)\b/;

// Numbers after these words count things, not houses ("Version 2 Street Fighter", "Chapter 3 Section 4").
const NEG =
  /\b(?:version|ver|v|chapter|section|page|level|season|episode|part|vol|volume|no|number|step|day|week|top|grade|class|size|round|stage|phase|item|figure|fig|table|kapitel|seite|teil|stufe)\.?\s*$/;

function extend(text: string, end: number): number {
  let pos = end;
  for (let step = 0; step < 6; step++) {
    SEP.lastIndex = pos;
    const sep = SEP.exec(text);
    const at = sep ? pos + sep[0].length : pos;
    if (at === pos && step > 0 && !/\s/.test(text[pos] ?? '')) break;
    let next = -1;
    for (const re of CONT) {
      re.lastIndex = at;
      const m = re.exec(text);
      if (m) {
        next = at + m[0].length;
        break;
      }
    }
    if (next < 0) {
      CITY_LINE.lastIndex = at;
      const city = CITY_LINE.exec(text);
      if (city && followedByPostcode(text, at + city[0].length)) next = at + city[0].length;
    }
    if (next < 0) break;
    pos = next;
  }
  return pos;
}

function followedByPostcode(text: string, pos: number): boolean {
  const tail = text.slice(pos, pos + 60);
  return /^[ \t]*(?:,[ \t]*|\r?\n(?:[ \t]*\r?\n)?[ \t]*)(?:[\p{Lu}][\p{L}\p{M}.' ()-]*\s)?\d{4,6}(?![\p{L}\p{N}])/u.test(
    tail,
  );
}

export function recognizeAddress(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  const push = (
    start: number,
    end: number,
    base: number,
    reason: string,
    extBonus = 0.1,
    ctxBonus = 0.15,
  ) => {
    // A house number or postcode written before the street belongs to the address.
    const lead = /(?:^|[^\p{L}\p{N}])(\d{1,6}[ \t]+)$/u.exec(text.slice(Math.max(0, start - 10), start));
    if (lead) start -= lead[1]!.length;
    const full = extend(text, end);
    const score = withContext(text, start, full, full > end ? base + extBonus : base, POS, NEG, {
      up: ctxBonus,
      negBefore: 16,
    });
    out.push({ type: 'ADDRESS', start, end: full, score, reason });
  };
  if (/\d/.test(text)) {
    for (const m of text.matchAll(NUM_FIRST)) push(m.index, m.index + m[0].length, 0.7, 'number+street-type');
    for (const m of text.matchAll(NAME_THEN_NUM)) push(m.index, m.index + m[0].length, 0.7, 'street+number');
    for (const m of text.matchAll(NUM_NAME_NUM))
      push(m.index, m.index + m[0].length, 0.4, 'name+number+context', 0.2, 0.25);
    for (const m of text.matchAll(NUM_THEN_STREET_WORD))
      push(m.index, m.index + m[0].length, 0.7, 'number+street-word+name');
    if (text.includes('Box') || text.includes('Postfach'))
      for (const m of text.matchAll(PO_BOX)) push(m.index, m.index + m[0].length, 0.75, 'po-box');
    for (const m of text.matchAll(ZIP_LABELLED)) {
      const start = m.index + m[0].length - m[1]!.length;
      out.push({
        type: 'ADDRESS',
        start,
        end: m.index + m[0].length,
        score: 0.7,
        reason: 'labelled-postcode',
      });
    }
  }
  return out;
}
