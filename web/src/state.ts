/** The dashboard's state, kept in the URL's query string (shareable, survives a reload). */
import { useEffect, useState } from 'preact/hooks';

export const VIEWS = ['overview', 'live', 'sessions', 'fleet', 'security', 'analytics', 'system'] as const;
export type View = (typeof VIEWS)[number];

export const RANGES: Record<string, number> = {
  '15m': 15 * 60,
  '1h': 3600,
  '6h': 6 * 3600,
  '24h': 86400,
  '7d': 7 * 86400,
  '30d': 30 * 86400,
};
export const REFRESH: Record<string, number> = { off: 0, '10s': 10, '30s': 30, '1m': 60, '5m': 300 };

export interface State {
  view: View;
  range: string;
  /** Custom range bounds (ms), used when range is 'custom'. */
  from: number;
  to: number;
  project: string;
  session: string;
  agent: string;
  refresh: string;
  theme: 'dark' | 'light';
  /** The session opened in the Sessions or Fleet view. */
  open: string;
}

const DEFAULTS: State = {
  view: 'overview',
  range: '24h',
  from: 0,
  to: 0,
  project: '',
  session: '',
  agent: '',
  refresh: 'off',
  theme: 'dark',
  open: '',
};

export function readState(search: string): State {
  const p = new URLSearchParams(search);
  const s = { ...DEFAULTS };
  const view = p.get('view');
  if (view && (VIEWS as readonly string[]).includes(view)) s.view = view as View;
  const range = p.get('range');
  if (range && (range in RANGES || range === 'custom')) s.range = range;
  s.from = Number(p.get('from')) || 0;
  s.to = Number(p.get('to')) || 0;
  if (s.range === 'custom' && !(s.from > 0 && s.to > s.from)) s.range = DEFAULTS.range;
  for (const k of ['project', 'session', 'agent', 'open'] as const) s[k] = p.get(k) ?? '';
  const refresh = p.get('refresh');
  if (refresh && refresh in REFRESH) s.refresh = refresh;
  if (p.get('theme') === 'light') s.theme = 'light';
  return s;
}

export function writeState(s: State): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) {
    if (v === DEFAULTS[k as keyof State]) continue;
    if ((k === 'from' || k === 'to') && s.range !== 'custom') continue;
    p.set(k, String(v));
  }
  const qs = p.toString();
  return qs ? `?${qs}` : location.pathname;
}

/** The current [start, end] in ms. */
export function timeWindow(s: State, now = Date.now()): { start: number; end: number; seconds: number } {
  if (s.range === 'custom') return { start: s.from, end: s.to, seconds: Math.max(1, (s.to - s.from) / 1000) };
  const seconds = RANGES[s.range] ?? 86400;
  // Ends on the next whole minute: whole-minute windows are answered from the store's per-minute rollup.
  const end = Math.ceil(now / 60_000) * 60_000;
  return { start: end - seconds * 1000, end, seconds };
}

/** A step of whole minutes giving about 120 points (the store answers whole-minute steps from its rollup). */
export function stepFor(seconds: number): number {
  return Math.max(60, Math.ceil(seconds / 120 / 60) * 60);
}

export function useUrlState(): [State, (patch: Partial<State>) => void] {
  const [state, setState] = useState(() => readState(location.search));
  useEffect(() => {
    const onPop = () => setState(readState(location.search));
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const update = (patch: Partial<State>) => {
    setState((prev) => {
      const next = { ...prev, ...patch };
      const url = writeState(next);
      if (patch.view !== undefined && patch.view !== prev.view) history.pushState(null, '', url);
      else history.replaceState(null, '', url);
      return next;
    });
  };
  return [state, update];
}
