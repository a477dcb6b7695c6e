/**
 * Per-session memory for stateful rules: recent rule hits (threshold rules: N hits in a window) and
 * taint (a prompt-injection hit in tool output raises the severity of the session's later risky
 * actions). In memory, bounded, shared by ingest and the guard in one collector process.
 */

export interface Taint {
  rule: string;
  at: number;
}

interface SessionMemory {
  /** One entry per judged event with hits: the rules it hit. */
  hits: { rules: readonly string[]; at: number }[];
  taint?: Taint;
  touched: number;
}

const MAX_SESSIONS = 10_000;
const MAX_HITS_PER_SESSION = 512;
/** Taint expires after a day without a new hit in the session. */
export const TAINT_TTL_MS = 24 * 3_600_000;

export class SessionState {
  private readonly sessions = new Map<string, SessionMemory>();

  private get(session: string, at: number): SessionMemory {
    let m = this.sessions.get(session);
    if (m === undefined) {
      if (this.sessions.size >= MAX_SESSIONS) this.evict();
      m = { hits: [], touched: at };
      this.sessions.set(session, m);
    }
    m.touched = Math.max(m.touched, at);
    return m;
  }

  private evict(): void {
    // Drop the least recently touched tenth.
    const sorted = [...this.sessions.entries()].sort((a, b) => a[1].touched - b[1].touched);
    for (const [k] of sorted.slice(0, Math.ceil(sorted.length / 10))) this.sessions.delete(k);
  }

  taintOf(session: string, at = Date.now()): Taint | undefined {
    const t = this.sessions.get(session)?.taint;
    if (t === undefined) return undefined;
    if (at - t.at > TAINT_TTL_MS) return undefined;
    return t;
  }

  taint(session: string, rule: string, at = Date.now()): void {
    if (session === '') return;
    this.get(session, at).taint = { rule, at };
  }

  clearTaint(session: string): boolean {
    const m = this.sessions.get(session);
    if (m?.taint === undefined) return false;
    m.taint = undefined;
    return true;
  }

  recordHits(session: string, rules: readonly string[], at = Date.now()): void {
    if (session === '' || rules.length === 0) return;
    const m = this.get(session, at);
    m.hits.push({ rules: [...rules], at });
    if (m.hits.length > MAX_HITS_PER_SESSION) m.hits.splice(0, m.hits.length - MAX_HITS_PER_SESSION);
  }

  /** Events of the session within `windowMs` before `at` that hit a rule whose id passes `match`. */
  count(session: string, match: (rule: string) => boolean, windowMs: number, at = Date.now()): number {
    const m = this.sessions.get(session);
    if (m === undefined) return 0;
    let n = 0;
    for (const h of m.hits) if (at - h.at <= windowMs && h.at <= at && h.rules.some(match)) n++;
    return n;
  }

  /** Forgets the hits a threshold rule has counted, so it fires once per burst. */
  forget(session: string, match: (rule: string) => boolean): void {
    const m = this.sessions.get(session);
    if (m) m.hits = m.hits.filter((h) => !h.rules.some(match));
  }
}
