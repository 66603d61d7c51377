import { countTokens, decode, encode } from '../tokens.ts';
import type { Chunk, ParsedDocument } from './types.ts';

/**
 * Chunk sizes, in gpt-tokenizer (o200k_base) tokens of the chunk text:
 * - `chunkTokens` (config `rag.chunkTokens`, default 350): the most a chunk holds. Big enough for a
 *   paragraph or two of context, small enough that several fit an answer prompt and that a chunk is
 *   about one thing (BM25 and cosine both blur on long passages).
 * - `overlapTokens` (config `rag.chunkOverlapTokens`, default 50): how much of the end of a chunk is
 *   repeated at the start of the next one in the same section, so a fact that straddles a boundary
 *   is whole in at least one chunk.
 * The heading path is stored with each chunk and indexed with it, and its tokens come out of the
 * budget so heading + text stays within `chunkTokens`.
 */
export interface ChunkOptions {
  chunkTokens: number;
  overlapTokens: number;
}

export const DEFAULT_CHUNK_OPTIONS: ChunkOptions = { chunkTokens: 350, overlapTokens: 50 };

/** A piece of a section: a paragraph, a line of an oversize paragraph, a sentence or a token slice. */
interface Unit {
  text: string;
  tokens: number;
  /** Joins this unit to the one before it in a chunk. */
  sep: string;
  /** The opening fence line of the code block this unit starts inside, if it does. */
  inCode?: string | undefined;
  /** The header row of the table this unit continues, if it does. */
  tableHeader?: string | undefined;
}

// Table rows keep their pipes (src/rag/parse/markdown.ts); a chunk that starts inside a table
// repeats its header row, without which the cells mean nothing.
const TABLE_ROW = /^\s*\|/;

// The parsers mark code with fences (src/rag/parse/markdown.ts). A chunk that starts or ends inside
// a code block gets the fence it lacks, so every chunk reads as balanced markdown.
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Tokens kept free in a section with code for those added fences. */
const FENCE_RESERVE = 8;

/** The fence state after `text`, starting from `open` (an opening fence line, or undefined). */
function fenceAfter(text: string, open: string | undefined): string | undefined {
  let state = open;
  for (const line of text.split('\n')) {
    const m = FENCE.exec(line);
    if (!m) continue;
    if (state === undefined) state = line.trim();
    else if (line.trim() === fenceMarker(state)) state = undefined;
  }
  return state;
}

const fenceMarker = (open: string) => FENCE.exec(open)?.[1] ?? '```';

// Every separator counts as one token: "\n\n" and "\n" are one token, " " merges into the next word.
const SEP_TOKENS = 1;
const sentences = new Intl.Segmenter('en', { granularity: 'sentence' });

/**
 * Splits a parsed document by structure: sections (headings) are hard boundaries; inside a section,
 * paragraphs are packed greedily up to the budget; a paragraph over budget is split into lines, then
 * sentences, then token slices. Chunks of one section overlap by up to `overlapTokens`.
 */
export function chunkDocument(doc: ParsedDocument, opts: ChunkOptions = DEFAULT_CHUNK_OPTIONS): Chunk[] {
  const chunks: Chunk[] = [];
  for (const section of doc.sections) {
    const heading = section.headingPath.join(' > ');
    // Keep at least half the budget for text, whatever the heading's length.
    const lines = section.text.split('\n');
    const reserve = (lines.some((l) => FENCE.test(l)) ? FENCE_RESERVE : 0) + tableHeaderTokens(lines);
    const budget = Math.max(
      Math.floor(opts.chunkTokens / 2),
      opts.chunkTokens - reserve - (heading ? countTokens(heading) + SEP_TOKENS : 0),
    );
    const overlap = Math.min(opts.overlapTokens, Math.floor(budget / 2));
    for (const text of pack(units(section.text, budget), budget, overlap)) {
      chunks.push({
        position: chunks.length,
        headingPath: section.headingPath,
        heading,
        text,
        tokenCount: countTokens(text),
      });
    }
  }
  return chunks;
}

/** The indexed form of a chunk: its heading path, then its text. Embedded and full-text indexed. */
export function indexText(chunk: Pick<Chunk, 'heading' | 'text'>): string {
  return chunk.heading ? `${chunk.heading}\n${chunk.text}` : chunk.text;
}

function units(text: string, budget: number): Unit[] {
  const out: Unit[] = [];
  for (const para of text.split(/\n{2,}/)) {
    if (!para.trim()) continue;
    split(para, '\n\n', budget, 0, out);
  }
  let open: string | undefined;
  let header: string | undefined;
  for (const u of out) {
    u.inCode = open;
    open = fenceAfter(u.text, open);
    // Lines of one table are units joined by a single newline; a paragraph break ends the table.
    if (header !== undefined && u.sep === '\n' && TABLE_ROW.test(u.text)) u.tableHeader = header;
    else header = TABLE_ROW.test(u.text) && !u.inCode ? u.text.split('\n')[0] : undefined;
  }
  return out;
}

/** Tokens of the longest table header row in a section (0 without tables): room kept to repeat it. */
function tableHeaderTokens(lines: readonly string[]): number {
  let most = 0;
  let prevRow = false;
  for (const line of lines) {
    const row = TABLE_ROW.test(line);
    if (row && !prevRow) most = Math.max(most, countTokens(line) + SEP_TOKENS);
    prevRow = row;
  }
  return most;
}

