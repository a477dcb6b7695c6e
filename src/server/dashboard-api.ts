/**
 * The dashboard's views that LogQL cannot express, or not cheaply, under /api/dashboard/:
 *
 * - `system`: the collector's own state (pid, uptime, counters, spool backlog, quarantine, store and audit
 *   sizes, sinks), which is not in any log line.
 * - `sessions?start=&end=&project=&limit=`: per-session summaries (first and last event time, counts) kept by
 *   the store on insert; a metric query can only approximate start and end to a step.
 * - `overview?start=&end=&step=&project=&session=&agent=`: everything the Overview shows in one request
 *   (totals by type, tool, project; activity per step; active sessions; tool durations p50/p95; top files and
 *   commands), from an in-memory index of the last 31 days' event columns (EventIndex: read at the first
 *   request, let go when the dashboard is unused), else from the store.
 * - `choices?start=&end=`: the projects, agent types and event types of the window (the filters' menus), from
 *   the same index.
 * - `session-tree?session=`: the delegation tree of a session (src/agents/fleet.ts).
 * - `fleet?start=&end=&project=`: every agent active in the window, file conflicts between agents, and token
 *   cost by model and by day (src/agents/fleet.ts, src/usage/report.ts). Agents and conflicts include those of
 *   the federation instances of config.yaml (src/agents/federated.ts), each row naming its `instance`;
 *   `instances` reports every instance asked and `partial` says one failed. Costs are this collector's.
 * - `security?start=&end=&project=&session=&agent=`: rule hits in the window and risk per session (hits by
 *   severity, with the analytics risk once the session is scored).
 * - `analytics?start=&end=&project=`: the analytics status (model, cold start), sessions by risk with their
 *   reasons, and risk trends, from the scores the collector keeps (src/analytics/report.ts);
 *   `analytics/session?session=`: one session's features against the baseline.
 *
 * Times are ms since the epoch; windows are (start, end], like LogQL ranges.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fleetAgents, fleetConflicts } from '../agents/federated.ts';
import { sessionTree } from '../agents/fleet.ts';
import { ruleRisk } from '../analytics/model.ts';
import { AnalyticsReader } from '../analytics/report.ts';
import * as spool from '../capture/spool.ts';
import { readStatusFile, runningPid } from '../collector/control.ts';
import { loadConfig } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { Federation } from '../query/federation.ts';
import type { Store } from '../store/index.ts';
import type { EventDetection } from '../types.ts';
import { costReport, Pricing } from '../usage/report.ts';
import { type Router, sendJson } from './http.ts';
import { HttpError } from './http-errors.ts';

export interface DashboardApiContext {
  store: Store;
  paths: DataPaths;
  /** Token prices (config.yaml `pricing:`); the built-in list prices when absent. */
  pricing?: Pricing;
  /** Anomaly risk from which a session counts as anomalous (config.yaml `analytics.threshold`). */
  analyticsThreshold?: number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function dirSummary(dir: string, suffix: string): { files: number; bytes: number } {
  if (!existsSync(dir)) return { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(suffix)) continue;
    files++;
    bytes += fileSize(join(dir, name));
  }
  return { files, bytes };
}

/** Signed checkpoints and the time of the last one (the file holds one short line per checkpoint). */
function checkpoints(auditDir: string): { count: number; last?: string } {
  const file = join(auditDir, 'checkpoints.jsonl');
  if (!existsSync(file)) return { count: 0 };
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  let last: string | undefined;
  try {
    const rec = JSON.parse(lines.at(-1) ?? '{}') as { ts?: string; time?: string };
    last = rec.ts ?? rec.time;
  } catch {
    last = undefined;
  }
  return { count: lines.length, ...(last ? { last } : {}) };
}

export function systemReport(ctx: DashboardApiContext) {
  const { paths, store } = ctx;
  const pid = runningPid(paths);
  const status = readStatusFile(paths);
  const stats = store.stats();
  const storeBytes =
    fileSize(paths.storeFile) + fileSize(`${paths.storeFile}-wal`) + fileSize(`${paths.storeFile}-shm`);
  const audit = dirSummary(paths.audit, '.jsonl');
  return {
    now: new Date().toISOString(),
    collector: {
      running: pid !== undefined,
      pid: pid ?? null,
      version: status?.version ?? null,
      startedAt: status?.startedAt ?? null,
      updatedAt: status?.updatedAt ?? null,
      uptimeSeconds: status?.startedAt
        ? Math.round((Date.now() - Date.parse(status.startedAt)) / 1000)
        : null,
      stored: status?.stored ?? 0,
      duplicates: status?.duplicates ?? 0,
      batches: status?.batches ?? 0,
      api: status?.api?.url ?? null,
    },
    spool: { backlog: spool.backlog(paths), quarantined: spool.quarantineCount(paths) },
    store: {
      events: stats.events,
      sessions: stats.sessions,
      firstEventTs: stats.firstEventTs,
      lastEventTs: stats.lastEventTs,
      bytes: storeBytes,
    },
    audit: {
      entries: stats.maxAuditSeq,
      files: audit.files,
      bytes: audit.bytes,
      checkpoints: checkpoints(paths.audit),
    },
    sinks: status?.sinks ?? [],
  };
}

function msParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new HttpError(400, `${name} must be milliseconds since the epoch`);
  return n;
}

/** The window (start, end] and the filters of a request, as the dashboard's LogQL selectors read them. */
export interface Window {
  start: number;
  end: number;
  project?: string;
  session?: string;
  agent?: string;
}

function windowOf(url: URL, store: Store): Window {
  const end = msParam(url, 'end') ?? Date.now();
  const start = msParam(url, 'start') ?? end - 86_400_000;
  if (start >= end) throw new HttpError(400, 'start must be before end');
  const w: Window = { start, end };
  const project = url.searchParams.get('project');
  if (project) w.project = project;
  const agent = url.searchParams.get('agent');
  if (agent) w.agent = agent;
  const session = url.searchParams.get('session');
  if (session) {
    const r = store.resolveSession(session);
    if (r.ambiguous)
      throw new HttpError(400, `session ${session} matches several sessions; give more characters`);
    w.session = r.id ?? session;
  }
  return w;
}

/** SQL over `events` for a window and its filters (the same columns the LogQL labels read). */
function eventsWhere(w: Window): { sql: string; params: unknown[] } {
  const conds = ['ts > ?', 'ts <= ?'];
  const params: unknown[] = [w.start, w.end];
  if (w.project !== undefined) {
    conds.push('project_name = ?');
    params.push(w.project);
  }
  if (w.session !== undefined) {
    conds.push('session_id = ?');
    params.push(w.session);
  }
  if (w.agent !== undefined) {
    conds.push('agent_type = ?');
    params.push(w.agent);
  }
  return { sql: conds.join(' AND '), params };
}

/** Puts the k-th smallest of a[from, to) at index k (Hoare's selection, in place); a stays a permutation. */
function select(a: Float64Array, k: number, from: number, to: number): void {
  let lo = from;
  let hi = to - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/**
 * The q-quantile of a[from, to), interpolated between ranks as LogQL's quantile_over_time does, by selection
 * (no sort): the value at rank floor(q (n - 1)) and the smallest above it. Reorders that part of `a`.
 */
export function quantile(a: Float64Array, q: number, from = 0, to = a.length): number {
  const n = to - from;
  if (n <= 0) return Number.NaN;
  const rank = q * (n - 1);
  const k = from + Math.floor(rank);
  select(a, k, from, to);
  const w = rank - Math.floor(rank);
  if (w === 0 || k + 1 >= to) return a[k] as number;
  let next = Number.POSITIVE_INFINITY;
  for (let i = k + 1; i < to; i++) if ((a[i] as number) < next) next = a[i] as number;
  return (a[k] as number) * (1 - w) + next * w;
}

const OVERVIEW_COLUMNS =
  'ts, session_id, project_name, agent_type, event_type, hook_event, tool_name, outside_scope, duration_ms, file_path, command';
type OverviewSqlRow = [
  number,
  string | null,
  string | null,
  string | null,
  string | null,
  string | null,
  string | null,
  number | null,
  number | null,
  string | null,
  string | null,
];

/** Interned strings of one column: id per distinct value, -1 for none. */
class Strings {
  private readonly ids = new Map<string, number>();
  readonly values: string[] = [];
  id(v: string | null): number {
    if (v === null || v === '') return -1;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(v);
      this.ids.set(v, id);
    }
    return id;
  }
  of(id: number): string {
    return id < 0 ? '' : (this.values[id] as string);
  }
  /** The id of a stored value; -1 for '', -2 for a value never stored (which no row has). */
  find(v: string): number {
    return v === '' ? -1 : (this.ids.get(v) ?? -2);
  }
}

/** The string columns, in the order of OVERVIEW_COLUMNS after ts. */
const FIELDS = ['session', 'project', 'agent', 'type', 'hook', 'tool'] as const;
type Field = (typeof FIELDS)[number] | 'file' | 'command';

/** Counts per id of a column (slot 0 is "none"), as label / value rows. */
function counted(counts: Float64Array, s: Strings) {
  const out: { label: string; value: number }[] = [];
  for (let i = 0; i < counts.length; i++)
    if ((counts[i] as number) > 0) out.push({ label: s.of(i - 1), value: counts[i] as number });
  return out;
}

