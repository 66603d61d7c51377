import { normalizeText, STOPWORDS, stem, words } from '../rag/text.ts';

/**
 * Cuts retrieved chunks into the units the extractive answerer may quote: sentences of prose,
 * list items, table rows (each read with its header) and code blocks, with markdown markers removed.
 * Headings are dropped (they label an answer, they are not one).
 */

export interface Unit {
  /** Text as it will be quoted. */
  text: string;
  /** Index into the source list (not the citation number). */
  source: number;
  /** Order of the unit inside its source. */
  position: number;
  /** A list item or table row: rendered on its own line. */
  item: boolean;
  /** A fenced code block (`text` includes the fences): rendered as a block of its own. */
  code: boolean;
  /** Code, as a block or as short `command`s quoted inline. */
  fromCode: boolean;
  /**
   * A sentence that opens by pointing back ("Both list every key...", "It is shown once."): the
   * position of the unit before it, which it needs to make sense; -1 when that is not in the source.
   */
  after?: number;
  /** The sentence as the source has it, when `text` adds the name of what it describes. */
  own?: string;
  /** Stemmed content terms with their counts. */
  terms: Map<string, number>;
  /** Terms of the heading / lead-in the unit sits under. */
  context: Map<string, number>;
  /** A list item under a lead-in ("An AI demo handles:"): its context may stand in for its own words. */
  leadIn: boolean;
  /**
   * About the document rather than its subject ("This page explains how to...", "More about keys:
   * api-keys.md"): quoted only when nothing else answers.
   */
  meta: boolean;
  length: number;
}

// Words a question is phrased with that say nothing about its subject.
const QUESTION_FILLER = new Set(
  'please tell explain describe show know want need like would could give way ways use using used get also one see view look work works working worked go goes going make possible happen happens happened'.split(
    ' ',
  ),
);

/** Stemmed content terms of a text: normalised, stop words and question filler removed. */
export function contentTerms(text: string): string[] {
  const out: string[] = [];
  for (const w of words(normalizeText(text))) {
    if (STOPWORDS.has(w) || QUESTION_FILLER.has(w) || (w.length < 2 && !/\d/.test(w))) continue;
    out.push(stem(w));
  }
  return out;
}

// Lower-cased tokens (without the final period) after which a period does not end a sentence.
const ABBREVIATIONS = new Set(
  (
    'e.g i.e cf vs etc.al al approx appx dept est fig figs inc ltd co corp jr sr mr mrs ms dr prof st no nos vol ' +
    'vols pp ch sec eq eqs resp ca incl max min misc ref refs ver'
  ).split(' '),
);

