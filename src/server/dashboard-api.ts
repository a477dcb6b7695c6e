/**
 * The dashboard's views that LogQL cannot express, or not cheaply, under /api/dashboard/:
 *
 * - `system`: the collector's own state (pid, uptime, counters, spool backlog, quarantine, store and audit
 *   sizes, sinks), which is not in any log line.
 * - `sessions?start=&end=&project=&limit=`: per-session summaries (first and last event time, counts) kept by
 *   the store on insert; a metric query can only approximate start and end to a step.
 * - `overview?start=&end=&step=&project=&session=&agent=`: everything the Overview shows in one request
 *   (totals by type, tool, project; activity per step; active sessions; tool durations p50/p95; top files and
 *   commands), from an in-memory index of the last 31 days' event columns (EventIndex), else from the store.
 * - `session-tree?session=`: the delegation tree of a session (src/agents/fleet.ts).
 * - `fleet?start=&end=&project=`: every agent active in the window, file conflicts between agents, and token
 *   cost by model and by day (src/agents/fleet.ts, src/usage/report.ts).
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
import { findConflicts, listAgents, sessionTree } from '../agents/fleet.ts';
import { ruleRisk } from '../analytics/model.ts';
import { AnalyticsReader } from '../analytics/report.ts';
import * as spool from '../capture/spool.ts';
import { readStatusFile, runningPid } from '../collector/control.ts';
import type { DataPaths } from '../config/paths.ts';
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

/** The q-quantile of sorted values, interpolated between ranks as LogQL's quantile_over_time does. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(sorted.length - 1, lo + 1);
  const w = rank - lo;
  return (sorted[lo] as number) * (1 - w) + (sorted[hi] as number) * w;
}

/** The k largest counts, ties by name; only the candidates at or above the k-th count are named. */
function topOf<K>(m: Map<K, number>, name: (key: K) => string, k = 10) {
  const counts = Float64Array.from(m.values()).sort();
  const cut = counts.length === 0 ? 0 : (counts[Math.max(0, counts.length - k)] as number);
  const out: { value: string; count: number }[] = [];
  for (const [key, count] of m) if (count >= cut) out.push({ value: name(key), count });
  return out.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1)).slice(0, k);
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/**
 * The Overview's figures over a window, from events in any order: totals by type, tool (PreToolUse),
 * project, outside the project; active sessions; activity per step by type (points at start + k step
 * counting (t - step, t], as a LogQL range query evaluates); tool durations (PostToolUse) p50/p95; top files
 * and commands (PreToolUse). Values are keys of type K (strings, or ids of interned strings) named at the end.
 */
class OverviewAccumulator<K> {
  total = 0;
  outside = 0;
  readonly sessions = new Set<K>();
  readonly byType = new Map<K, number>();
  readonly byTool = new Map<K, number>();
  readonly byProject = new Map<K, number>();
  readonly files = new Map<K, number>();
  readonly commands = new Map<K, number>();
  readonly durations = new Map<K, number[]>();
  readonly activity = new Map<K, Float64Array>();
  readonly points: number;

  constructor(
    private readonly w: Window,
    private readonly stepMs: number,
    /** The key of no value, and of the two hook events that matter. */
    private readonly k: { none: K; pre: K; post: K },
  ) {
    this.points = Math.floor((w.end - w.start) / stepMs) + 1;
  }

  /** Lowest event time (exclusive) that counts: the first activity point covers (start - step, start]. */
  get low(): number {
    return this.w.start - this.stepMs;
  }

  add(
    ts: number,
    session: K,
    project: K,
    type: K,
    hook: K,
    tool: K,
    outside: boolean,
    duration: number,
    file: K,
    command: K,
  ): void {
    const step = Math.ceil((ts - this.w.start) / this.stepMs);
    if (step >= 0 && step < this.points) {
      let series = this.activity.get(type);
      if (!series) {
        series = new Float64Array(this.points);
        this.activity.set(type, series);
      }
      series[step] = (series[step] as number) + 1;
    }
    if (ts <= this.w.start || ts > this.w.end) return;
    const none = this.k.none;
    this.total++;
    if (outside) this.outside++;
    if (session !== none) this.sessions.add(session);
    bump(this.byType, type);
    bump(this.byProject, project);
    if (hook === this.k.pre) {
      if (tool !== none) bump(this.byTool, tool);
      if (file !== none) bump(this.files, file);
      if (command !== none) bump(this.commands, command);
    } else if (hook === this.k.post && !Number.isNaN(duration)) {
      const list = this.durations.get(tool);
      if (list) list.push(duration);
      else this.durations.set(tool, [duration]);
    }
  }

