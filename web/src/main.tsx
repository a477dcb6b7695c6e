import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { choices as fetchChoices } from './api.ts';
import type { Filters } from './logql.ts';
import { RANGES, REFRESH, timeWindow, useUrlState, VIEWS, type View } from './state.ts';
import './style.css';
import { useAsync } from './util.ts';
import { Analytics } from './views/analytics.tsx';
import { Fleet } from './views/fleet.tsx';
import { Live } from './views/live.tsx';
import { Overview } from './views/overview.tsx';
import { Security } from './views/security.tsx';
import { Sessions } from './views/sessions.tsx';
import { System } from './views/system.tsx';

const TITLES: Record<View, string> = {
  overview: 'Overview',
  live: 'Live',
  sessions: 'Sessions',
  fleet: 'Fleet',
  security: 'Security',
  analytics: 'Analytics',
  system: 'System',
};

const toLocal = (ms: number) =>
  new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

function App() {
  const [s, set] = useUrlState();
  const [tick, setTick] = useState(0);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    document.documentElement.dataset['theme'] = s.theme;
  }, [s.theme]);
  useEffect(() => {
    const every = REFRESH[s.refresh] ?? 0;
    if (every === 0 || s.view === 'live') return;
    const t = setInterval(() => {
      setNow(Date.now());
      setTick((n) => n + 1);
    }, every * 1000);
    return () => clearInterval(t);
  }, [s.refresh, s.view]);
  // A new range or filter reads up to now.
  useEffect(() => setNow(Date.now()), [s.range, s.from, s.to, s.project, s.session, s.agent, s.view]);
  const win = timeWindow(s, now);
  const filters: Filters = { project: s.project, session: s.session, agent: s.agent };
  const choices = useAsync(() => fetchChoices(win.start, win.end), [win.start, win.end, tick]);
  const {
    project: projects,
    agent_type: agents,
    event_type: eventTypes,
  } = choices.data ?? {
    project: [],
    agent_type: [],
    event_type: [],
  };
  const props = {
    filters,
    start: win.start,
    end: win.end,
    seconds: win.seconds,
    tick,
    setFilter: (patch: Partial<Filters>) => set(patch),
  };
  return (
    <div class="app">
      <header class="top">
        <h1>claude-telemetry</h1>
        <nav>
          {VIEWS.map((v) => (
            <button
              key={v}
              type="button"
              class={v === s.view ? 'active' : ''}
              data-view={v}
              onClick={() => set({ view: v })}
            >
              {TITLES[v]}
            </button>
          ))}
        </nav>
        <div class="controls">
          <select
            data-control="range"
            value={s.range}
            onChange={(e) => {
              const range = (e.target as HTMLSelectElement).value;
              set(range === 'custom' ? { range, from: win.start, to: win.end } : { range });
            }}
          >
            {Object.keys(RANGES).map((r) => (
              <option key={r} value={r}>
                last {r}
              </option>
            ))}
            <option value="custom">custom</option>
          </select>
          {s.range === 'custom' ? (
            <>
              <input
                type="datetime-local"
                data-control="from"
                value={toLocal(s.from)}
                onChange={(e) =>
                  set({ from: new Date((e.target as HTMLInputElement).value).getTime() || s.from })
                }
              />
              <input
                type="datetime-local"
                data-control="to"
                value={toLocal(s.to)}
                onChange={(e) =>
                  set({ to: new Date((e.target as HTMLInputElement).value).getTime() || s.to })
                }
              />
            </>
          ) : null}
          <select
            data-control="project"
            value={s.project}
            onChange={(e) => set({ project: (e.target as HTMLSelectElement).value })}
          >
            <option value="">all projects</option>
            {[...new Set([...projects, ...(s.project ? [s.project] : [])])].map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
          <select
            data-control="agent"
            value={s.agent}
            onChange={(e) => set({ agent: (e.target as HTMLSelectElement).value })}
          >
            <option value="">all agents</option>
            {[...new Set([...agents, ...(s.agent ? [s.agent] : [])])].map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <input
            data-control="session"
            placeholder="session id"
            value={s.session}
            size={12}
            onChange={(e) => set({ session: (e.target as HTMLInputElement).value.trim() })}
          />
          <select
            data-control="refresh"
            value={s.refresh}
            onChange={(e) => set({ refresh: (e.target as HTMLSelectElement).value })}
          >
            {Object.keys(REFRESH).map((r) => (
              <option key={r} value={r}>
                {r === 'off' ? 'refresh off' : `every ${r}`}
              </option>
            ))}
          </select>
          <button
            type="button"
            data-control="reload"
            onClick={() => {
              setNow(Date.now());
              setTick((n) => n + 1);
            }}
          >
            Reload
          </button>
          <button
            type="button"
            data-control="theme"
            onClick={() => set({ theme: s.theme === 'dark' ? 'light' : 'dark' })}
          >
            {s.theme === 'dark' ? 'Light' : 'Dark'}
          </button>
        </div>
      </header>
      <main data-current-view={s.view}>
        {s.view === 'overview' ? <Overview {...props} /> : null}
        {s.view === 'live' ? <Live filters={filters} eventTypes={eventTypes} /> : null}
        {s.view === 'sessions' ? (
          <Sessions {...props} open={s.open} setOpen={(open) => set({ open })} />
        ) : null}
        {s.view === 'fleet' ? <Fleet {...props} open={s.open} setOpen={(open) => set({ open })} /> : null}
        {s.view === 'security' ? <Security {...props} /> : null}
        {s.view === 'analytics' ? (
          <Analytics {...props} open={s.open} setOpen={(open) => set({ open })} />
        ) : null}
        {s.view === 'system' ? <System {...props} /> : null}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