const BOUNDARY = /([.!?]+)(["'”’)\]]*)(\s+)(?=`|["'“‘([*]?[\p{Lu}\p{N}])/gu;

/** Splits prose into sentences; a period after an abbreviation, an initial or a dotted acronym is not an end. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  BOUNDARY.lastIndex = 0;
  for (let m = BOUNDARY.exec(text); m !== null; m = BOUNDARY.exec(text)) {
    const end = m.index + m[1]!.length + m[2]!.length;
    if (m[1] === '.') {
      const before = text.slice(start, m.index);
      const lastToken = (before.match(/(\S+)$/)?.[1] ?? '').replace(/^["'“‘([]+/, '').toLowerCase();
      const isInitial = /^\p{L}$/u.test(lastToken);
      const isDotted = /^(\p{L}\.)+\p{L}$/u.test(lastToken);
      if (ABBREVIATIONS.has(lastToken) || isInitial || isDotted) continue;
    }
    const s = text.slice(start, end).trim();
    if (s.length > 0) out.push(s);
    start = m.index + m[0].length;
  }
  const rest = text.slice(start).trim();
  if (rest.length > 0) out.push(rest);
  return out;
}

const HEADING = /^\s{0,3}#{1,6}\s/;
const SETEXT = /^\s{0,3}(=+|-+)\s*$/;
const BULLET = /^\s*(?:[-*+•]|\d{1,3}[.)])\s+/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const FENCE = /^\s*(```|~~~)/;

interface Block {
  text: string;
  kind: 'prose' | 'item' | 'heading' | 'code';
  /** A table row's header cells: context for the row. */
  header?: string;
  /** Code or a table row: marked as such in the source, so never taken for a heading. */
  marked?: boolean;
  /** Code, whether quoted as a block or inline as `command`s. */
  code?: boolean;
  /** A heading guessed from layout in plain text, not marked as one. */
  inferred?: boolean;
}

/** Code blocks longer than this are not quoted: an answer points at them rather than copying them. */
const MAX_CODE_LINES = 12;
/** A list item up to this many words is quoted whole, however many sentences it has. */
const ITEM_WORDS = 50;
/** Up to this many short lines of code read best inline, as `command`s. */
const INLINE_CODE_LINES = 3;

/** The lines of a fenced block (after its opening line, up to its closing fence or the end). */
function codeBlock(lines: string[], open: number): { body: string[]; end: number } {
  const marker = FENCE.exec(lines[open]!)?.[1] ?? '```';
  const body: string[] = [];
  let j = open + 1;
  while (j < lines.length && lines[j]!.trim() !== marker) body.push(lines[j++]!);
  while (body.length > 0 && body.at(-1)!.trim() === '') body.pop();
  while (body.length > 0 && body[0]!.trim() === '') body.shift();
  const indent = Math.min(...body.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
  return { body: body.map((l) => l.slice(Number.isFinite(indent) ? indent : 0).trimEnd()), end: j };
}

// Blocks labelled as output (a sample transcript, a log, headers) show what happens; they are not
// something to type or copy, so they are never quoted as an answer (their words still retrieve).
const OUTPUT_LANGS = new Set(['text', 'txt', 'console', 'output', 'log', 'plaintext']);

function codeBlocks(lines: string[], open: number): { block: Block | undefined; end: number } {
  const { body, end } = codeBlock(lines, open);
  const filled = body.filter((l) => l.trim().length > 0);
  const lang = /^\s*(?:`{3,}|~{3,})\s*([\w+-]+)/.exec(lines[open]!)?.[1]?.toLowerCase();
  if (filled.length === 0 || body.length > MAX_CODE_LINES || (lang && OUTPUT_LANGS.has(lang)))
    return { block: undefined, end };
  // A one-to-three-line command is often the answer itself, quoted inline.
  if (filled.length <= INLINE_CODE_LINES && filled.every((l) => l.length <= 100 && !l.endsWith('\\')))
    return {
      block: {
        text: filled.map((l) => `\`${l.trim()}\``).join('; '),
        kind: 'item',
        marked: true,
        code: true,
      },
      end,
    };
  const fence = FENCE.exec(lines[open]!)?.[1] ?? '```';
  return {
    block: { text: [lines[open]!.trim(), ...body, fence].join('\n'), kind: 'code', marked: true, code: true },
    end,
  };
}

// A pipe inside a cell is escaped (`\|`), as the parsers write it and Markdown allows.
const cells = (line: string) =>
  line
    .trim()
    .replace(/^\||(?<!\\)\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => cleanInline(c.replace(/\\\|/g, '|')));

/**
 * A table row as a sentence of its own: two columns read "name: meaning"; wider rows name every
 * cell by its column ("status: 429; code: rate_limited").
 */
function tableRow(row: string[], header: string[] | undefined): string {
  const filled = row.map((c, i) => [header?.[i] ?? '', c] as const).filter(([, c]) => c.length > 0);
  if (!header || row.length <= 2) return filled.map(([, c]) => c).join(': ');
  return filled.map(([h, c]) => (h ? `${h}: ${c}` : c)).join('; ');
}