  report(source: 'index' | 'store', name: (k: K) => string) {
    const counts = (m: Map<K, number>) => [...m].map(([k, value]) => ({ label: name(k), value }));
    const tools = [...this.durations].map(([tool, list]) => {
      const xs = Array.from(Float64Array.from(list).sort());
      return { tool: name(tool), calls: xs.length, p50_ms: quantile(xs, 0.5), p95_ms: quantile(xs, 0.95) };
    });
    tools.sort((a, b) => b.p95_ms - a.p95_ms);
    const start = this.w.start;
    const activity = [...this.activity].map(([type, points]) => ({
      metric: type === this.k.none ? {} : { event_type: name(type) },
      values: Array.from(points).flatMap((n, i) =>
        n > 0 ? [[(start + i * this.stepMs) / 1000, String(n)] as [number, string]] : [],
      ),
    }));
    return {
      source,
      total: this.total,
      outside: this.outside,
      activeSessions: this.sessions.size,
      byType: counts(this.byType),
      byTool: counts(this.byTool),
      byProject: counts(this.byProject),
      stepMs: this.stepMs,
      activity,
      durations: tools,
      topFiles: topOf(this.files, name),
      topCommands: topOf(this.commands, name),
    };
  }
}

export type OverviewReport = ReturnType<OverviewAccumulator<string>['report']>;

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

/** The Overview's figures read from the store (windows the index does not cover). */
export function overviewFromStore(store: Store, w: Window, stepMs: number): OverviewReport {
  const acc = new OverviewAccumulator<string>(w, stepMs, {
    none: '',
    pre: 'PreToolUse',
    post: 'PostToolUse',
  });
  const f = eventsWhere({ ...w, start: acc.low });
  const rows = store
    .select(`SELECT ${OVERVIEW_COLUMNS} FROM events INDEXED BY events_ts WHERE ${f.sql}`)
    .raw(true)
    .iterate(...f.params) as Iterable<OverviewSqlRow>;
  for (const r of rows)
    acc.add(
      r[0],
      r[1] ?? '',
      r[2] ?? '',
      r[4] ?? '',
      r[5] ?? '',
      r[6] ?? '',
      r[7] === 1,
      r[8] ?? Number.NaN,
      r[9] ?? '',
      r[10] ?? '',
    );
  return acc.report('store', (k) => k);
}

/** Interned strings: id per distinct value, -1 for none. */
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
  /** The id of a stored value; -1 for '', -2 for a value never stored. */
  find(v: string): number {
    return v === '' ? -1 : (this.ids.get(v) ?? -2);
  }
}

const INDEX_FIELDS = ['session', 'project', 'agent', 'type', 'hook', 'tool', 'file', 'command'] as const;

/**
 * The columns the Overview counts, for every event of the last `keepMs` (31 days by default, so every preset
 * range), in memory: typed arrays (about 60 bytes per event) brought up to date by store seq before each
 * answer, so an Overview over a million events is one pass over arrays instead of a scan of the store.
 * The first read goes in slices of `slice` rows, giving way to the collector between them.
 */
export class EventIndex {
  private n = 0;
  private seq = 0;
  private ts = new Float64Array(0);
  private duration = new Float64Array(0);
  private outside = new Uint8Array(0);
  private readonly cols = new Map<(typeof INDEX_FIELDS)[number], Int32Array>(
    INDEX_FIELDS.map((f) => [f, new Int32Array(0)]),
  );
  private readonly strings = new Strings();
  private running: Promise<void> | undefined;
  /** Events before this time (ms) are not kept. */
  from = 0;

  constructor(
    private readonly store: Store,
    private readonly keepMs = 31 * 86_400_000,
    private readonly slice = 20_000,
  ) {}

  get size(): number {
    return this.n;
  }

