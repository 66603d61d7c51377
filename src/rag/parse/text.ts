import type { ParsedDocument } from '../types.ts';
import { type ParseOptions, tidy, titleFromUri } from './util.ts';

/**
 * Plain text: one section. The title is the caller's, else a short first line standing alone as a
 * paragraph (the usual shape of a text file with a title), else the file name. A caller-given title
 * that the text does not start with becomes the heading path, so it is indexed with the text (the
 * usual title + body treatment of BEIR-style corpora).
 */
export function parseText(raw: string, opts: ParseOptions): ParsedDocument {
  const text = tidy(raw);
  const firstBreak = text.indexOf('\n\n');
  const firstLine = firstBreak === -1 ? '' : text.slice(0, firstBreak);
  const lineTitle = firstLine && firstLine.length <= 120 && !firstLine.includes('\n') ? firstLine : undefined;
  const title = opts.title?.trim() || lineTitle || titleFromUri(opts.uri);
  const headingPath = opts.title?.trim() && !text.startsWith(opts.title.trim()) ? [opts.title.trim()] : [];
  return { title, sections: text ? [{ headingPath, text }] : [] };
}