function cleanInline(s: string): string {
  return s
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Markdown-ish text → headings, blocks of prose (to be split into sentences) and single-line items. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let para: string[] = [];
  let kind: Block['kind'] = 'prose';
  const flush = () => {
    if (para.length > 0) out.push({ text: cleanInline(para.join(' ')), kind });
    para = [];
    kind = 'prose';
  };
  let header: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!/^\s*\|/.test(line) && !TABLE_SEP.test(line)) header = undefined;
    if (FENCE.test(line)) {
      flush();
      const { block, end } = codeBlocks(lines, i);
      if (block) out.push(block);
      i = end;
      continue;
    }
    if (HEADING.test(line)) {
      flush();
      out.push({ text: cleanInline(line.replace(/^\s*#+\s*/, '').replace(/\s#+\s*$/, '')), kind: 'heading' });
      continue;
    }
    if (SETEXT.test(line) && para.length > 0 && kind === 'prose') {
      // A setext underline turns the paragraph above it into a heading.
      kind = 'heading';
      flush();
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (TABLE_SEP.test(line)) continue;
    if (/^\s*\|/.test(line)) {
      flush();
      const row = cells(line);
      // The first row of a table is its header: it labels the rows, it is not one.
      if (header === undefined) header = row;
      else if (row.some((c) => c.length > 0))
        out.push({ text: tableRow(row, header), kind: 'item', header: header.join(' '), marked: true });
      continue;
    }
    const stripped = line.replace(/^\s*>\s?/, '');
    if (BULLET.test(stripped)) {
      flush();
      para.push(stripped.replace(BULLET, ''));
      kind = 'item';
      continue;
    }
    para.push(stripped.trim());
  }
  flush();
  return out;
}

const TERMINAL = /[.!?:;]["'”’)\]]*$/;

/**
 * Plain-text documents mark headings only by layout: a short unpunctuated line standing alone, or a
 * lone list item that introduces a paragraph. Those become headings too.
 */
function inferHeadings(bs: Block[]): void {
  for (let i = 0; i < bs.length; i++) {
    const b = bs[i]!;
    if (b.kind === 'heading' || b.marked || TERMINAL.test(b.text) || b.text.split(' ').length > 16) continue;
    const prev = bs[i - 1];
    const next = bs[i + 1];
    if (next === undefined || next.kind === 'heading') continue;
    if (b.kind === 'prose' || (b.kind === 'item' && prev?.kind !== 'item' && next.kind === 'prose')) {
      b.kind = 'heading';
      b.inferred = true;
    }
  }
}

// A sentence that points at its own document, or only at another one.
const SELF_REFERENCE = /^(?:this|the following|the next) (?:page|document|section|guide|chapter|article)\b/i;
const CROSS_REFERENCE_ONLY = /:\s*[\w./-]+\.(?:md|html?|pdf)\s*[.!]?$/i;
const isMeta = (sentence: string) => SELF_REFERENCE.test(sentence) || CROSS_REFERENCE_ONLY.test(sentence);

// Headings that name a thing rather than a topic: an HTTP route (`DELETE /v1/admin/keys/{id}`), a
// command (`keel ingest`) or a setting (`passthroughProvider`). Reference docs describe such a thing
// in a first sentence with no subject ("Revokes the key and returns it."), so it is quoted with its name.
const NAMED_THING =
  /^(?:(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+\/\S*(?:\s+\([^)]*\))?|`?[a-z/][\w./{}<>-]*(?:\s+[a-z][\w-]*){0,3}`?)$/;
const namedThing = (heading: string) =>
  NAMED_THING.test(heading) && !STOPWORDS.has(heading) ? heading.replace(/\s+\([^)]*\)$/, '') : undefined;

// How a piece of text that starts in the middle of a sentence begins: a lower-case word, closing or
// joining punctuation, or a number that closes something.
const MID_SENTENCE = /^(?:\p{Ll}|[)\]},.;:!?&|]|\p{N}+[)\]},;:])/u;

// Openings that refer to what came just before: a pronoun, a demonstrative or a connective.
const POINTS_BACK =
  /^(?:it|its|they|them|their|this|these|those|that|both|such|either|neither|he|she|his|her|also|however|otherwise|instead|therefore|thus|hence|but|so)\b/i;

