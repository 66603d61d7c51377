import type { ParsedDocument } from '../types.ts';
import { type ParseOptions, SectionBuilder, titleFromUri } from './util.ts';

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;
const THEMATIC = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const TABLE_RULE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const REF_DEF = /^ {0,3}\[[^\]]+\]:[ \t]*\S+/;

/**
 * Markdown → sections by heading (ATX and setext), with the markup removed and the words kept:
 * emphasis, links (their text), images (their alt text), inline code (its content), quote markers,
 * task boxes, table rules, HTML tags and comments, front matter. Three structures stay marked,
 * because what reads the text needs them and a model reads them as they are: fenced code keeps its fences
 * (and language) around its verbatim content, a table row keeps its pipes (`| a | b |`, the header
 * row first), and a list item its marker (`- `, `1. `). `#` lines inside code are code, not headings.
 */
export function parseMarkdown(raw: string, opts: ParseOptions): ParsedDocument {
  const lines = raw.split('\n');
  const { frontTitle, start } = frontMatter(lines);
  const out = new SectionBuilder();
  let firstH1: string | undefined;
  let firstHeading: string | undefined;
  let fence: string | undefined;
  let inComment = false;
  const onHeading = (level: number, text: string) => {
    if (level === 1 && firstH1 === undefined) firstH1 = text;
    if (firstHeading === undefined) firstHeading = text;
    out.heading(level, text);
  };

  for (let i = start; i < lines.length; i++) {
    const line = lines[i] as string;
    if (fence !== undefined) {
      const close = FENCE.exec(line);
      if (
        close &&
        close[1]?.[0] === fence[0] &&
        (close[1]?.length ?? 0) >= fence.length &&
        !line.slice(close[0].length).trim()
      ) {
        out.line(fence);
        out.line('');
        fence = undefined;
      } else out.line(line);
      continue;
    }
    if (inComment) {
      if (line.includes('-->')) inComment = false;
      continue;
    }
    const open = FENCE.exec(line);
    if (open) {
      fence = open[1] as string;
      out.line('');
      out.line(`${fence}${line.slice(open[0].length).trim()}`);
      continue;
    }
    if (/^ {0,3}<!--/.test(line) && !line.includes('-->')) {
      inComment = true;
      continue;
    }
    const atx = ATX.exec(line);
    if (atx) {
      onHeading(atx[1]?.length ?? 1, cleanInline(atx[2] ?? ''));
      continue;
    }
    const next = lines[i + 1];
    // A setext heading underlines a one-line paragraph; `---` after a blank line is a rule instead.
    if (
      next !== undefined &&
      line.trim() &&
      SETEXT.exec(next) &&
      !(lines[i - 1] ?? '').trim() &&
      !isBlockLine(line)
    ) {
      onHeading(next.trim()[0] === '=' ? 1 : 2, cleanInline(line.trim()));
      i++;
      continue;
    }
    if (TABLE_RULE.test(line) && line.includes('|')) continue;
    if (THEMATIC.test(line) || REF_DEF.test(line)) {
      out.line('');
      continue;
    }
    // A code span may run over a line break (CommonMark): read the paragraph's next lines with it.
    let text = line;
    for (let n = 0; n < 20 && openCodeSpan(text) && continuesParagraph(lines[i + 1]); n++)
      text += `\n${lines[++i]}`;
    out.line(cleanBlockLine(text));
  }
  // A fence left open at the end closes with the document, as CommonMark reads it.
  if (fence !== undefined) out.line(fence);
  const title = opts.title?.trim() || frontTitle || firstH1 || firstHeading || titleFromUri(opts.uri);
  return { title, sections: out.finish() };
}

function frontMatter(lines: string[]): { frontTitle: string | undefined; start: number } {
  if (lines[0]?.trim() !== '---') return { frontTitle: undefined, start: 0 };
  const end = lines.findIndex((l, i) => i > 0 && /^(---|\.\.\.)\s*$/.test(l));
  if (end === -1 || end > 200) return { frontTitle: undefined, start: 0 };
  let frontTitle: string | undefined;
  for (const l of lines.slice(1, end)) {
    const m = /^title:\s*(.+?)\s*$/.exec(l);
    if (m?.[1]) frontTitle = m[1].replace(/^(['"])(.*)\1$/, '$2');
  }
  return { frontTitle, start: end + 1 };
}

/** True when a backtick run in `s` has no closing run of the same length after it. */
function openCodeSpan(s: string): boolean {
  const runs = Array.from(s.matchAll(/`+/g), (m) => m[0].length);
  for (let i = 0; i < runs.length; ) {
    const close = runs.indexOf(runs[i] as number, i + 1);
    if (close === -1) return true;
    i = close + 1;
  }
  return false;
}

const continuesParagraph = (line: string | undefined): line is string =>
  line !== undefined &&
  line.trim() !== '' &&
  !isBlockLine(line) &&
  !FENCE.test(line) &&
  !ATX.test(line) &&
  !THEMATIC.test(line);

function isBlockLine(line: string): boolean {
  return /^ {0,3}(?:[-*+>]|\d+[.)])[ \t]/.test(line) || line.includes('|');
}

/** Removes block-level markers (quote, list, task box, table pipes) from one line, then inline markup. */
function cleanBlockLine(line: string): string {
  let l = line;
  l = l.replace(/^(?: {0,3}>[ \t]?)+/, '');
  // A list item keeps a marker (`- `, or its number), as the HTML parser writes lists: an item is
  // one thought to the extractive answerer and to a model. Task boxes go.
  const item = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?/.exec(l);
  if (item) l = l.slice(item[0].length);
  const marker = item ? `${item[1]}${/\d/.test(item[2] ?? '') ? item[2] : '-'} ` : '';
  if (/^\s*\|.*\|\s*$/.test(l)) {
    const cells = l
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => cleanInline(c.trim()).replace(/\|/g, '\\|'));
    return `| ${cells.join(' | ')} |`;
  }
  return marker + cleanInline(l);
}

const CODE_SPAN = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g;
// Code spans and escaped characters wait behind these while the rest is cleaned: they are literal,
// so `<model>` or `**` inside a code span, or `\*`, must survive the tag and emphasis rules.
const HOLD = /\uE000(\d+)\uE001/g;

/** Inline markup → plain text. */
export function cleanInline(s: string): string {
  const spans: string[] = [];
  const hold = (text: string) => `\uE000${spans.push(text) - 1}\uE001`;
  const held = s
    .replace(/[\uE000\uE001]/g, '')
    // images: keep alt text; links and reference links: keep the link text
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/!\[([^\]]*)\]\[[^\]]*\]/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1')
    .replace(/<((?:https?|mailto):[^>\s]+)>/g, '$1')
    // inline code: keep its content, as it is
    .replace(CODE_SPAN, (_, _t, code: string) => hold(code.replace(/\s*\n\s*/g, ' ').trim()))
    // backslash escapes: the character itself, safe from the emphasis rules
    .replace(/\\([\\`*_{}[\]()#+\-.!|>~<])/g, (_, c: string) => hold(c));
  return (
    held
      // HTML comments and tags
      .replace(/<!--.*?-->/g, '')
      .replace(/<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?\/?>/g, '')
      // emphasis and strike-through; `_` only at word edges so snake_case survives
      .replace(/(\*\*|__)(?=\S)(.+?)(?<=\S)\1/g, '$2')
      .replace(/(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])/g, '$1')
      .replace(/(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])/g, '$1')
      .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, '$1')
      .replace(/&nbsp;/g, ' ')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&')
      .replace(HOLD, (_, i: string) => spans[Number(i)] ?? '')
  );
}
