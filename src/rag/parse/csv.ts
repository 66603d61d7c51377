import { parse } from 'csv-parse/sync';
import { KeelError } from '../../errors.ts';
import type { ParsedDocument } from '../types.ts';
import { type ParseOptions, titleFromUri } from './util.ts';

/**
 * CSV with a header row → one line per record, each field named by its column
 * (`name: Ada; role: engineer`), so a chunk of records keeps its meaning without the header.
 * Quoted fields, embedded newlines and a `;` or tab delimiter are handled (csv-parse); empty fields
 * are left out.
 */
export function parseCsv(text: string, opts: ParseOptions): ParsedDocument {
  const firstLine = text.slice(0, text.indexOf('\n') === -1 ? undefined : text.indexOf('\n'));
  const delimiter = [',', ';', '\t'].reduce((best, d) =>
    firstLine.split(d).length > firstLine.split(best).length ? d : best,
  );
  let records: string[][];
  try {
    records = parse(text, { delimiter, relax_column_count: true, skip_empty_lines: true, trim: true });
  } catch (e) {
    throw new KeelError('invalid_request', `not valid CSV: ${(e as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header || header.length === 0) throw new KeelError('invalid_request', 'the CSV file is empty');
  const lines = rows
    .map((r) =>
      r
        .map((v, i) => (v === '' ? '' : `${header[i] || `column ${i + 1}`}: ${v}`))
        .filter(Boolean)
        .join('; '),
    )
    .filter(Boolean);
  const title = opts.title?.trim() || titleFromUri(opts.uri);
  return { title, sections: lines.length > 0 ? [{ headingPath: [], text: lines.join('\n') }] : [] };
}
