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

const skip = (selector: string) => ({ selector, format: 'skip' as const });

// One compiled converter: html-to-text's `compile` does the option processing once.
const convert = compile({
  wordwrap: false,
  formatters: { keelHeading: heading },
  selectors: [
    ...[1, 2, 3, 4, 5, 6].map((level) => ({
      selector: `h${level}`,
      format: 'keelHeading',
      options: { level },
    })),
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'table', format: 'dataTable' },
    { selector: 'ul', options: { itemPrefix: '- ' } },
    ...['nav', 'noscript', 'svg', 'iframe', 'canvas', 'template', 'button', 'select', 'object'].map(skip),
  ],
});

const TITLE = /<title[^>]*>([\s\S]*?)<\/title>/i;

/**
 * HTML → readable text (html-to-text): no markup, scripts, styles or navigation; links keep their
 * text; tables become aligned text. Sections follow h1-h6; the title is `<title>`, else the first h1.
 */
export function parseHtml(raw: string, opts: ParseOptions): ParsedDocument {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const html = raw.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
  const text = convert(html);
  const out = new SectionBuilder();
  let firstH1: string | undefined;
  for (const line of text.split('\n')) {
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
