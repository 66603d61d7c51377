import { clamp01 } from './context.ts';
import {
  compromise,
  firstNames,
  honorifics,
  isCommonWord,
  lastNames,
  loadNameLexicon,
  places,
  thingWords,
} from './names-lexicon.ts';
import type { PiiMatch, RecognizerOptions } from './types.ts';

/**
 * Person names without a model. Capitalised tokens are grouped into runs; a run scores by what its
 * words are (known first name, known surname, unknown capitalised word, ordinary word) and by the
 * words around it: cues like "my name is", "Dear", "Dr." raise it, a following "Inc"/"Street"/"Award"
 * turns it into a thing, "the" before it lowers it. The `nlp` mode adds compromise's people() for
 * texts short enough to afford it.
 */
const CAP_TOKEN = /(?<![\p{L}\p{M}\p{N}_@#/'’-])\p{Lu}[\p{L}\p{M}]*(?:['’-]\p{L}[\p{L}\p{M}]*)*\.?/gu;
const STRONG_CUE =
  "my name is|my name's|i am called|call me|mein name ist|ich heiße|ich heisse|dear|sehr geehrte[rs]?|liebe[rs]?|(?:first |last |full |sur|account |customer )?name(?: on the \\w+| of the \\w+)?\\s*(?:is|was)?\\s*[?:]|regards,?|sincerely,?|cheers,|signed|yours(?: truly)?,|hi|hello|hey|hallo|servus|named|called|directed by|written by|performed by";
const MEDIUM_CUE =
  "i'm|i am|this is|it's|ich bin|hier ist|thanks|thank you|meet|met|married|patient|client|customer|contact|ask|tell|told|under|mit|für|von|bei";
const WEAK_CUE = 'by|with|from|and|to|for|said|says|according to|und';
/**
 * A cue ending right where a name starts (its glue runs up to the name). Read only in the window
 * before each candidate name: most of a long text is never looked at.
 */
const CUE_BEFORE = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:(?<strong>${STRONG_CUE})|(?<medium>${MEDIUM_CUE})|(?<weak>${WEAK_CUE}))[\\s,:"“'-]*$|(?<comma>,)[\\s"“'-]*$`,
  'iu',
);
/** Longest cue plus glue looked for before a name. */
const CUE_WINDOW = 48;
const AFTER_CUE =
  /^(?:'s|’s|\s+(?:said|says|wrote|writes|told|asked|replied|who|is a|was a|and his|and her|sagte|schrieb)\b|\s*,\s*(?:who|the)\b|:)/;
const LOWER_AFTER_CUE =
  /(?:my name is|call me|mein name ist|ich heiße|ich heisse|dear|hi|hello)\s+([\p{Ll}][\p{L}\p{M}'-]+)(?:\s+([\p{Ll}][\p{L}\p{M}'-]+))?/dgiu;

const LATIN_EXTENDED = /[\u00c0-\u024f]/;
const SUBJECT_VERB =
  /^\s+(?:is|was|has|had|have|lives|lived|said|says|told|asked|wrote|writes|called|works|worked|went|will|would|can|could|did|does|gave|given|got|took|made|makes|wants|wanted|needs|needed|listed|joined|left|moved|sent|died|born|married)\b/;

interface Tok {
  start: number;
  end: number;
  /** End including a trailing dot ("Dr."), for measuring the gap to the next token. */
  rawEnd: number;
  lower: string;
  initial: boolean;
  dotted: boolean;
  allCaps: boolean;
  /** `nameCapable`, computed on first use. */
  capable?: boolean;
}

const SENTENCE_BREAK = /[.!?:;\n…•|]/;

function sentenceInitial(text: string, start: number): boolean {
  for (let i = start - 1; i >= 0; i--) {
    const c = text[i]!;
    if (
      c === ' ' ||
      c === '\t' ||
      c === '"' ||
      c === '“' ||
      c === '‘' ||
      c === "'" ||
      c === '(' ||
      c === '[' ||
      c === '*' ||
      c === '-' ||
      c === '«' ||
      c === '>'
    )
      continue;
    return SENTENCE_BREAK.test(c);
  }
  return true;
}

function tokens(text: string): Tok[] {
  const out: Tok[] = [];
  for (const m of text.matchAll(CAP_TOKEN)) {
    let w = m[0];
    const dotted = w.endsWith('.');
    if (dotted) w = w.slice(0, -1);
    if (w.length > 2 && w.endsWith('s') && (w[w.length - 2] === "'" || w[w.length - 2] === '’'))
      w = w.slice(0, -2);
    const initial = w.length === 1;
    const end = m.index + w.length + (dotted && initial ? 1 : 0);
    out.push({
      start: m.index,
      end,
      rawEnd: m.index + m[0].length,
      lower: w.toLowerCase(),
      initial,
      dotted,
      allCaps: w.length > 1 && w === w.toUpperCase(),
    });
  }
  return out;
}

function nameCapable(t: Tok): boolean {
  t.capable ??= computeCapable(t);
  return t.capable;
}

function computeCapable(t: Tok): boolean {
  if (t.initial) return true;
  if (t.allCaps) return false;
  if (firstNames.has(t.lower) || lastNames.has(t.lower)) return true;
  return !isCommonWord(t.lower) && !thingWords.has(t.lower);
}

/** Strength of the cue that ends (with its glue) at `at`, memoised per offset. */
function cueAt(text: string, at: number, memo: Map<number, number>): number {
  const known = memo.get(at);
  if (known !== undefined) return known;
  // One character more than the window, so the lookbehind sees what precedes a cue at its start.
  const from = Math.max(0, at - CUE_WINDOW - 1);
  const m = CUE_BEFORE.exec(text.slice(from, at));
  let b = 0;
  if (m && (m.index > 0 || from === 0)) {
    const g = m.groups!;
    b = g.strong ? 0.4 : g.medium ? 0.25 : 0.1;
  }
  memo.set(at, b);
  return b;
}

function cueBonus(text: string, start: number, end: number, cues: Map<number, number>): number {
  let b = cueAt(text, start, cues);
  if (AFTER_CUE.test(text.slice(end, end + 16).toLowerCase())) b += 0.1;
  const lineStart = start === 0 || text[start - 1] === '\n';
  if (lineStart && text[end] === ':') b += 0.35;
  return b;
}

function scoreRun(
  text: string,
  run: Tok[],
  honorific: boolean,
  next: Tok | undefined,
  cues: Map<number, number>,
): number {
  const words = run.filter((t) => !t.initial);
  if (words.length === 0) return 0;
  const first = words[0]!;
  const last = words[words.length - 1]!;
  const after = text.slice(run[run.length - 1]!.end, run[run.length - 1]!.end + 2);
  if (next && /^\s/.test(after) && thingWords.has(next.lower)) return 0;
  let s: number;
  if (words.length >= 2 && firstNames.has(first.lower)) s = 0.85;
  else if (words.length >= 2 && lastNames.has(last.lower)) s = 0.75;
  else if (words.length >= 2 && words.some((t) => firstNames.has(t.lower))) s = 0.7;
  else if (words.length === 1 && firstNames.has(first.lower)) s = 0.6;
  else if (words.length === 1 && lastNames.has(first.lower)) s = 0.5;
  else if (words.length >= 2) s = 0.45;
  else s = 0.25;
  const known = firstNames.has(first.lower) || lastNames.has(first.lower);
  // "Google Docs", "Berlin Wall": a known place or organisation in the run makes it a thing.
  if (
    words.some((t) => places.has(t.lower)) &&
    !words.some((t) => firstNames.has(t.lower) || lastNames.has(t.lower))
  )
    s -= 0.3;
  if (sentenceInitial(text, run[0]!.start) && !honorific) s -= words.length === 1 ? 0.1 : 0.05;
  const head = text.slice(Math.max(0, run[0]!.start - 5), run[0]!.start).toLowerCase();
  if (/\b(the|a|an)\s+$/.test(head) && !(words.length >= 2 && known)) s -= 0.2;
  if (honorific) s += 0.4;
  // "Ravil G Yefimov", "Janka M. Szász": a middle initial is how names are written.
  if (run.length >= 3 && run.slice(1, -1).some((t) => t.initial)) s += 0.2;
  // Unknown capitalised pairs with letters English words lack are usually foreign names.
  if (words.length >= 2 && !known && words.some((t) => LATIN_EXTENDED.test(t.lower))) s += 0.1;
  // A name is often the subject: "Kevin had given", "Tomomi Nishiyama lives at".
  if (SUBJECT_VERB.test(text.slice(run[run.length - 1]!.end, run[run.length - 1]!.end + 12))) s += 0.1;
  s += cueBonus(text, run[0]!.start, run[run.length - 1]!.end, cues);
  return clamp01(s);
}

/** True when `text[from, to)` is one or two spaces or tabs. */
function spaceGap(text: string, from: number, to: number): boolean {
  const len = to - from;
  if (len < 1 || len > 2) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

export function recognizePerson(text: string, opts: RecognizerOptions): PiiMatch[] {
  loadNameLexicon();
  const toks = tokens(text);
  const out: PiiMatch[] = [];
  const cues = new Map<number, number>();
  let i = 0;
  while (i < toks.length) {
    // A group is a chain of capitalised tokens separated by spaces only.
    let j = i;
    while (j + 1 < toks.length) {
      const a = toks[j]!;
      if (!spaceGap(text, a.rawEnd, toks[j + 1]!.start)) break;
      if (a.dotted && !a.initial && !honorifics.has(a.lower)) break;
      j++;
    }
    let k = i;
    let honorific = false;
    while (k <= j) {
      if (honorifics.has(toks[k]!.lower) && k < j) {
        honorific = true;
        k++;
        continue;
      }
      if (!nameCapable(toks[k]!)) {
        honorific = false;
        k++;
        continue;
      }
      let e = k;
      while (e + 1 <= j && nameCapable(toks[e + 1]!)) e++;
      const run = toks.slice(k, e + 1);
      while (run.length > 1 && run[run.length - 1]!.initial && !run[run.length - 1]!.dotted) run.pop();
      const score = scoreRun(text, run, honorific, toks[e + 1], cues);
      if (score > 0) {
        const start = run[0]!.start;
        const end = run[run.length - 1]!.end;
        out.push({
          type: 'PERSON',
          start,
          end,
          score,
          reason: honorific ? 'honorific+name' : 'name-lexicon',
        });
      }
      honorific = false;
      k = e + 1;
    }
    i = j + 1;
  }
  for (const m of text.matchAll(LOWER_AFTER_CUE)) {
    const w1 = m[1]!.toLowerCase();
    if (!firstNames.has(w1) && !lastNames.has(w1)) continue;
    const [start, end1] = m.indices![1]!;
    const w2 = m[2]?.toLowerCase();
    const two = w2 !== undefined && !isCommonWord(w2);
    const end = two ? m.indices![2]![1] : end1;
    out.push({ type: 'PERSON', start, end, score: 0.75, reason: 'cue+lowercase-name' });
  }
  if (opts.names === 'nlp' && text.length <= NLP_MAX_CHARS) out.push(...nlpPeople(text));
  return out;
}

/** compromise costs ~0.3 ms per 100 characters; above this the lexicon recognizer stands alone. */
export const NLP_MAX_CHARS = 4000;

function nlpPeople(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  const people = compromise()(text).people().json({ offset: true }) as Array<{
    offset?: { start: number; length: number };
  }>;
  for (const p of people) {
    if (!p.offset) continue;
    const { start, length } = p.offset;
    const span = text.slice(start, start + length).replace(/['’]s$|[\s.,;:!?]+$/u, '');
    if (!/\p{Lu}/u.test(span)) continue;
    out.push({ type: 'PERSON', start, end: start + span.length, score: 0.6, reason: 'nlp-people' });
  }
  return out;
}
