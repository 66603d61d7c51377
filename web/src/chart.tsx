import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * A time-series chart (uPlot: canvas, ~50 kB, thousands of points without effort). The canvas is
 * opaque to screen readers, so each chart carries a text summary and its data as a table on demand.
 */

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** Bars for counts per bucket, lines for rates and percentiles. */
  kind?: 'line' | 'bars';
}

export interface ChartProps {
  /** Stable id (tests and `data-chart` hooks use it). */
  id: string;
  title: string;
  /** Bucket starts, Unix seconds. */
  x: number[];
  series: ChartSeries[];
  format: (v: number) => string;
  /** Spoken summary of what the chart shows (e.g. "p95 peaked at 120 ms"). */
  summary: string;
  height?: number;
  /** Day buckets label their x axis with dates only. */
  daily?: boolean;
  /** Smallest top of the y axis (so an all-zero series still gets a sane scale). Default 1. */
  minTop?: number;
  /** Counts: y ticks at whole numbers only. */
  integer?: boolean;
  /** Bar series side by side (default: drawn over each other, e.g. errors over requests). */
  grouped?: boolean;
}

const INTEGER_STEPS = [
  1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7,
];

/** Lines with at most this many points get dots (a lone point draws no line). */
const SPARSE = 30;

function countPoints(series: ChartSeries[]): number {
  let n = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v !== undefined) n++;
  return n;
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const xRef = useRef(props.x);
  xRef.current = props.x;
  const [showTable, setShowTable] = useState(false);
  const points = countPoints(props.series);
  const sparse = points <= SPARSE;
  const shape = `${props.series.map((s) => `${s.label}:${s.kind ?? 'line'}`).join('|')}:${sparse}`;

  // (Re)creates the plot when the series change shape; data-only updates go through setData.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const barSeries = props.series.filter((s) => s.kind === 'bars').length;
    const side = props.grouped && barSeries === 2;
    const bars = (i: number) =>
      uPlot.paths.bars?.(side ? { size: [0.35, 20], align: i === 0 ? -1 : 1 } : { size: [0.7, 40] });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: props.height ?? 220,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // Day bars get half a day of room on each side, so a single day is not a hairline.
        // (From the data itself: uPlot widens a single x value by 86,400,000 when x is in seconds.)
        x: {
          time: true,
          ...(props.daily
            ? {
                range: (_u, min, max) => {
                  const xs = xRef.current;
                  const lo = xs[0] ?? min;
                  const hi = xs[xs.length - 1] ?? max;
                  return [lo - 43_200, hi + 43_200];
                },
              }
            : {}),
        },
        y: {
          range: (_u, _min, max) => uPlot.rangeNum(0, Math.max(max ?? 0, props.minTop ?? 1), 0.1, true),
        },
      },
      axes: [
        {
          stroke: '#3b4252',
          grid: { stroke: '#e5e7eb' },
          // Day charts tick on their own days (at most ~10 labels), never between them.
          ...(props.daily
            ? {
                splits: () => everyNth(xRef.current, Math.ceil(xRef.current.length / 10)),
                values: (_u: uPlot, ticks: number[]) => ticks.map(dayLabel),
              }
            : {}),
        },
        {
          stroke: '#3b4252',
          grid: { stroke: '#e5e7eb' },
          size: 64,
          ...(props.integer ? { incrs: INTEGER_STEPS } : {}),
          values: (_u: uPlot, ticks: number[]) => ticks.map((t) => props.format(t)),
        },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.kind === 'bars' ? 1 : 2,
          fill: s.kind === 'bars' ? `${s.color}cc` : undefined,
          paths:
            s.kind === 'bars' ? bars(props.series.filter((x) => x.kind === 'bars').indexOf(s)) : undefined,
          points: { show: s.kind !== 'bars' && sparse, size: 5 },
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : props.format(v)),
        })),
      ],
    };
    const p = new uPlot(opts, [props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = p;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== p.width) p.setSize({ width: w, height: props.height ?? 220 });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [shape, props.daily, props.height, props.minTop, props.integer, props.grouped]);

  useEffect(() => {
    plot.current?.setData([props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  }, [props.x, props.series]);

  return (
    <figure class="chart" data-chart={props.id} data-points={points}>
      <figcaption>
        <h3 id={`chart-${props.id}-title`}>{props.title}</h3>
        <p id={`chart-${props.id}-summary`} class="muted">
          {props.summary}
        </p>
      </figcaption>
      <div
        class="chart-canvas"
        role="img"
        aria-labelledby={`chart-${props.id}-title`}
        aria-describedby={`chart-${props.id}-summary`}
      >
        <div ref={box} />
        {points === 0 && <div class="chart-empty">No data in this range</div>}
      </div>
      <details onToggle={(e) => setShowTable((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>Data table</summary>
        {showTable && <DataTable {...props} />}
      </details>
    </figure>
  );
}

const MAX_TABLE_ROWS = 500;

/** The chart's numbers, newest first, only the buckets that have data (bounded). */
function DataTable(props: ChartProps) {
  const rows: number[] = [];
  for (let i = props.x.length - 1; i >= 0 && rows.length < MAX_TABLE_ROWS; i--) {
    if (props.series.some((s) => s.values[i] !== null && s.values[i] !== undefined)) rows.push(i);
  }
  if (rows.length === 0) return <p class="muted">No data in this range.</p>;
  return (
    <div class="table-wrap">
      <table class="data">
        <caption class="sr-only">{props.title}</caption>
        <thead>
          <tr>
            <th scope="col">{props.daily ? 'Day' : 'Time'}</th>
            {props.series.map((s) => (
              <th scope="col" key={s.label} class="num">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((i) => (
            <tr key={i}>
              <th scope="row">{props.daily ? dayLabel(props.x[i] ?? 0) : timeLabel(props.x[i] ?? 0)}</th>
              {props.series.map((s) => {
                const v = s.values[i];
                return (
                  <td key={s.label} class="num">
                    {v === null || v === undefined ? '—' : props.format(v)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function everyNth(xs: number[], n: number): number[] {
  return xs.filter((_, i) => i % Math.max(1, n) === 0);
}

function dayLabel(t: number): string {
  return new Date(t * 1000).toISOString().slice(5, 10);
}

function timeLabel(t: number): string {
  return new Date(t * 1000).toLocaleString('en-GB', {
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}
