import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type LogLine, tail } from '../api.ts';
import { Drawer, Panel, TimeChart } from '../components.tsx';
import { type Filters, quote, selector } from '../logql.ts';
import { eventSummary, fmtTime } from '../util.ts';

const KEEP = 500;
const PULSE_MINUTES = 5;
const PULSE_STEP_S = 10;

/** The LogQL of the tail: the filters, an event type, and a text filter as a line filter. */
export function liveQuery(f: Filters, eventType: string, text: string): string {
  const sel = selector(f, eventType ? [`event_type=${quote(eventType)}`] : []);
  return text ? `${sel} |= ${quote(text)}` : sel;
}

export function Live(props: { filters: Filters; eventTypes: string[] }) {
  const [eventType, setEventType] = useState('');
  const [text, setText] = useState('');
  const [paused, setPaused] = useState(false);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [held, setHeld] = useState<LogLine[]>([]);
  const [conn, setConn] = useState<{ state: string; detail?: string | undefined }>({ state: 'connecting' });
  const [picked, setPicked] = useState<LogLine | undefined>();
  const [now, setNow] = useState(Date.now());
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const query = liveQuery(props.filters, eventType, text);

  useEffect(() => {
    setLines([]);
    setHeld([]);
    setConn({ state: 'connecting' });
    const stop = tail(
      query,
      Date.now() - PULSE_MINUTES * 60_000,
      100,
      (batch) => {
        const stamped = batch.map((l) => ({ ...l, seenAt: Date.now() }));
        if (pausedRef.current) setHeld((h) => [...stamped.reverse(), ...h].slice(0, KEEP));
        else setLines((ls) => [...stamped.reverse(), ...ls].slice(0, KEEP));
      },
      (state, detail) => setConn({ state, detail }),
    );
    return stop;
  }, [query]);

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), PULSE_STEP_S * 1000);
    return () => clearInterval(t);
  }, []);

  const pulseRange: [number, number] = [now - PULSE_MINUTES * 60_000, now + PULSE_STEP_S * 1000];
  const resume = () => {
    setLines((ls) => [...held, ...ls].slice(0, KEEP));
    setHeld([]);
    setPaused(false);
  };

  const pulse = useMemo(() => {
    const end = Math.floor(now / 1000 / PULSE_STEP_S) * PULSE_STEP_S + PULSE_STEP_S;
    const start = end - PULSE_MINUTES * 60;
    const counts = new Map<number, number>();
    for (let t = start; t <= end; t += PULSE_STEP_S) counts.set(t, 0);
    for (const l of [...lines, ...held]) {
      const b = Math.floor(l.ts / 1000 / PULSE_STEP_S) * PULSE_STEP_S;
      if (counts.has(b)) counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    return [
      { metric: { name: 'events' }, values: [...counts].map(([t, c]) => [t, String(c)] as [number, string]) },
    ];
  }, [lines, held, now]);

  return (
    <div class="grid">
      <Panel title={`Pulse (events per ${PULSE_STEP_S} s, last ${PULSE_MINUTES} min)`} id="pulse" wide>
        <TimeChart id="pulse" range={pulseRange} series={pulse} label={() => 'events'} height={120} />
      </Panel>
      <Panel title="Live events" id="live" wide>
        <div class="toolbar">
          <select
            value={eventType}
            onChange={(e) => setEventType((e.target as HTMLSelectElement).value)}
            data-filter="event_type"
          >
            <option value="">all event types</option>
            {props.eventTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <input
            type="search"
            placeholder="line contains..."
            value={text}
            data-filter="text"
            onChange={(e) => setText((e.target as HTMLInputElement).value)}
          />
          <button type="button" data-action="pause" onClick={() => (paused ? resume() : setPaused(true))}>
            {paused ? `Resume (${held.length} new)` : 'Pause'}
          </button>
          <span class={`conn conn-${conn.state}`} data-conn={conn.state}>
            {conn.state}
            {conn.detail ? `: ${conn.detail}` : ''}
          </span>
          <code class="muted">{query}</code>
        </div>
        <ol class="feed" data-feed="live">
          {lines.length === 0 ? <li class="empty">Waiting for events...</li> : null}
          {lines.map((l) => (
            <li
              key={`${l.tsNs}-${l.event?.['id'] ?? l.line.length}`}
              data-event-id={String(l.event?.['id'] ?? '')}
              onClick={() => setPicked(l)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') setPicked(l);
              }}
            >
              <span class="t">{fmtTime(l.ts)}</span>
              <span class={`lvl lvl-${l.labels['level'] ?? ''}`}>{l.labels['level'] ?? ''}</span>
              <span class="proj">{l.labels['project'] ?? ''}</span>
              <span class="hook">{String(l.event?.['hook_event'] ?? l.labels['hook_event'] ?? '')}</span>
              <span class="tool">{String(l.event?.['tool_name'] ?? '')}</span>
              <span class="etype">{l.labels['event_type'] ?? ''}</span>
              <span class="sum">{eventSummary(l.event)}</span>
            </li>
          ))}
        </ol>
      </Panel>
      {picked ? (
        <Drawer title="Event" value={picked.event ?? picked.line} onClose={() => setPicked(undefined)} />
      ) : null}
    </div>
  );
}
