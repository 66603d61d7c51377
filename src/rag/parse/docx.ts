import mammoth from 'mammoth';
import { KeelError } from '../../errors.ts';
import type { ParsedDocument } from '../types.ts';
import { parseHtml } from './html.ts';
import type { ParseOptions } from './util.ts';

/**
 * Word (.docx) → HTML (mammoth: headings, paragraphs, lists and tables, no styling) → the HTML
 * parser, so sections follow the document's headings as they do for HTML.
 */
export async function parseDocx(bytes: Uint8Array, opts: ParseOptions): Promise<ParsedDocument> {
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: Buffer.from(bytes) })).value;
  } catch (e) {
    throw new KeelError('invalid_request', `not a readable .docx file: ${(e as Error).message}`);
  }
  return parseHtml(html, opts);
}
