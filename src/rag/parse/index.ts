import { extname } from 'node:path';
import { KeelError } from '../../errors.ts';
import type { DocumentFormat, ParsedDocument } from '../types.ts';
import { parseHtml } from './html.ts';
import { parseMarkdown } from './markdown.ts';
import { parseText } from './text.ts';
import type { ParseOptions } from './util.ts';

export type { ParseOptions } from './util.ts';

type Parser = (text: string, opts: ParseOptions) => ParsedDocument;

const PARSERS: Record<DocumentFormat, Parser> = { md: parseMarkdown, txt: parseText, html: parseHtml };

const ALIASES: Record<string, DocumentFormat> = {
  md: 'md',
  markdown: 'md',
  mdx: 'md',
  txt: 'txt',
  text: 'txt',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
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
export function parseDocument(
  format: string,
  content: string | Uint8Array,
  opts: ParseOptions = {},
): ParsedDocument {
  const f = formatOf(format);
  if (!f) {
    throw new KeelError('unsupported_media_type', `unsupported document format "${format}"`, {
      param: 'format',
    });
  }
  return PARSERS[f](decodeContent(content), opts);
}
