/**
 * Context words: the text around a candidate raises or lowers confidence. Windows are sliced and
 * lower-cased per candidate (never the whole text) so offsets stay exact and cost stays per hit.
 */

export function before(text: string, start: number, chars = 48): string {
  return text.slice(Math.max(0, start - chars), start).toLowerCase();
}

export function after(text: string, end: number, chars = 32): string {
  return text.slice(end, end + chars).toLowerCase();
}

export function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/**
 * Adjust a base score by context: `pos` words nearby raise it, `neg` words right before lower it.
 * Negative context is looked for closer to the candidate, since "order no." must be adjacent to matter.
 */
export function withContext(
  text: string,
  start: number,
  end: number,
  base: number,
  pos: RegExp | null,
  neg: RegExp | null,
  opts: { up?: number; down?: number; before?: number; after?: number; negBefore?: number } = {},
): number {
  let s = base;
  if (pos) {
    const w = `${before(text, start, opts.before ?? 48)} ${after(text, end, opts.after ?? 24)}`;
    if (pos.test(w)) s += opts.up ?? 0.3;
  }
  if (neg?.test(before(text, start, opts.negBefore ?? 28))) s -= opts.down ?? 0.4;
  return clamp01(s);
}

/** Counts ASCII digits; cheap and allocation-free. */
export function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

export function digitsOnly(s: string): string {
  return s.replace(/\D+/g, '');
}
