import { extractText, getDocumentProxy, getMeta } from 'unpdf';
import { KeelError } from '../../errors.ts';
import type { ParsedDocument, ParsedSection } from '../types.ts';
import { type ParseOptions, tidy, titleFromUri } from './util.ts';

/**
 * PDF → text per page (pdf.js through unpdf, no native code): one section per page, with the page
 * as its heading (`Page 3`) so citations can point at it. The title is the caller's, else the PDF's
 * own Title, else the first line of the first page, else the file name. A PDF with no text layer
 * (a scan) has nothing to index and says so; OCR is not built in.
 */
export async function parsePdf(bytes: Uint8Array, opts: ParseOptions): Promise<ParsedDocument> {
  let pages: string[];
  let metaTitle: string | undefined;
  try {
    // pdf.js may take ownership of the buffer it is given: hand it a copy.
    const doc = await getDocumentProxy(new Uint8Array(bytes));
    try {
      pages = (await extractText(doc, { mergePages: false })).text;
      const info = (await getMeta(doc)).info as { Title?: unknown } | undefined;
      metaTitle = typeof info?.Title === 'string' ? info.Title.trim() : undefined;
    } finally {
      await doc.loadingTask.destroy();
    }
  } catch (e) {
    throw new KeelError('invalid_request', `not a readable PDF: ${(e as Error).message}`);
  }
  const sections: ParsedSection[] = [];
  pages.forEach((raw, i) => {
    const text = tidy(raw);
    if (text) sections.push({ headingPath: [`Page ${i + 1}`], text });
  });
  if (sections.length === 0) {
    throw new KeelError('invalid_request', 'the PDF has no text layer (a scanned document needs OCR first)');
  }
  const firstLine = sections[0]?.text.split('\n')[0]?.trim();
  const title =
    opts.title?.trim() ||
    metaTitle ||
    (firstLine && firstLine.length <= 120 ? firstLine : undefined) ||
    titleFromUri(opts.uri);
  return { title, sections };
}