// Finer and finer split levels for a piece that does not fit the budget.
const LEVELS: Array<(s: string) => string[]> = [
  (s) => s.split('\n'),
  (s) => Array.from(sentences.segment(s), (x) => x.segment),
];

function split(piece: string, sep: string, budget: number, level: number, out: Unit[]): void {
  // A line keeps its indentation (code needs it); sentences and slices are trimmed.
  const text = level === 0 ? piece : level === 1 ? piece.trimEnd() : piece.trim();
  if (!text.trim()) return;
  const tokens = countTokens(text);
  if (tokens <= budget) {
    out.push({ text, tokens, sep });
    return;
  }
  const splitter = LEVELS[level];
  if (!splitter) {
    sliceTokens(text, sep, budget, out);
    return;
  }
  const parts = splitter(text);
  if (parts.length <= 1) {
    split(text, sep, budget, level + 1, out);
    return;
  }
  const innerSep = level === 0 ? '\n' : ' ';
  parts.forEach((p, i) => {
    split(p, i === 0 ? sep : innerSep, budget, level + 1, out);
  });
}

/** Last resort for a run of text without line or sentence breaks: cut it every `budget` tokens. */
function sliceTokens(text: string, sep: string, budget: number, out: Unit[]): void {
  const ids = encode(text);
  // A cut can merge differently when re-tokenised; a small margin keeps each piece within budget.
  const step = Math.max(1, budget - 4);
  for (let i = 0; i < ids.length; i += step) {
    const piece = decode(ids.slice(i, i + step)).trim();
    if (piece) out.push({ text: piece, tokens: countTokens(piece), sep: i === 0 ? sep : ' ' });
  }
}

function pack(all: Unit[], budget: number, overlap: number): string[] {
  const chunks: string[] = [];
  let current: Unit[] = [];
  let size = 0;
  let fresh = false; // whether `current` holds anything beyond the overlap carried from the last chunk
  for (const u of all) {
    if (current.length > 0 && size + SEP_TOKENS + u.tokens > budget) {
      if (fresh) chunks.push(join(current));
      current = carry(current, overlap, budget - u.tokens - SEP_TOKENS);
      size = current.reduce((n, c, i) => n + c.tokens + (i ? SEP_TOKENS : 0), 0);
      fresh = false;
    }
    size += (current.length ? SEP_TOKENS : 0) + u.tokens;
    current.push(u);
    fresh = true;
  }
  if (fresh) chunks.push(join(current));
  return chunks;
}

function join(us: Unit[]): string {
  const first = us[0]?.inCode;
  let s = first ? `${first}\n` : us[0]?.tableHeader ? `${us[0].tableHeader}\n` : '';
  us.forEach((u, i) => {
    s += i === 0 ? u.text : u.sep + u.text;
  });
  const open = fenceAfter(s, undefined);
  return open ? `${s}\n${fenceMarker(open)}` : s;
}

/**
 * The overlap for the next chunk: whole trailing units within `overlap` tokens, or, when the last
 * unit alone is longer, its last whole sentences that fit (so the next chunk does not open in the
 * middle of one, "BM25 full-text ranking..., fused), numbers them"), else its last `overlap` tokens
 * from a word boundary. No part of a table row: half a row is neither a row nor a sentence, and the
 * next chunk repeats the header anyway. Never more than `room`.
 */
// A line of code, a table or a list: text whose lines, not sentences, are its units.
const STRUCTURED_LINE = /^\s*(?:`{3,}|~{3,}|\||[-*+]\s|\d+[.)]\s)/m;

/** The longest run of whole sentences that ends prose `text` and fits in `limit` tokens, if any. */
function trailingSentences(text: string, limit: number): string | undefined {
  const parts = Array.from(sentences.segment(text), (x) => x.segment);
  let out: string | undefined;
  for (let i = parts.length - 1; i > 0; i--) {
    const candidate = parts.slice(i).join('').trim();
    if (countTokens(candidate) > limit) break;
    out = candidate;
  }
  return out;
}

function carry(prev: Unit[], overlap: number, room: number): Unit[] {
  const limit = Math.min(overlap, room);
  if (limit <= 0) return [];
  const kept: Unit[] = [];
  let size = 0;
  for (let i = prev.length - 1; i >= 0; i--) {
    const u = prev[i] as Unit;
    const add = u.tokens + (kept.length ? SEP_TOKENS : 0);
    if (size + add > limit) break;
    kept.unshift(u);
    size += add;
  }
  if (kept.length > 0) return kept;
  const last = prev.at(-1);
  if (!last || (TABLE_ROW.test(last.text) && !last.inCode)) return [];
  if (!last.inCode && !STRUCTURED_LINE.test(last.text)) {
    const whole = trailingSentences(last.text, limit);
    if (whole)
      return [{ text: whole, tokens: countTokens(whole), sep: last.sep, tableHeader: last.tableHeader }];
  }
  const tail = decode(encode(last.text).slice(-limit));
  const fromWord = tail.replace(/^\S*\s+/, '').trim();
  if (!fromWord) return [];
  const tokens = countTokens(fromWord);
  const before = last.text.slice(0, Math.max(0, last.text.lastIndexOf(fromWord)));
  const inCode = fenceAfter(before, last.inCode);
  return tokens <= limit
    ? [{ text: fromWord, tokens, sep: last.sep, inCode, tableHeader: last.tableHeader }]
    : [];
}
