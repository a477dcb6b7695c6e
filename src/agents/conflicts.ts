/**
 * File conflicts between agents: two agents writing one file within a window, or one reading a file another
 * wrote within the window. `ConflictWatch` finds them one access at a time, so the same rules serve the
 * `conflicts` command (over stored events) and the collector (as events are ingested, raising alerts through
 * the alert dispatcher). Agents of different sessions are different agents.
 */
import { type AlertChannels, type AlertConfig, AlertDispatcher, type AlertRecord } from '../detect/alerts.ts';
import type { Detection } from '../detect/engine.ts';
import type { TelemetryEvent } from '../types.ts';

export interface FileConflict {
  file_path: string;
  /** write-write: both wrote it; read-write: one read what the other wrote. */
  kind: 'write-write' | 'read-write';
  first: ConflictSide;
  second: ConflictSide;
  /** ms between the two accesses. */
  gap_ms: number;
}

export interface ConflictSide {
  session_id: string;
  agent_id: string;
  tool: string;
  ts: number;
  access: 'read' | 'write';
}

export const WRITE_TOOLS: readonly string[] = ['Write', 'Edit', 'MultiEdit', 'NotebookEdit'];
export const READ_TOOLS: readonly string[] = ['Read', 'NotebookRead'];
const WRITES = new Set(WRITE_TOOLS);
/** Accesses remembered per file (the newest within the window). */
const PER_FILE = 32;
const ACCESS_TOOLS = new Set([...WRITE_TOOLS, ...READ_TOOLS]);

/** One file access: a PreToolUse of a read or write tool. */
export interface FileAccess {
  ts: number;
  session_id: string;
  /** '' for a session's main agent. */
  agent_id: string;
  tool_name: string;
  file_path: string;
}

/** A stored event as conflict detection sees it: a few fields, so the event itself need not be kept. */
export interface ObservedAccess {
  access: FileAccess;
  project: string;
  eventId: string;
}

interface Seen extends FileAccess {
  writes: boolean;
}

/**
 * Remembers the accesses of the last `windowMs` per file and reports, for each new access, the conflicts it
 * makes: one per other agent and kind (the closest earlier access), and a pair already reported for a file
 * is not reported again within the window. Accesses should arrive in time order (a batch of the collector
 * is; a slightly late one is still compared, by absolute gap). Memory is bounded by `maxFiles`.
 */
export class ConflictWatch {
  private readonly files = new Map<string, Seen[]>();
  private readonly lastReported = new Map<string, number>();

  constructor(
    readonly windowMs = 60_000,
    private readonly maxFiles = 50_000,
  ) {}

  /** The access an event makes, or undefined (not a PreToolUse of a read/write tool with a path). */
  static accessOf(ev: TelemetryEvent): FileAccess | undefined {
    if (ev.hook_event !== 'PreToolUse' || ev.tool_name === null || !ACCESS_TOOLS.has(ev.tool_name)) return;
    const file = ev.action_details.file_path;
    if (typeof file !== 'string' || file === '') return;
    return {
      ts: Date.parse(ev.timestamp),
      session_id: ev.session_id,
      agent_id: ev.agent_id ?? '',
      tool_name: ev.tool_name,
      file_path: file,
    };
  }

  observe(b: FileAccess): FileConflict[] {
    let list = this.files.get(b.file_path);
    if (list === undefined) {
      list = [];
      if (this.files.size >= this.maxFiles) this.forget();
      this.files.set(b.file_path, list);
    }
    let keep = 0;
    while (keep < list.length && b.ts - (list[keep] as Seen).ts > this.windowMs) keep++;
    if (keep > 0) list.splice(0, keep);
    const bWrites = WRITES.has(b.tool_name);
    const out: FileConflict[] = [];
    const reported = new Set<string>();
    for (let j = list.length - 1; j >= 0; j--) {
      const a = list[j] as Seen;
      if (a.session_id === b.session_id && a.agent_id === b.agent_id) continue;
      if (!a.writes && !bWrites) continue;
      if (Math.abs(b.ts - a.ts) > this.windowMs) continue;
      const kind = a.writes && bWrites ? 'write-write' : 'read-write';
      const key = `${a.session_id}/${a.agent_id}/${kind}`;
      if (reported.has(key)) continue;
      reported.add(key);
      const pair = `${b.file_path}\n${key}\n${b.session_id}/${b.agent_id}`;
      const last = this.lastReported.get(pair);
      if (last !== undefined && b.ts - last <= this.windowMs) continue;
      this.lastReported.set(pair, b.ts);
      const [first, second] =
        a.ts <= b.ts ? [side(a, a.writes), side(b, bWrites)] : [side(b, bWrites), side(a, a.writes)];
      out.push({ file_path: b.file_path, kind, first, second, gap_ms: Math.abs(b.ts - a.ts) });
    }
    list.push({ ...b, writes: bWrites });
    // Each access is compared with the file's recent ones, so their number bounds the per-event cost when
    // many agents hammer one file: the newest PER_FILE within the window are kept.
    if (list.length > PER_FILE) list.shift();
    if (this.lastReported.size > 4 * this.maxFiles) this.lastReported.clear();
    return out;
  }

