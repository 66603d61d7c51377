/** Number and time formatting shared by the pages (one place, so units read the same everywhere). */

const int = new Intl.NumberFormat('en-US');

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : int.format(Math.round(n));
}

export function fmtMs(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 100) return `${Math.round(n)} ms`;
  return `${n.toFixed(1)} ms`;
}

export function fmtUsd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(2)}`;
}

export function fmtPct(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined || Number.isNaN(n) ? '—' : `${(n * 100).toFixed(digits)}%`;
}

/** Metric values of eval runs: ratios with 3 decimals, big numbers as integers. */
export function fmtMetric(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (name.startsWith('latency_')) return fmtMs(v);
  if (name.startsWith('cost_')) return fmtUsd(v);
  if (Math.abs(v) >= 100) return fmtInt(v);
  return v.toFixed(3);
}

export function fmtTime(d: string | number | Date | null | undefined): string {
  if (d === null || d === undefined) return '—';
  const t = new Date(d);
  return Number.isNaN(t.getTime())
    ? '—'
    : t.toLocaleString('en-GB', {
        year: 'numeric',
        month: 'short',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
}

export function fmtShortTime(d: string | number | Date): string {
  return new Date(d).toLocaleString('en-GB', {
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}
