/**
 * Token-level span scoring, the way presidio-research scores PII detectors: every word token gets
 * a gold label and a predicted label (the span covering its middle), and precision/recall count
 * tokens. Punctuation-only tokens do not count.
 */
export interface Span {
  start: number;
  end: number;
  label: string;
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

export interface Prf {
  precision: number;
  recall: number;
  f1: number;
  f2: number;
  support: number;
}

const TOKEN = /[\p{L}\p{N}]+(?:['’.\-@][\p{L}\p{N}]+)*/gu;

function labelAt(spans: readonly Span[], mid: number): string | null {
  for (const s of spans) if (mid >= s.start && mid < s.end) return s.label;
  return null;
}

export function tokenLabels(
  text: string,
  gold: readonly Span[],
  pred: readonly Span[],
): Array<[string | null, string | null]> {
  const out: Array<[string | null, string | null]> = [];
  for (const m of text.matchAll(TOKEN)) {
    const mid = m.index + m[0].length / 2;
    out.push([labelAt(gold, mid), labelAt(pred, mid)]);
  }
  return out;
}

export function add(map: Map<string, Counts>, key: string, field: keyof Counts): void {
  let c = map.get(key);
  if (!c) {
    c = { tp: 0, fp: 0, fn: 0 };
    map.set(key, c);
  }
  c[field]++;
}

export function prf(c: Counts): Prf {
  const precision = c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
  const fb = (b: number) =>
    precision + recall === 0 ? 0 : ((1 + b * b) * precision * recall) / (b * b * precision + recall);
  return { precision, recall, f1: fb(1), f2: fb(2), support: c.tp + c.fn };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i]!;
}

export const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '  -  ');
