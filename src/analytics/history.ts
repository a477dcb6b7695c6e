/**
 * Features from the store: every stored event streamed once, in time order (the store's export iterator,
 * constant memory per event), into one accumulator per session and per agent of a session.
 */
import type { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { type FeatureAccumulator, type FeatureVector, SessionAccumulator } from './features.ts';

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

/** One group's features before they are placed in a history (new_domains counts all its domains here). */
interface GroupState {
  first: number;
  last: number;
  features: FeatureVector;
  /** Its domains: new_domains is recounted against the sessions before it when a history is assembled. */
  domains: string[];
}

/**
 * A session's features as kept between retrainings (`feature_cache` of scores.db): what the history needs
 * of the session, independent of the other sessions.
 */
export interface SessionFeatures extends GroupState {
  session: string;
  project: string;
  agents: (GroupState & { agent: string })[];
}

function groupState(acc: FeatureAccumulator): GroupState {
  return { first: acc.first, last: acc.last, features: acc.vector(), domains: [...acc.domainSet] };
}

/** The features of one session's accumulated events. */
export function sessionFeaturesOf(session: string, g: SessionAccumulator): SessionFeatures {
  return {
    session,
    project: g.project,
    ...groupState(g.session),
    agents: [...g.agents]
      .map(([agent, acc]) => ({ agent, ...groupState(acc) }))
      .sort((x, y) => x.first - y.first || (x.agent < y.agent ? -1 : 1)),
  };
}

/** Groups a stream of events (time order) into sessions and computes each one's features. */
export function sessionsOf(events: Iterable<TelemetryEvent>): SessionFeatures[] {
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
  return [...groups].map(([id, g]) => sessionFeaturesOf(id, g));
}

/** Groups a stream of events (time order) into sessions and agents and computes their features. */
export function historyOf(events: Iterable<TelemetryEvent>, minToolCalls = 1): History {
  return historyOfSessions(sessionsOf(events), minToolCalls);
}

/**
 * The history of a set of sessions: sessions (and their agents) with at least `minToolCalls` calls, in order
 * of their start (then id), `new_domains` counting the domains no earlier session used.
 */
export function historyOfSessions(list: readonly SessionFeatures[], minToolCalls = 1): History {
  const ordered = [...list].sort((x, y) => x.first - y.first || (x.session < y.session ? -1 : 1));
  const domains: Record<string, number> = {};
  const known = new Set<string>();
  const sessions: GroupFeatures[] = [];
  const agents: GroupFeatures[] = [];
  const placed = (g: GroupState): FeatureVector => ({
    ...g.features,
    new_domains: g.domains.filter((d) => !known.has(d)).length,
  });
  for (const s of ordered) {
    const features = placed(s);
    for (const a of s.agents) {
      const f = placed(a);
      if ((f.tool_calls ?? 0) >= minToolCalls)
        agents.push({
          session: s.session,
          agent: a.agent,
          project: s.project,
          first: a.first,
          last: a.last,
          features: f,
        });
    }
    for (const d of s.domains) {
      if (!known.has(d)) domains[d] = s.first;
      known.add(d);
    }
    if ((features.tool_calls ?? 0) >= minToolCalls)
      sessions.push({ session: s.session, project: s.project, first: s.first, last: s.last, features });
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

/**
 * Features of every stored session, all events read once, session after session (through the session
 * index): each session's state is let go as soon as its last event is in, so memory and garbage collection
 * stay those of one session.
 */
export function readSessions(store: Store): SessionFeatures[] {
  const out: SessionFeatures[] = [];
  let id = '';
  let g: SessionAccumulator | undefined;
  const rows = store
    .select("SELECT session_id, line FROM events WHERE session_id > '' ORDER BY session_id, ts, seq")
    .iterate() as IterableIterator<{ session_id: string; line: string }>;
  for (const row of rows) {
    if (row.session_id !== id || !g) {
      if (g) out.push(sessionFeaturesOf(id, g));
      id = row.session_id;
      g = new SessionAccumulator(false);
    }
    const e = eventOfLine(row.line);
    if (e) g.add(e);
  }
  if (g) out.push(sessionFeaturesOf(id, g));
  return out;
}

/** Features of one stored session (its events read through the session index). */
export function readSession(store: Store, session: string): SessionFeatures {
  const g = new SessionAccumulator(false);
  for (const row of store
    .select('SELECT line FROM events WHERE session_id = ? ORDER BY ts, seq')
    .iterate(session) as IterableIterator<{ line: string }>) {
    const e = eventOfLine(row.line);
    if (e) g.add(e);
  }
  return sessionFeaturesOf(session, g);
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