/** The k largest counts, ties by name; only the candidates at or above the k-th count are named. */
function topOf(counts: Int32Array, s: Strings, k = 10) {
  const sorted = Int32Array.from(counts).sort();
  const cut = Math.max(1, sorted.length === 0 ? 1 : (sorted[Math.max(0, sorted.length - k)] as number));
  const out: { value: string; count: number }[] = [];
  for (let i = 0; i < counts.length; i++)
    if ((counts[i] as number) >= cut) out.push({ value: s.of(i), count: counts[i] as number });
  return out.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1)).slice(0, k);
}

/**
 * The columns the Overview counts, one typed array each (strings interned per column), and the Overview's
 * figures over a window in one pass over them: totals by type, tool (PreToolUse), project, outside the
 * project; active sessions; activity per step by type (points at start + k step counting (t - step, t], as a
 * LogQL range query evaluates); tool durations (PostToolUse) p50/p95; top files and commands (PreToolUse).
 */
export class EventColumns {
  protected n = 0;
  protected ts = new Float64Array(0);
  protected duration = new Float64Array(0);
  protected outside = new Uint8Array(0);
  protected readonly cols = new Map<Field, Int32Array>();
  protected readonly strings = new Map<Field, Strings>();

  constructor() {
    for (const f of [...FIELDS, 'file', 'command'] as Field[]) {
      this.cols.set(f, new Int32Array(0));
      this.strings.set(f, new Strings());
    }
  }

  get size(): number {
    return this.n;
  }

  protected col(f: Field): Int32Array {
    return this.cols.get(f) as Int32Array;
  }

  protected str(f: Field): Strings {
    return this.strings.get(f) as Strings;
  }

  /** Room for `more` rows; growing by a quarter (at a million rows, doubling would hold room for another million). */
  protected reserve(more: number): void {
    if (this.n + more <= this.ts.length) return;
    const cap = Math.max(this.n + more, this.ts.length + (this.ts.length >> 2), 4096);
    const widen = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.ts = widen(this.ts, (c) => new Float64Array(c));
    this.duration = widen(this.duration, (c) => new Float64Array(c));
    this.outside = widen(this.outside, (c) => new Uint8Array(c));
    for (const [f, c] of this.cols)
      this.cols.set(
        f,
        widen(c, (x) => new Int32Array(x)),
      );
  }

  /** Holds no rows and gives the arrays and strings back. */
  protected clear(): void {
    this.n = 0;
    this.ts = new Float64Array(0);
    this.duration = new Float64Array(0);
    this.outside = new Uint8Array(0);
    for (const f of this.cols.keys()) {
      this.cols.set(f, new Int32Array(0));
      this.strings.set(f, new Strings());
    }
  }

  /** Appends rows read with OVERVIEW_COLUMNS. */
  append(rows: readonly OverviewSqlRow[]): void {
    this.reserve(rows.length);
    const cols = FIELDS.map((f) => [this.col(f), this.str(f)] as const);
    const [file, files] = [this.col('file'), this.str('file')];
    const [command, commands] = [this.col('command'), this.str('command')];
    for (const r of rows) {
      const i = this.n++;
      this.ts[i] = r[0];
      for (let c = 0; c < cols.length; c++) {
        const [col, s] = cols[c] as (typeof cols)[number];
        col[i] = s.id(r[c + 1] as string | null);
      }
      this.outside[i] = r[7] === 1 ? 1 : 0;
      this.duration[i] = r[8] ?? Number.NaN;
      file[i] = files.id(r[9]);
      command[i] = commands.id(r[10]);
    }
  }

