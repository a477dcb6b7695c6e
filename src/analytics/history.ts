/**
 * Features from the store: every stored event streamed once, in time order (the store's export iterator,
 * constant memory per event), into one accumulator per session and per agent of a session.
 */
import type { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { type FeatureVector, SessionAccumulator } from './features.ts';

export interface GroupFeatures {
  session: string;
  /** `main` or a subagent id; absent for a whole session. */
  agent?: string;
  project: string;
  /** ms since epoch. */
  first: number;
  last: number;
  features: FeatureVector;
}

export interface History {
  sessions: GroupFeatures[];
  agents: GroupFeatures[];
  /** Every domain seen, with the time (ms) it was first seen. */
  domains: Record<string, number>;
}

/** Parses a stored line into one of our events; pushed foreign lines and torn JSON give undefined. */
export function eventOfLine(line: string): TelemetryEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const e = JSON.parse(line) as TelemetryEvent;
    return typeof e.hook_event === 'string' && typeof e.timestamp === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

/** Groups a stream of events (time order) into sessions and agents and computes their features. */
export function historyOf(events: Iterable<TelemetryEvent>, minToolCalls = 1): History {
  const groups = new Map<string, SessionAccumulator>();
  for (const e of events) {
    if (typeof e.session_id !== 'string' || e.session_id === '') continue;
    let g = groups.get(e.session_id);
    if (!g) {
      g = new SessionAccumulator(false);
      groups.set(e.session_id, g);
    }
    g.add(e);
  }
  // Sessions in order of their start, so that `new_domains` counts what no earlier session saw.
  const ordered = [...groups].sort((x, y) => x[1].session.first - y[1].session.first);
  const domains: Record<string, number> = {};
  const known = new Set<string>();
  const sessions: GroupFeatures[] = [];
  const agents: GroupFeatures[] = [];
  for (const [id, g] of ordered) {
    const features = g.session.vector({ knownDomains: known });
    for (const [agent, acc] of g.agents) {
      const f = acc.vector({ knownDomains: known });
      if (f.tool_calls! >= minToolCalls)
        agents.push({
          session: id,
          agent,
          project: g.project,
          first: acc.first,
          last: acc.last,
          features: f,
        });
    }
    for (const d of g.session.domainSet) {
      if (!known.has(d)) domains[d] = g.session.first;
      known.add(d);
    }
    if (features.tool_calls! >= minToolCalls)
      sessions.push({
        session: id,
        project: g.project,
        first: g.session.first,
        last: g.session.last,
        features,
      });
  }
  return { sessions, agents, domains };
}

/** Stored events in time order; only the line is read (a third of the time of reading every column). */
function* storedEvents(store: Store, since?: number): Generator<TelemetryEvent> {
  const rows =
    since === undefined
      ? store.select('SELECT line FROM events ORDER BY ts, seq').iterate()
      : store.select('SELECT line FROM events WHERE ts >= ? ORDER BY ts, seq').iterate(since);
  for (const row of rows as IterableIterator<{ line: string }>) {
    const e = eventOfLine(row.line);
    if (e) yield e;
  }
}

/** Features of every session (with at least one tool call) and agent in the store, or since a time. */
export function readHistory(store: Store, since?: number): History {
  return historyOf(storedEvents(store, since));
}

/** Domains first seen at or after `t` (ms), or never seen, count as new for a group starting at `t`. */
export function knownBefore(domains: Record<string, number>, t: number): Set<string> {
  const out = new Set<string>();
  for (const [d, first] of Object.entries(domains)) if (first < t) out.add(d);
  return out;
}
