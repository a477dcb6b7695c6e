/** Shared pieces: panels, stat cards, bar lists, tables with export, the time-series chart, the JSON drawer. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { MatrixSeries } from './api.ts';
import { downloadText, fmtNum, toCsv } from './util.ts';

export function Panel(props: {
  title: string;
  id?: string;
  error?: string | undefined;
  loading?: boolean;
  wide?: boolean;
  children: ComponentChildren;
}) {
  return (
    <section
      class={`panel${props.wide ? ' wide' : ''}`}
      data-panel={props.id ?? props.title}
      data-loading={props.loading ? 'true' : 'false'}
    >
      <header>
        <h2>{props.title}</h2>
        {props.loading ? <span class="muted">loading</span> : null}
      </header>
      {props.error ? <p class="error">{props.error}</p> : props.children}
    </section>
  );
}

export function Stat(props: { label: string; value: number | string | undefined; id: string }) {
  return (
    <div class="stat" data-stat={props.id}>
      <div class="stat-value">
        {props.value === undefined
          ? '-'
          : typeof props.value === 'number'
            ? fmtNum(props.value)
            : props.value}
      </div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/** Horizontal bars, largest first. */
export function Bars(props: {
  rows: { label: string; value: number }[];
  id: string;
  onPick?: (label: string) => void;
}) {
  const rows = [...props.rows].sort((a, b) => b.value - a.value);
  const max = Math.max(1, ...rows.map((r) => r.value));
  if (rows.length === 0) return <Empty>No events in this range.</Empty>;
  return (
    <ul class="bars" data-bars={props.id}>
      {rows.map((r) => (
        <li key={r.label}>
          <button
            type="button"
            class="bar-label"
            title={r.label}
            onClick={() => props.onPick?.(r.label)}
            disabled={!props.onPick}
          >
            {r.label || '(none)'}
          </button>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${(r.value / max) * 100}%` }} />
          </span>
          <span class="bar-value" data-value={r.value}>
            {fmtNum(r.value)}
          </span>
        </li>
      ))}
    </ul>
  );
}

export interface Column<T> {
  key: keyof T & string;
  label: string;
  render?: (row: T) => ComponentChildren;
  numeric?: boolean;
  /** Long text: wraps instead of being cut. */
  wrap?: boolean;
}

/** A table whose rows export as CSV or JSON (the rows as shown, every column). */
export function Table<T extends object>(props: {
  id: string;
  columns: Column<T>[];
  rows: T[];
  onRow?: (row: T) => void;
  selected?: (row: T) => boolean;
  empty?: string;
}) {
  const { columns, rows } = props;
  const keys = columns.map((c) => c.key);
  const plain = () =>
    rows.map((r) => Object.fromEntries(keys.map((k) => [k, (r as Record<string, unknown>)[k]])));
  return (
    <div class="table-wrap" data-table={props.id}>
      <div class="table-tools">
        <span class="muted" data-rows={rows.length}>
          {rows.length} {rows.length === 1 ? 'row' : 'rows'}
        </span>
        <button
          type="button"
          data-export="csv"
          onClick={() => downloadText(`${props.id}.csv`, 'text/csv', toCsv(keys, plain()))}
        >
          CSV
        </button>
        <button
          type="button"
          data-export="json"
          onClick={() =>
            downloadText(`${props.id}.json`, 'application/json', `${JSON.stringify(plain(), null, 2)}\n`)
          }
        >
          JSON
        </button>
      </div>
      {rows.length === 0 ? (
        <Empty>{props.empty ?? 'Nothing in this range.'}</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.key} class={c.numeric ? 'num' : ''}>
                  {c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr
                key={i}
                class={`${props.onRow ? 'clickable' : ''}${props.selected?.(r) ? ' selected' : ''}`}
                onClick={props.onRow ? () => props.onRow?.(r) : undefined}
              >
                {columns.map((c) => (
                  <td key={c.key} class={`${c.numeric ? 'num' : ''}${c.wrap ? ' wrap' : ''}`.trim()}>
                    {c.render ? c.render(r) : String((r as Record<string, unknown>)[c.key] ?? '')}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const PALETTE = [
  '#4e9af1',
  '#f1a34e',
  '#5cc98a',
  '#e9677a',
  '#a98bf0',
  '#e6d35a',
  '#4fd1d9',
  '#d17bd1',
  '#9aa5b1',
  '#8fbf5a',
];

/** Series on one time axis (uPlot); null where a step has no samples. */
export function TimeChart(props: {
  series: MatrixSeries[];
  label: (m: Record<string, string>) => string;
  id: string;
  height?: number;
  /** The x range, ms. */
  range: [number, number];
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const times = [...new Set(props.series.flatMap((s) => s.values.map((v) => v[0])))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const data: (number | null)[][] = [times];
    for (const s of props.series) {
      const col: (number | null)[] = new Array(times.length).fill(null);
      for (const [t, v] of s.values) col[index.get(t) as number] = Number(v);
      data.push(col);
    }
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--grid').trim() || '#333';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot(
      {
        width: Math.max(300, host.clientWidth),
        height: props.height ?? 220,
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: props.label(s.metric),
            stroke: PALETTE[i % PALETTE.length],
            width: 1.5,
            points: { size: 5 },
            spanGaps: false,
          })),
        ],
        scales: { x: { time: true, range: () => [props.range[0] / 1000, props.range[1] / 1000] } },
        axes: [axis, axis],
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
      },
      data as uPlot.AlignedData,
      host,
    );
    const ro = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(300, host.clientWidth), height: props.height ?? 220 }),
    );
    ro.observe(host);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [props.series, props.height, props.range[0], props.range[1]]);
  if (props.series.length === 0) return <Empty>No events in this range.</Empty>;
  return <div class="chart" data-chart={props.id} ref={el} />;
}

/** The JSON of one event (already redacted by the collector), shown as text. */
export function Drawer(props: {
  title: string;
  value: unknown;
  onClose: () => void;
  actions?: ComponentChildren;
}) {
  return (
    <aside class="drawer" data-drawer="event">
      <header>
        <h2>{props.title}</h2>
        {props.actions}
        <button type="button" onClick={props.onClose} aria-label="close">
          Close
        </button>
      </header>
      <pre>{JSON.stringify(props.value, null, 2)}</pre>
    </aside>
  );
}