  /** Keeps the rows for which `keep(ts)` holds. */
  protected retain(keep: (ts: number) => boolean): void {
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      if (!keep(this.ts[i] as number)) continue;
      if (k !== i) {
        this.ts[k] = this.ts[i] as number;
        this.duration[k] = this.duration[i] as number;
        this.outside[k] = this.outside[i] as number;
        for (const c of this.cols.values()) c[k] = c[i] as number;
      }
      k++;
    }
    this.n = k;
  }

  /** Keeps the rows from `t` (ms) on, and only the strings they still use. */
  protected dropBefore(t: number): void {
    this.retain((ts) => ts >= t);
    for (const [f, col] of this.cols) {
      const old = this.str(f);
      const fresh = new Strings();
      const map = new Int32Array(old.values.length).fill(-1);
      for (let i = 0; i < this.n; i++) {
        const id = col[i] as number;
        if (id < 0) continue;
        let m = map[id] as number;
        if (m < 0) {
          m = fresh.id(old.of(id));
          map[id] = m;
        }
        col[i] = m;
      }
      this.strings.set(f, fresh);
    }
  }

  /** The filters' choices: the projects, agent types and event types that occur in the window, sorted. */
  choices(w: Window): { project: string[]; agent_type: string[]; event_type: string[] } {
    const fields = [
      ['project', 'project'],
      ['agent', 'agent_type'],
      ['type', 'event_type'],
    ] as const;
    const seen = fields.map(([f]) => new Uint8Array(this.str(f).values.length));
    const cols = fields.map(([f]) => this.col(f));
    for (let i = 0; i < this.n; i++) {
      const t = this.ts[i] as number;
      if (t <= w.start || t > w.end) continue;
      for (let c = 0; c < cols.length; c++) {
        const id = (cols[c] as Int32Array)[i] as number;
        if (id >= 0) (seen[c] as Uint8Array)[id] = 1;
      }
    }
    const out = { project: [] as string[], agent_type: [] as string[], event_type: [] as string[] };
    fields.forEach(([f, name], c) => {
      const values = this.str(f).values;
      out[name] = values.filter((_, id) => (seen[c] as Uint8Array)[id] === 1).sort();
    });
    return out;
  }

  overview(w: Window, stepMs: number, source: 'index' | 'store') {
    const [session, project, agent, type, hook, tool] = FIELDS.map((f) => this.col(f)) as Int32Array[] as [
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
    ];
    const [file, command] = [this.col('file'), this.col('command')];
    const size = (f: Field) => this.str(f).values.length;
    const want = (f: Field, v: string | undefined) => (v === undefined ? undefined : this.str(f).find(v));
    const [wProject, wSession, wAgent] = [
      want('project', w.project),
      want('session', w.session),
      want('agent', w.agent),
    ];
    const pre = this.str('hook').find('PreToolUse');
    const post = this.str('hook').find('PostToolUse');
    const points = Math.floor((w.end - w.start) / stepMs) + 1;
    const nTypes = size('type') + 1;
    const activity = new Float64Array(points * nTypes);
    const byType = new Float64Array(nTypes);
    const byProject = new Float64Array(size('project') + 1);
    const byTool = new Float64Array(size('tool') + 1);
    const seen = new Uint8Array(size('session'));
    const files = new Int32Array(size('file'));
    const commands = new Int32Array(size('command'));
    // Durations of PostToolUse with their tool: grouped by tool afterwards (counting sort), no array per tool.
    const durs = new Float64Array(this.n);
    const durTool = new Int32Array(this.n);
    let nDurs = 0;
    let total = 0;
    let outside = 0;
    let sessions = 0;
    const { ts, duration } = this;
    const lo = w.start - stepMs;
    for (let i = 0; i < this.n; i++) {
      const t = ts[i] as number;
      if (t <= lo || t > w.end) continue;
      if (wProject !== undefined && project[i] !== wProject) continue;
      if (wSession !== undefined && session[i] !== wSession) continue;
      if (wAgent !== undefined && agent[i] !== wAgent) continue;
      const ty = (type[i] as number) + 1;
      const k = Math.ceil((t - w.start) / stepMs);
      if (k >= 0 && k < points) activity[ty * points + k] = (activity[ty * points + k] as number) + 1;
      if (t <= w.start) continue;
      total++;
      if (this.outside[i] === 1) outside++;
      const se = session[i] as number;
      if (se >= 0 && seen[se] === 0) {
        seen[se] = 1;
        sessions++;
      }
      byType[ty] = (byType[ty] as number) + 1;
      const pr = (project[i] as number) + 1;
      byProject[pr] = (byProject[pr] as number) + 1;
      const h = hook[i] as number;
      const to = (tool[i] as number) + 1;
      if (h === pre) {
        if (to > 0) byTool[to] = (byTool[to] as number) + 1;
        const fi = file[i] as number;
        if (fi >= 0) files[fi] = (files[fi] as number) + 1;
        const co = command[i] as number;
        if (co >= 0) commands[co] = (commands[co] as number) + 1;
      } else if (h === post) {
        const d = duration[i] as number;
        if (!Number.isNaN(d)) {
          durs[nDurs] = d;
          durTool[nDurs++] = to;
        }
      }
    }
    const types = this.str('type');
    const tools = this.str('tool');
    const series: { metric: Record<string, string>; values: [number, string][] }[] = [];
    for (let ty = 0; ty < nTypes; ty++) {
      const values: [number, string][] = [];
      for (let k = 0; k < points; k++) {
        const v = activity[ty * points + k] as number;
        if (v > 0) values.push([(w.start + k * stepMs) / 1000, String(v)]);
      }
      if (values.length > 0)
        series.push({ metric: ty === 0 ? {} : { event_type: types.of(ty - 1) }, values });
    }
    const starts = new Int32Array(size('tool') + 2);
    for (let i = 0; i < nDurs; i++)
      starts[(durTool[i] as number) + 1] = (starts[(durTool[i] as number) + 1] as number) + 1;
    for (let t = 1; t < starts.length; t++) starts[t] = (starts[t] as number) + (starts[t - 1] as number);
    const grouped = new Float64Array(nDurs);
    const at = Int32Array.from(starts);
    for (let i = 0; i < nDurs; i++) {
      const slot = durTool[i] as number;
      const pos = at[slot] as number;
      grouped[pos] = durs[i] as number;
      at[slot] = pos + 1;
    }
    const timing: { tool: string; calls: number; p50_ms: number; p95_ms: number }[] = [];
    for (let to = 0; to + 1 < starts.length; to++) {
      const [from, end] = [starts[to] as number, starts[to + 1] as number];
      if (end === from) continue;
      const p50 = quantile(grouped, 0.5, from, end);
      timing.push({
        tool: tools.of(to - 1),
        calls: end - from,
        p50_ms: p50,
        p95_ms: quantile(grouped, 0.95, from, end),
      });
    }
    timing.sort((a, b) => b.p95_ms - a.p95_ms);
    return {
      source,
      total,
      outside,
      activeSessions: sessions,
      byType: counted(byType, types),
      byTool: counted(byTool, tools),
      byProject: counted(byProject, this.str('project')),
      stepMs,
      activity: series,
      durations: timing,
      topFiles: topOf(files, this.str('file')),
      topCommands: topOf(commands, this.str('command')),
    };
  }
}