/** The terms of a paragraph's run-in heading ("Chunking.", "Retries and fallbacks:"), if it starts with one. */
function runInHeading(sentence: string): string[] | undefined {
  if (!/^[\p{Lu}`][^.:!?]*[.:]$/u.test(sentence) || words(sentence).length > 4) return undefined;
  const terms = contentTerms(sentence);
  return terms.length > 0 ? terms : undefined;
}

function termCounts(terms: string[]): Map<string, number> {
  const tf = new Map<string, number>();
  for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
  return tf;
}

/**
 * Quotable units of one source, in reading order. Each carries the terms of the heading above it and
 * of a lead-in line ending in `:` as context, since "This handles auth and routing." only makes sense
 * under "Thin orchestration layer".
 */
export function sourceUnits(text: string, source: number, headingPath?: string): Unit[] {
  const units: Unit[] = [];
  const bs = blocks(text);
  inferHeadings(bs);
  let position = 0;
  let first = true;
  let heading: string[] = [];
  let leadIn: string[] = [];
  // A retrieved chunk's own heading is not in its text; it comes with the chunk. It can name what a
  // first sentence with no subject describes, but its words are not counted for the sentences below
  // it: on bench/docs-qa that let more sentences of the right section in, and answers grew.
  // `previous` is what a sentence that points back would point at: the unit before it, the heading
  // (which the sentence may well be about: "This handles auth" under "Thin orchestration layer"), or
  // nothing known (the chunk starts there, or the text before it is not quotable).
  const section = headingPath?.split(' > ').at(-1)?.trim();
  let previous: number | 'heading' | undefined = section ? 'heading' : undefined;
  let named = section ? namedThing(section) : undefined;
  for (const b of bs) {
    if (b.kind === 'heading') {
      previous = 'heading';
      named = b.inferred ? undefined : namedThing(b.text);
      heading = contentTerms(b.text);
      leadIn = [];
      first = false;
      continue;
    }
    // A list item of a few sentences is one thought ("unchanged: ... Nothing is written for them."):
    // quoted whole, its later sentences keep what they refer to. A long item is split like prose.
    const whole =
      b.kind === 'code' ||
      b.header !== undefined ||
      (b.kind === 'item' && words(b.text).length <= ITEM_WORDS);
    const pieces = whole ? [b.text] : splitSentences(b.text);
    let nextLeadIn: string[] = [];
    if (b.kind === 'prose') {
      // A lead-in ("An app's p95 latency per hour:") introduces what follows; it is context, not an
      // answer. The sentences before it in its paragraph are quoted as usual.
      if (pieces.at(-1)?.endsWith(':')) nextLeadIn = contentTerms(pieces.pop()!);
      leadIn = [];
    }
    let context = termCounts([...heading, ...leadIn, ...(b.header ? contentTerms(b.header) : [])]);
    const runIn = b.kind === 'prose' && pieces.length > 1 ? runInHeading(pieces[0]!) : undefined;
    if (runIn) {
      // "**Chunking.** The default size is..." : the run-in heading is the paragraph's own heading.
      context = termCounts([...heading, ...runIn]);
      pieces.shift();
      first = false;
      previous = 'heading';
      named = undefined;
    }
    for (const p of pieces) {
      // A chunk cut mid-sentence by the chunker's overlap starts with a fragment ("the key.", "50),
      // cursor."): not quotable.
      const fragment = first && b.kind === 'prose' && MID_SENTENCE.test(p);
      first = false;
      const terms = contentTerms(p);
      if (fragment || terms.length === 0 || (!b.marked && words(p).length < 3)) {
        previous = undefined;
        continue;
      }
      const after =
        b.kind === 'prose' && previous !== 'heading' && POINTS_BACK.test(p) ? (previous ?? -1) : undefined;
      const subject =
        named !== undefined &&
        previous === 'heading' &&
        b.kind === 'prose' &&
        /^\p{Lu}/u.test(p) &&
        !p.toLowerCase().includes(named.replace(/`/g, '').toLowerCase());
      units.push({
        text: subject ? `${named}: ${p}` : p,
        source,
        position: position++,
        item: b.kind === 'item' && pieces.length === 1,
        code: b.kind === 'code',
        fromCode: b.code === true,
        terms: termCounts(terms),
        context,
        leadIn: b.kind === 'item' && leadIn.length > 0,
        meta: !b.marked && isMeta(p),
        length: terms.length,
        ...(after === undefined ? {} : { after }),
        ...(subject ? { own: p } : {}),
      });
      previous = position - 1;
    }
    first = false;
    if (b.kind === 'prose') leadIn = nextLeadIn;
  }
  return units;
}