  /** Drops the files not touched within the window (or, failing that, the oldest half). */
  private forget(): void {
    let newest = Number.NEGATIVE_INFINITY;
    for (const list of this.files.values()) {
      const t = list.at(-1)?.ts;
      if (t !== undefined && t > newest) newest = t;
    }
    for (const [file, list] of this.files)
      if (list.length === 0 || newest - (list.at(-1) as Seen).ts > this.windowMs) this.files.delete(file);
    if (this.files.size >= this.maxFiles) {
      let drop = Math.floor(this.files.size / 2);
      for (const file of this.files.keys()) {
        if (drop-- <= 0) break;
        this.files.delete(file);
      }
    }
  }
}

function side(r: FileAccess, writes: boolean): ConflictSide {
  return {
    session_id: r.session_id,
    agent_id: r.agent_id,
    tool: r.tool_name,
    ts: r.ts,
    access: writes ? 'write' : 'read',
  };
}

export const CONFLICT_RULES = {
  'write-write': 'agent-file-conflict-write',
  'read-write': 'agent-file-conflict-read',
} as const;

/** The alert a conflict raises (as a detection, so the dispatcher's folding and rate limit apply). */
export function conflictDetection(c: FileConflict): Detection {
  const who = (s: ConflictSide) => `${s.session_id.slice(0, 8)}/${s.agent_id || 'main'} (${s.tool})`;
  const what =
    c.kind === 'write-write'
      ? `two agents wrote ${c.file_path}`
      : `${c.first.access === 'write' ? who(c.second) : who(c.first)} read ${c.file_path} while another agent was writing it`;
  return {
    rule: CONFLICT_RULES[c.kind],
    title:
      c.kind === 'write-write' ? 'Agents write the same file' : 'Agent reads a file another agent writes',
    severity: c.kind === 'write-write' ? 'high' : 'medium',
    action: 'alert',
    reason: `${what}: ${who(c.first)} then ${who(c.second)}, ${Math.round(c.gap_ms)} ms apart`,
    mitre: [],
  };
}

/**
 * Conflict detection on ingest: every stored event goes through a ConflictWatch; each conflict becomes an
 * alert (alerts.jsonl and the channels configured in alerts.yaml), folded per rule and session by the
 * dispatcher. Never throws.
 */
export class ConflictAlerts {
  readonly watch: ConflictWatch;
  private readonly dispatcher: AlertDispatcher;
  /** Conflicts found since start (alerted or folded). */
  found = 0;

  constructor(
    home: string,
    config: AlertConfig | undefined,
    opts: { windowMs?: number; channels?: AlertChannels; log?: (msg: string) => void } = {},
  ) {
    this.watch = new ConflictWatch(opts.windowMs);
    this.dispatcher = new AlertDispatcher(home, config, opts.channels, opts.log);
  }

  /** What `observeAccess` needs of an event: its file access and what its alert names. */
  static observedOf(ev: TelemetryEvent): ObservedAccess | undefined {
    const access = ConflictWatch.accessOf(ev);
    if (access === undefined || !Number.isFinite(access.ts)) return undefined;
    return { access, project: ev.project_name, eventId: ev.id };
  }

  /** Looks at the access of one stored event (see observedOf); returns the alerts raised. */
  observeAccess(o: ObservedAccess): AlertRecord[] {
    const out: AlertRecord[] = [];
    for (const c of this.watch.observe(o.access)) {
      this.found++;
      out.push(
        ...this.dispatcher.submit([conflictDetection(c)], {
          session: c.second.session_id,
          project: o.project,
          tool: c.second.tool,
          eventId: o.eventId,
        }),
      );
    }
    return out;
  }

  flush(): Promise<void> {
    return this.dispatcher.flush();
  }
}