export type OverviewReport = ReturnType<EventColumns['overview']>;

/** The columns of the events of (start, end] and its filters, read from the store (windows the index does not keep). */
export function columnsFromStore(store: Store, w: Window): EventColumns {
  const cols = new EventColumns();
  const f = eventsWhere(w);
  const stmt = store
    .select(`SELECT ${OVERVIEW_COLUMNS} FROM events INDEXED BY events_ts WHERE ${f.sql}`)
    .raw(true);
  let batch: OverviewSqlRow[] = [];
  for (const r of stmt.iterate(...f.params) as Iterable<OverviewSqlRow>) {
    batch.push(r);
    if (batch.length === 10_000) {
      cols.append(batch);
      batch = [];
    }
  }
  cols.append(batch);
  return cols;
}

/** The Overview's figures read from the store. */
export function overviewFromStore(store: Store, w: Window, stepMs: number): OverviewReport {
  return columnsFromStore(store, { ...w, start: w.start - stepMs }).overview(w, stepMs, 'store');
}

/** The time (ms) of the store's oldest event; +Infinity when it has none. */
function oldestEvent(store: Store): number {
  const t = (store.select('SELECT min(ts) AS t FROM events').get() as { t: number | null }).t;
  return t ?? Number.POSITIVE_INFINITY;
}

/** The number of events of (start, end] (from the time index). */
function eventsIn(store: Store, start: number, end: number): number {
  return (
    store.select('SELECT count(*) AS n FROM events WHERE ts > ? AND ts <= ?').get(start, end) as { n: number }
  ).n;
}

/** How long the column index is kept after the dashboard last asked for it (ms); then it is let go. */
export const INDEX_IDLE_MS = 10 * 60_000;
/** While the column index is being read, windows of at most this many events are read from the store. */
export const STORE_WINDOW_EVENTS = 100_000;

export interface EventIndexOptions {
  /** The index is let go after this long without a request (ms); the next request reads it again. */
  idleMs?: number;
  /** While the index is being read, windows of at most this many events are answered from the store. */
  storeEvents?: number;
}

/**
 * The Overview's columns for every event of the last `keepMs` (31 days by default, so every preset range), in
 * memory (49 bytes per event and each distinct value once), brought up to date by store seq before each
 * answer, so an Overview over a million events is one pass over arrays instead of a scan of the store. It is
 * read at the first dashboard request, in slices of `slice` rows giving way to the collector between them
 * (a window of few events is answered from the store meanwhile), and let go once the dashboard has not asked
 * for `idleMs`, so that a collector whose dashboard is closed does not hold it.
 */
export class EventIndex extends EventColumns {
  private seq = 0;
  /** The store's oldest event time at the last update. */
  private oldest = 0;
  private running: Promise<void> | undefined;
  /** Whether the index holds the store's events: read through once since it was created or let go. */
  private held = false;
  private lastUsed = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly storeEvents: number;
  /** Events before this time (ms) are not kept. */
  from = 0;

