import { compile, type FormatCallback } from 'html-to-text';
import type { ParsedDocument } from '../types.ts';
import { type ParseOptions, SectionBuilder, titleFromUri } from './util.ts';

// Headings are emitted as `\u0001<level>\u0001<text>` lines and split into sections afterwards;
// control characters are removed from the input first, so a document cannot forge one.
const MARK = '\u0001';

const heading: FormatCallback = (elem, walk, builder, formatOptions) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addLiteral(`${MARK}${String(formatOptions.level ?? 1)}${MARK}`);
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

type Elem = Parameters<FormatCallback>[0];

// Code and tables come out marked as the Markdown parser marks them (see markdown.ts): `<pre>` in
// fences, with the language of a `language-*` class, and table rows in pipes, header row first.
const pre: FormatCallback = (elem, walk, builder) => {
  const classes = `${elem.attribs?.class ?? ''} ${elem.children?.find((c: Elem) => c.name === 'code')?.attribs?.class ?? ''}`;
  const fenceLine = (text: string, before: number, after: number) => {
    builder.openBlock({ leadingLineBreaks: before });
    builder.addLiteral(text);
    builder.closeBlock({ trailingLineBreaks: after });
  };
  fenceLine(`\`\`\`${/(?:^|\s)(?:language|lang)-([\w+-]+)/.exec(classes)?.[1] ?? ''}`, 2, 1);
  builder.openBlock({ isPre: true, leadingLineBreaks: 1 });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
  fenceLine('```', 1, 2);
};

const pipeRow = (cells: readonly string[]) =>
  `| ${cells.map((c) => c.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')).join(' | ')} |`;

const table: FormatCallback = (elem, walk, builder) => {
  // The first row of a pipe table is its header; a table whose first row has no <th> gets an
  // empty one, so its first data row is not read as column names.
  let headed: boolean | undefined;
  const pipeRows = (rows: Array<Array<{ text: string }>>) => {
    const lines = rows.map((cells) => pipeRow(cells.map((c) => c.text)));
    if (headed === false && rows[0]) lines.unshift(pipeRow(rows[0].map(() => '')));
    return lines.join('\n');
  };
  const walkTable = (el: Elem) => {
    if (el.type !== 'tag') return;
    if (el.name === 'thead' || el.name === 'tbody' || el.name === 'tfoot') {
      for (const c of el.children ?? []) walkTable(c);
    } else if (el.name === 'tr') {
      headed ??= (el.children ?? []).some((c: Elem) => c.name === 'th');
      builder.openTableRow();
      for (const cell of el.children ?? []) {
        if (cell.type !== 'tag' || (cell.name !== 'th' && cell.name !== 'td')) continue;
        builder.openTableCell();
        walk(cell.children, builder);
        builder.closeTableCell();
      }
      builder.closeTableRow();
    }
  };
  builder.openTable();
  for (const c of elem.children ?? []) walkTable(c);
  builder.closeTable({ tableToString: pipeRows, leadingLineBreaks: 2, trailingLineBreaks: 2 });
};

const skip = (selector: string) => ({ selector, format: 'skip' as const });

// One compiled converter: html-to-text's `compile` does the option processing once.
const convert = compile({
  wordwrap: false,
  formatters: { keelHeading: heading, keelPre: pre, keelTable: table },
  selectors: [
    ...[1, 2, 3, 4, 5, 6].map((level) => ({
      selector: `h${level}`,
      format: 'keelHeading',
      options: { level },
    })),
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'table', format: 'keelTable' },
    { selector: 'pre', format: 'keelPre' },
    { selector: 'ul', options: { itemPrefix: '- ' } },
    ...['nav', 'noscript', 'svg', 'iframe', 'canvas', 'template', 'button', 'select', 'object'].map(skip),
  ],
});

const TITLE = /<title[^>]*>([\s\S]*?)<\/title>/i;

/**
 * HTML → readable text (html-to-text): no markup, scripts, styles or navigation; links keep their
 * text; `<pre>` becomes fenced code and tables pipe rows, as in Markdown. Sections follow h1-h6; the
 * title is `<title>`, else the first h1.
 */
export function parseHtml(raw: string, opts: ParseOptions): ParsedDocument {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const html = raw.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
  const text = convert(html);
  const out = new SectionBuilder();
  let firstH1: string | undefined;
  // Blank lines held back inside a fence: the ones before its closing line (a `<pre>`'s final
  // newline) are dropped.
  let inFence = false;
  let blanks = 0;
  for (const line of text.split('\n')) {
    if (inFence) {
      if (line === '```') {
        inFence = false;
        blanks = 0;
      } else if (line.trim() === '') {
        blanks++;
        continue;
      }
      for (; blanks > 0; blanks--) out.line('');
      out.line(line);
      continue;
    }
    if (line.startsWith('```')) inFence = true;
    if (line.startsWith(MARK)) {
      const end = line.indexOf(MARK, 1);
      const level = Number(line.slice(1, end));
      const h = line.slice(end + 1).trim();
      if (level === 1 && firstH1 === undefined && h) firstH1 = h;
      out.heading(level, h);
    } else out.line(line);
  }
  const titleMatch = TITLE.exec(html)?.[1];
  const docTitle = titleMatch ? convert(titleMatch).replace(/\s+/g, ' ').trim() : '';
  const title = opts.title?.trim() || docTitle || firstH1 || titleFromUri(opts.uri);
  return { title, sections: out.finish() };
}