  update(): Promise<void> {
    this.running ??= this.catchUp().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Drops the events that have aged out of what the index keeps. */
  private prune(): void {
    this.from = Date.now() - this.keepMs;
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      if ((this.ts[i] as number) < this.from) continue;
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

  /** Room for `more` rows: pruning first, growing only when that is not enough. */
  private reserve(more: number): void {
    if (this.n + more <= this.ts.length) return;
    this.prune();
    if (this.n + more <= this.ts.length) return;
    const cap = Math.max(this.n + more, this.ts.length * 2, 4096);
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

  private async catchUp(): Promise<void> {
    const top = this.store.maxSeq();
    if (top < this.seq) {
      // The store was reset or restored: read it again.
      this.seq = 0;
      this.n = 0;
    }
    if (this.seq === 0) this.from = Date.now() - this.keepMs;
    const stmt = this.store
      .select(`SELECT ${OVERVIEW_COLUMNS} FROM events WHERE seq > ? AND seq <= ? AND ts >= ?`)
      .raw(true);
    while (this.seq < top) {
      const to = Math.min(top, this.seq + this.slice);
      const rows = stmt.all(this.seq, to, this.from) as OverviewSqlRow[];
      this.reserve(rows.length);
      const [session, project, agent, type, hook, tool, file, command] = INDEX_FIELDS.map(
        (f) => this.cols.get(f) as Int32Array,
      ) as Int32Array[];
      const str = this.strings;
      for (const r of rows) {
        const i = this.n++;
        this.ts[i] = r[0];
        (session as Int32Array)[i] = str.id(r[1]);
        (project as Int32Array)[i] = str.id(r[2]);
        (agent as Int32Array)[i] = str.id(r[3]);
        (type as Int32Array)[i] = str.id(r[4]);
        (hook as Int32Array)[i] = str.id(r[5]);
        (tool as Int32Array)[i] = str.id(r[6]);
        this.outside[i] = r[7] === 1 ? 1 : 0;
        this.duration[i] = r[8] ?? Number.NaN;
        (file as Int32Array)[i] = str.id(r[9]);
        (command as Int32Array)[i] = str.id(r[10]);
      }
      this.seq = to;
      if (this.seq < top) await new Promise((r) => setImmediate(r));
    }
  }

  /** The Overview's figures for a window that starts inside what the index keeps: one pass over the arrays. */
  overview(w: Window, stepMs: number): OverviewReport {
    const str = this.strings;
    const acc = new OverviewAccumulator<number>(w, stepMs, {
      none: -1,
      pre: str.find('PreToolUse'),
      post: str.find('PostToolUse'),
    });
    const col = (f: (typeof INDEX_FIELDS)[number]) => this.cols.get(f) as Int32Array;
    const [session, project, agent, type, hook, tool, file, command] = INDEX_FIELDS.map(col) as [
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
    ];
    // A filter on a value never seen matches nothing (-2 equals no id).
    const want = (v: string | undefined) => (v === undefined ? undefined : str.find(v));
    const [wProject, wSession, wAgent] = [want(w.project), want(w.session), want(w.agent)];
    const { ts, duration, outside } = this;
    const lo = acc.low;
    for (let i = 0; i < this.n; i++) {
      const t = ts[i] as number;
      if (t <= lo || t > w.end) continue;
      if (wProject !== undefined && project[i] !== wProject) continue;
      if (wSession !== undefined && session[i] !== wSession) continue;
      if (wAgent !== undefined && agent[i] !== wAgent) continue;
      acc.add(
        t,
        session[i] as number,
        project[i] as number,
        type[i] as number,
        hook[i] as number,
        tool[i] as number,
        outside[i] === 1,
        duration[i] as number,
        file[i] as number,
        command[i] as number,
      );
    }
    return acc.report('index', (k) => str.of(k));
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

export function dashboardApiRoutes(router: Router, ctx: DashboardApiContext): Router {
  const pricing = ctx.pricing ?? new Pricing({});
  const ruleHits = new RuleHitIndex(ctx.store);
  const events = new EventIndex(ctx.store);
  const analytics = AnalyticsReader.open(ctx.paths.home, ctx.analyticsThreshold);
  const limitOf = (url: URL, dflt: number, max: number) => Math.min(msParam(url, 'limit') ?? dflt, max);
  // Reading the existing events starts now, in slices, so that the first views find the indexes ready.
  events
    .update()
    .then(() => ruleHits.update())
    .catch(() => {});
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
      await events.update();
      const report =
        w.start - stepMs >= events.from
          ? events.overview(w, stepMs)
          : overviewFromStore(ctx.store, w, stepMs);
      return sendJson(req, res, report);
    })
    .on('GET', '/api/dashboard/session-tree', ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      if (w.session === undefined) throw new HttpError(400, 'session is required');
      const tree = sessionTree(ctx.store, pricing, w.session);
      if (!tree) throw new HttpError(404, `no session ${w.session}`);
      return sendJson(req, res, tree);
    })
    .on('GET', '/api/dashboard/fleet', ({ req, res, url }) => {
      const w = windowOf(url, ctx.store);
      const limit = limitOf(url, 500, 5000);
      const agents = listAgents(ctx.store, pricing, { since: w.start + 1 }).filter(
        (a) =>
          (a.first_ts ?? 0) <= w.end &&
          (w.project === undefined || a.project_name === w.project) &&
          (w.session === undefined || a.session_id === w.session) &&
          (w.agent === undefined || a.agent_type === w.agent),
      );
      const conflicts = findConflicts(ctx.store, { since: w.start + 1 }).filter(
        (c) =>
          c.second.ts <= w.end &&
          (w.session === undefined || c.first.session_id === w.session || c.second.session_id === w.session),
      );
      return sendJson(req, res, {
        agents: agents.slice(0, limit),
        agentsInRange: agents.length,
        conflicts: conflicts.slice(-limit),
        conflictsInRange: conflicts.length,
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
