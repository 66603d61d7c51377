import { extname } from 'node:path';
import { KeelError } from '../../errors.ts';
import type { DocumentFormat, ParsedDocument } from '../types.ts';
import { parseCsv } from './csv.ts';
import { parseHtml } from './html.ts';
import { parseMarkdown } from './markdown.ts';
import { parseText } from './text.ts';
import type { ParseOptions } from './util.ts';

export type { ParseOptions } from './util.ts';

type TextParser = (text: string, opts: ParseOptions) => ParsedDocument;
type BinaryParser = (bytes: Uint8Array, opts: ParseOptions) => Promise<ParsedDocument>;

const TEXT_PARSERS: Record<Exclude<DocumentFormat, 'pdf' | 'docx'>, TextParser> = {
  md: parseMarkdown,
  txt: parseText,
  html: parseHtml,
  csv: parseCsv,
};
// The PDF and Word libraries load on the first such file, so a process that never meets one skips them.
const BINARY_PARSERS: Record<'pdf' | 'docx', BinaryParser> = {
  pdf: async (bytes, opts) => (await import('./pdf.ts')).parsePdf(bytes, opts),
  docx: async (bytes, opts) => (await import('./docx.ts')).parseDocx(bytes, opts),
};

const ALIASES: Record<string, DocumentFormat> = {
  md: 'md',
  markdown: 'md',
  mdx: 'md',
  txt: 'txt',
  text: 'txt',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  pdf: 'pdf',
  docx: 'docx',
  csv: 'csv',
};

/** The parser format for a format name or file extension, or undefined when Keel has no parser for it. */
export function formatOf(nameOrExt: string): DocumentFormat | undefined {
  return ALIASES[nameOrExt.replace(/^\./, '').toLowerCase()];
}

/** Format from a path's extension; throws `unsupported_media_type` for extensions without a parser. */
export function formatFromPath(path: string): DocumentFormat {
  const ext = extname(path);
  const format = formatOf(ext);
  if (!format) {
    throw new KeelError(
      'unsupported_media_type',
      `unsupported file type ${ext ? `"${ext}"` : '(no extension)'}: ${path}; supported: ${Object.keys(
        ALIASES,
      )
        .map((e) => `.${e}`)
        .join(', ')}`,
    );
  }
  return format;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes document bytes as UTF-8; invalid or binary content is a clear `invalid_request`. */
export function decodeContent(content: string | Uint8Array): string {
  let text: string;
  if (typeof content === 'string') text = content;
  else {
    try {
      text = utf8.decode(content);
    } catch {
      throw new KeelError('invalid_request', 'content is not valid UTF-8 text');
    }
  }
  if (text.includes('\u0000'))
    throw new KeelError('invalid_request', 'content looks binary (contains NUL bytes)');
  return text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

/** Parses one document into its title and heading-scoped sections. */
export async function parseDocument(
  format: string,
  content: string | Uint8Array,
  opts: ParseOptions = {},
): Promise<ParsedDocument> {
  const f = formatOf(format);
  if (!f) {
    throw new KeelError('unsupported_media_type', `unsupported document format "${format}"`, {
      param: 'format',
    });
  }
  if (f === 'pdf' || f === 'docx') {
    if (typeof content === 'string') {
      throw new KeelError('invalid_request', `a ${f} document is binary: send its bytes (content_base64)`);
    }
    return BINARY_PARSERS[f](content, opts);
  }
  return TEXT_PARSERS[f](decodeContent(content), opts);
}
