import { useEffect, useRef, useState } from 'preact/hooks';

export interface Async<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
}

/** Runs `fn` whenever a dependency changes; keeps the last data while the next load runs. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [st, setSt] = useState<Async<T>>({ data: undefined, error: undefined, loading: true });
  const gen = useRef(0);
  useEffect(() => {
    const my = ++gen.current;
    setSt((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => {
        if (gen.current === my) setSt({ data, error: undefined, loading: false });
      },
      (err: unknown) => {
        if (gen.current === my)
          setSt((s) => ({ ...s, error: err instanceof Error ? err.message : String(err), loading: false }));
      },
    );
  }, deps);
  return st;
}

export function fmtTime(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '';
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function fmtNum(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(1);
}

/** A short text for an event: its command, path, url or prompt length. */
export function eventSummary(e: Record<string, unknown> | undefined): string {
  if (!e) return '';
  const a = (e['action_details'] ?? {}) as Record<string, unknown>;
  for (const k of ['command', 'file_path', 'url', 'pattern', 'query', 'path', 'description', 'reason']) {
    const v = a[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  return '';
}

export function downloadText(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const cell = (v: unknown) => {
    const s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n')}\n`;
}