  constructor(
    private readonly store: Store,
    private readonly keepMs = 31 * 86_400_000,
    // Small slices (a few ms each) keep the store's answers to small windows quick while the index is read.
    private readonly slice = 5_000,
    opts: EventIndexOptions = {},
  ) {
    super();
    this.idleMs = opts.idleMs ?? INDEX_IDLE_MS;
    this.storeEvents = opts.storeEvents ?? STORE_WINDOW_EVENTS;
  }

  /** Whether the index holds the store's events (false before the first request and after it was let go). */
  get isHeld(): boolean {
    return this.held;
  }

  /** Brings the index up to date (reading it whole when it is not held); concurrent callers share one read. */
  update(): Promise<void> {
    this.lastUsed = Date.now();
    this.armIdle();
    this.running ??= this.catchUp().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Whether the index answers for the events of (start, end]: brings it up to date and says whether it keeps
   * `start`. While it is being read, a window of at most `storeEvents` events is left to the store instead of
   * waiting for the whole read.
   */
  async covers(start: number, end: number): Promise<boolean> {
    const reading = this.update();
    if (!this.held && (start < this.from || eventsIn(this.store, start, end) <= this.storeEvents))
      return false;
    await reading;
    return start >= this.from;
  }

  /** Lets the index go (its arrays and strings), unless a read is under way; the next update reads it again. */
  release(): void {
    if (this.running) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.clear();
    this.seq = 0;
    this.oldest = 0;
    this.held = false;
  }

  /** Lets the index go once `idleMs` has passed since the last update and no read is under way. */
  private armIdle(): void {
    if (this.idleTimer) return;
    const wait = Math.max(0, this.lastUsed + this.idleMs - Date.now());
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.running || Date.now() - this.lastUsed < this.idleMs) this.armIdle();
      else this.release();
    }, wait);
    this.idleTimer.unref();
  }

  /** Drops what has aged out before growing. */
  protected override reserve(more: number): void {
    if (this.n + more > this.ts.length) {
      this.from = Date.now() - this.keepMs;
      this.dropBefore(this.from);
    }
    super.reserve(more);
  }

  /**
   * Follows deletions (retention removes the oldest events first): rows older than the store's oldest event
   * are dropped. What the index covers (`from`) stays, since the store has nothing older either.
   */
  private followDeletes(): void {
    const oldest = oldestEvent(this.store);
    if (this.n > 0 && oldest > this.oldest) this.dropBefore(oldest);
    this.oldest = oldest;
  }

  private async catchUp(): Promise<void> {
    const top = this.store.maxSeq();
    if (top < this.seq) {
      // The store was reset or restored: read it again.
      this.seq = 0;
      this.n = 0;
    }
    if (this.seq === 0) {
      this.held = false;
      this.from = Date.now() - this.keepMs;
      // Sized once for what is there (and a little more), instead of grown while reading.
      const rows = eventsIn(this.store, this.from - 1, Number.MAX_SAFE_INTEGER);
      this.reserve(rows + Math.max(4096, rows >> 4));
    }
    this.followDeletes();
    const stmt = this.store
      .select(`SELECT ${OVERVIEW_COLUMNS} FROM events WHERE seq > ? AND seq <= ? AND ts >= ?`)
      .raw(true);
    while (this.seq < top) {
      const to = Math.min(top, this.seq + this.slice);
      this.append(stmt.all(this.seq, to, this.from) as OverviewSqlRow[]);
      this.seq = to;
      if (this.seq < top) await new Promise((r) => setImmediate(r));
    }
    this.held = true;
  }

  /** The Overview's figures for a window that starts inside what the index keeps. */
  overviewOf(w: Window, stepMs: number): OverviewReport {
    return this.overview(w, stepMs, 'index');
  }
}

/** One rule hit, with where it happened. */
export interface RuleHit extends EventDetection {
  ts: number;
  session: string;
  project: string;
  agent: string;
  hook: string;
  tool: string;
}

/**
 * Every stored rule hit, kept in memory and brought up to date by store seq on each request: events with
 * `detections` are a small share of all events, and finding them needs a look at the whole line, which is
 * done once per event instead of once per request. The first read goes in slices, giving way between them.
 */
export class RuleHitIndex {
  private seq = 0;
  /** The store's oldest event time at the last update. */
  private oldest = 0;
  private hits: RuleHit[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly slice = 50_000,
  ) {}

  /** Reads what was stored since the last call; concurrent callers share one read. */
  update(): Promise<void> {
    this.running ??= this.catchUp().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async catchUp(): Promise<void> {
    const top = this.store.maxSeq();
    if (top < this.seq) {
      // The store was reset or restored: start again.
      this.seq = 0;
      this.hits = [];
    }
    // Retention removes the oldest events first, and with them their hits.
    const oldest = oldestEvent(this.store);
    if (oldest > this.oldest) this.hits = this.hits.filter((h) => h.ts >= oldest);
    this.oldest = oldest;
    const stmt = this.store.select(
      `SELECT seq, ts, session_id, project_name, agent_type, hook_event, tool_name, line FROM events
       WHERE seq > ? AND seq <= ? AND instr(line, '"detections":') > 0 ORDER BY seq`,
    );
    while (this.seq < top) {
      const to = Math.min(top, this.seq + this.slice);
      const rows = stmt.all(this.seq, to) as {
        ts: number;
        session_id: string | null;
        project_name: string | null;
        agent_type: string | null;
        hook_event: string | null;
        tool_name: string | null;
        line: string;
      }[];
      for (const r of rows) {
        let dets: unknown;
        try {
          dets = (JSON.parse(r.line) as { detections?: unknown }).detections;
        } catch {
          continue;
        }
        if (!Array.isArray(dets)) continue;
        for (const d of dets as Partial<EventDetection>[])
          this.hits.push({
            ts: r.ts,
            session: r.session_id ?? '',
            project: r.project_name ?? '',
            agent: r.agent_type ?? '',
            hook: r.hook_event ?? '',
            tool: r.tool_name ?? '',
            rule: String(d.rule ?? ''),
            severity: String(d.severity ?? ''),
            action: String(d.action ?? ''),
            reason: String(d.reason ?? ''),
            mitre: Array.isArray(d.mitre) ? d.mitre.map(String) : [],
          });
      }
      this.seq = to;
      if (this.seq < top) await new Promise((r) => setImmediate(r));
    }
  }

  /** Hits in a window, oldest first. */
  in(w: Window): RuleHit[] {
    return this.hits.filter(
      (h) =>
        h.ts > w.start &&
        h.ts <= w.end &&
        (w.project === undefined || h.project === w.project) &&
        (w.session === undefined || h.session === w.session) &&
        (w.agent === undefined || h.agent === w.agent),
    );
  }
}

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Rule hits of a window and the risk of each session that had any. */
export function securityReport(analytics: AnalyticsReader, hits: RuleHit[], limit: number) {
  const bySeverity: Record<string, number> = {};
  const perSession = new Map<string, { session: string; project: string; counts: Record<string, number> }>();
  for (const h of hits) {
    bySeverity[h.severity] = (bySeverity[h.severity] ?? 0) + 1;
    const s = perSession.get(h.session) ?? { session: h.session, project: h.project, counts: {} };
    perSession.set(h.session, s);
    s.counts[h.severity] = (s.counts[h.severity] ?? 0) + 1;
  }
  const ranked = [...perSession.values()]
    .map((s) => {
      const c = (k: string) => s.counts[k] ?? 0;
      const rr = ruleRisk({
        rule_hits_critical: c('critical'),
        rule_hits_high: c('high'),
        rule_hits_medium: c('medium'),
        rule_hits_low: c('low') + c('info'),
      });
      return {
        session: s.session,
        project: s.project,
        ...Object.fromEntries(SEVERITIES.map((k) => [k, c(k)])),
        hits: Object.values(s.counts).reduce((a, b) => a + b, 0),
        ruleRisk: round1(rr),
        risk: null as number | null,
        anomalyRisk: null as number | null,
      };
    })
    .sort((a, b) => b.ruleRisk - a.ruleRisk || b.hits - a.hits)
    .slice(0, limit);
  const status = analytics.status();
  if (status.scoredSessions > 0)
    for (const r of ranked) {
      const scored = analytics.sessionVsBaseline(r.session);
      if (!scored) continue;
      r.risk = scored.risk;
      r.anomalyRisk = scored.anomalyRisk;
    }
  return {
    total: hits.length,
    bySeverity,
    analytics: { model: status.model, scoredSessions: status.scoredSessions, message: status.message },
    sessions: ranked,
    hits: hits.slice(-2000).reverse(),
  };
}

/** The federation instances of the config.yaml in the data dir, for the Fleet view; none when it does not load. */
function fleetPeers(paths: DataPaths): Federation | undefined {
  try {
    const f = loadConfig(paths).federation;
    return f.instances.length > 0 ? new Federation(f) : undefined;
  } catch {
    return undefined;
  }
}

export function dashboardApiRoutes(router: Router, ctx: DashboardApiContext): Router {
  const pricing = ctx.pricing ?? new Pricing({});
  const ruleHits = new RuleHitIndex(ctx.store);
  const events = new EventIndex(ctx.store);
  const analytics = AnalyticsReader.open(ctx.paths.home, ctx.analyticsThreshold);
  const limitOf = (url: URL, dflt: number, max: number) => Math.min(msParam(url, 'limit') ?? dflt, max);
  // The rule hits are read now, in slices, so that the Security view finds them ready; the column index is
  // read at the first Overview request (and let go when the dashboard is unused: EventIndex).
  ruleHits.update().catch(() => {});
  return router
    .on('GET', '/api/dashboard/system', ({ req, res }) => sendJson(req, res, systemReport(ctx)))
    .on('GET', '/api/dashboard/sessions', ({ req, res, url }) => {
      const start = msParam(url, 'start');
      const end = msParam(url, 'end');
      const limit = limitOf(url, 500, 5000);
      const project = url.searchParams.get('project') || undefined;
      const rows = ctx.store
        .sessions({
          ...(project ? { project } : {}),
          ...(start !== undefined ? { since: start } : {}),
          limit,
        })
        .filter((s) => end === undefined || s.first_ts <= end);
      return sendJson(req, res, { sessions: rows });
    })
    .on('GET', '/api/dashboard/overview', async ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      const stepMs = msParam(url, 'step') ?? 60_000;
      if (stepMs < 1000 || (w.end - w.start) / stepMs > 11_000)
        throw new HttpError(400, 'step must be at least 1000 ms and give at most 11,000 points');
      const report = (await events.covers(w.start - stepMs, w.end))
        ? events.overviewOf(w, stepMs)
        : overviewFromStore(ctx.store, w, stepMs);
      return sendJson(req, res, report);
    })
    .on('GET', '/api/dashboard/choices', async ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      const cols = (await events.covers(w.start, w.end))
        ? events
        : columnsFromStore(ctx.store, { start: w.start, end: w.end });
      return sendJson(req, res, cols.choices(w));
    })
    .on('GET', '/api/dashboard/session-tree', ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      if (w.session === undefined) throw new HttpError(400, 'session is required');
      const tree = sessionTree(ctx.store, pricing, w.session);
      if (!tree) throw new HttpError(404, `no session ${w.session}`);
      return sendJson(req, res, tree);
    })
    .on('GET', '/api/dashboard/fleet', async ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      const limit = limitOf(url, 500, 5000);
      const fleet = { store: ctx.store, pricing };
      const peers = fleetPeers(ctx.paths);
      const range = { since: w.start + 1, until: w.end };
      const [a, c] = await Promise.all([
        fleetAgents(fleet, peers, range),
        fleetConflicts(fleet, peers, range),
      ]);
      const agents = a.rows.filter(
        (x) =>
          (w.project === undefined || x.project_name === w.project) &&
          (w.session === undefined || x.session_id === w.session) &&
          (w.agent === undefined || x.agent_type === w.agent),
      );
      const conflicts = c.rows.filter(
        (x) =>
          w.session === undefined || x.first.session_id === w.session || x.second.session_id === w.session,
      );
      return sendJson(req, res, {
        agents: agents.slice(0, limit),
        agentsInRange: agents.length,
        conflicts: conflicts.slice(-limit),
        conflictsInRange: conflicts.length,
        instances: a.instances.map((i, k) => (c.instances[k]?.ok === false ? c.instances[k] : i)),
        partial: a.partial || c.partial,
        costByModel: costReport(ctx.store, pricing, { by: 'model', since: w.start + 1 }),
        costByDay: costReport(ctx.store, pricing, { by: 'day', since: w.start + 1 }),
      });
    })
    .on('GET', '/api/dashboard/security', async ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      await ruleHits.update();
      return sendJson(req, res, securityReport(analytics, ruleHits.in(w), limitOf(url, 100, 1000)));
    })
    .on('GET', '/api/dashboard/analytics', ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      const q = { since: w.start, until: w.end, ...(w.project ? { project: w.project } : {}) };
      return sendJson(req, res, {
        status: analytics.status(),
        anomalies: analytics.listAnomalies({ ...q, limit: limitOf(url, 100, 1000) }),
        trends: analytics.riskTrends(q),
      });
    })
    .on('GET', '/api/dashboard/analytics/session', ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      if (w.session === undefined) throw new HttpError(400, 'session is required');
      const one = analytics.sessionVsBaseline(w.session);
      if (!one) throw new HttpError(404, `session ${w.session} has no score yet`);
      return sendJson(req, res, one);
    });
}
