/**
 * The queryable store: SQLite through better-sqlite3, WAL mode.
 *
 * synchronous=NORMAL is enough: the audit log is fsync'd before every store commit and is the
 * source of truth; a commit lost in a power cut is re-inserted from the log on the next start
 * (`maxAuditSeq()` + `AuditLog.readFrom()`), and inserts are idempotent by event id.
 *
 * Everything runs through prepared statements; insertBatch is one transaction per batch.
 */

import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson } from '../audit/canonical.ts';
import type { TelemetryEvent } from '../types.ts';
import type { OtelMetricRow, OtelRequestRow } from '../usage/otel.ts';
import {
  FOREIGN_LABELS_REBUILD,
  FOREIGN_LABELS_UPSERT,
  ROLLUP_REBUILD,
  ROLLUP_UPSERT,
  RollupBatch,
} from './rollup.ts';
import {
  dropAll,
  META_AUDIT_SEQ,
  META_EVENTS,
  META_SESSIONS,
  migrate,
  SCHEMA_VERSION,
  StoreSchemaError,
  schemaVersion,
} from './schema.ts';

export interface StoreRow {
  event: TelemetryEvent;
  /** seq of the event's audit log entry. */
  auditSeq: number;
  /**
   * The event as JSON, if the caller already has it (AuditEntry.eventJson): stored as is instead
   * of serializing the event again. Must be the JSON of `event`.
   */
  line?: string;
}

export interface InsertResult {
  inserted: number;
  /** Rows whose event id was already stored (nothing changed for them). */
  duplicates: number;
}

export interface QueryFilter {
  session?: string;
  /** Project name, or project path when it starts with '/'. */
  project?: string;
  tool?: string;
  /** Matches event_type or hook_event. */
  event?: string;
  /** true: only events touching paths outside the project; false: only the others. */
  outsideScope?: boolean;
  /** ms since epoch, inclusive. */
  since?: number;
  /** ms since epoch, exclusive. */
  until?: number;
  /** Default 1000. */
  limit?: number;
  /** By (ts, seq). Default 'asc'. */
  order?: 'asc' | 'desc';
}

export interface SessionSummary {
  session_id: string;
  project_path: string | null;
  project_name: string | null;
  /** ms since epoch. */
  first_ts: number;
  last_ts: number;
  events: number;
  /** PreToolUse events. */
  tool_calls: number;
  /** Events with level ERROR or success === false. */
  errors: number;
  /** Events that touched paths outside the project. */
  outside_scope: number;
  /** Distinct subagent ids seen. */
  agents: number;
  /** 1 once a SessionEnd event was stored. */
  ended: number;
}

export interface SessionFilter {
  /** Project name, or project path when it starts with '/'. */
  project?: string;
  /** Sessions active at or after this time (last_ts >= since), ms since epoch. */
  since?: number;
  /** Default 100. Newest (by last_ts) first. */
  limit?: number;
}

export interface ProjectSummary {
  project_path: string | null;
  project_name: string | null;
  events: number;
  sessions: number;
  last_ts: number;
}

export interface StoreStats {
  events: number;
  sessions: number;
  /** ms since epoch of the oldest / newest event by event time, null when empty. */
  firstEventTs: number | null;
  lastEventTs: number | null;
  maxAuditSeq: number;
}

export interface ForeignLabelName {
  name: string;
  category: 'stream' | 'metadata';
  first_ts: number;
  last_ts: number;
}

export interface StoreOptions {
  /** Open an existing store for reading only (no migration, no writes). */
  readonly?: boolean;
  /** SQLite page cache of this connection in KiB (default 16,384). */
  cacheKiB?: number;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const DEFAULT_SESSIONS_LIMIT = 100;
const MAX_CACHED_STATEMENTS = 500;
/** Page size of a newly created store (SQLite's default is 4 KB). */
export const PAGE_SIZE = 16384;
const WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024;

/** The event JSON of a row: its line, or for a pushed foreign line (kept verbatim in `line`) event_json. */
const EVENT = 'COALESCE(event_json, line)';

const ASCII = /^[\x20-\x7e]*$/;

const INSERT_EVENT = `INSERT INTO events
  (id, audit_seq, ts, level, event_type, hook_event, session_id, project_path, project_name, tool_name,
   tool_use_id, agent_id, file_path, command, outside_scope, duration_ms, success, line,
   host, scope, agent_type, user_id, line_bytes, ts_ns, extra_labels, extra_metadata, event_json)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO NOTHING`;

const SESSION_COLUMNS =
  'session_id, project_path, project_name, first_ts, last_ts, events, tool_calls, errors, outside_scope, agents, ended';

interface SessionDelta {
  projectPath: string | null;
  projectName: string | null;
  first: number;
  last: number;
  events: number;
  toolCalls: number;
  errors: number;
  outside: number;
  agents: number;
  ended: number;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function bool01(v: unknown): number | null {
  return v === true ? 1 : v === false ? 0 : null;
}

function labelsJson(v: Record<string, string> | undefined): string | null {
  return v !== undefined && v !== null ? JSON.stringify(v) : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * One events row as plain values in INSERT_EVENT's column order: id, audit_seq, ts, level, event_type,
 * hook_event, session_id, project_path, project_name, tool_name, tool_use_id, agent_id, file_path, command,
 * outside_scope, duration_ms, success, line, host, scope, agent_type, user_id, line_bytes, ts_ns,
 * extra_labels, extra_metadata, event_json. Built where the event object is at hand, so a writer on another
 * thread binds them as they come instead of parsing the event's JSON again.
 */
export type EventRowValues = [
  id: string,
  auditSeq: number | null,
  ts: number,
  level: string | null,
  eventType: string | null,
  hook: string | null,
  sessionId: string,
  projectPath: string | null,
  projectName: string | null,
  tool: string | null,
  toolUseId: string | null,
  agentId: string | null,
  filePath: string | null,
  command: string | null,
  outside: number | null,
  durationMs: number | null,
  success: number | null,
  line: string,
  host: string | null,
  scope: string | null,
  agentType: string | null,
  userId: string | null,
  lineBytes: number,
  tsNs: string | null,
  extraLabels: string | null,
  extraMetadata: string | null,
  eventJson: string | null,
];

/** The values of a store row (see EventRowValues). */
export function rowValuesOf({ event: e, auditSeq, line }: StoreRow): EventRowValues {
  const d = e.action_details ?? {};
  const md = e.metadata ?? {};
  const text = line ?? JSON.stringify(e);
  return [
    e.id,
    Number.isSafeInteger(auditSeq) ? auditSeq : null,
    eventTime(e),
    str(e.level),
    str(e.event_type),
    str(e.hook_event),
    typeof e.session_id === 'string' ? e.session_id : '',
    str(e.project_path),
    str(e.project_name),
    str(e.tool_name),
    str(e.tool_use_id),
    str(e.agent_id),
    str(d.file_path),
    str(d.command),
    bool01(d.outside_project_scope),
    num(e.duration_ms),
    bool01(e.success),
    text,
    str(md.host),
    str(md.scope),
    str(e.agent_type),
    str(md.user_id),
    Buffer.byteLength(text),
    str(e.timestamp_ns),
    labelsJson(e.extra_labels),
    labelsJson(e.extra_metadata),
    // Canonical, so a rebuild from the audit log writes the same text whatever the key order it parsed.
    typeof e.log_line === 'string' ? canonicalJson(e) : null,
  ];
}

/** Event time in ms; an unparsable timestamp is stored as 0 rather than dropping the event. */
export function eventTime(e: TelemetryEvent): number {
  const t = Date.parse(e.timestamp);
  return Number.isFinite(t) ? t : 0;
}

type Stmt = Database.Statement<unknown[], unknown>;

export class Store {
  readonly file: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;
  private s!: {
    insert: Stmt;
    sessionInsert: Stmt;
    sessionUpdate: Stmt;
    agentInsert: Stmt;
    metaGet: Stmt;
    metaAdd: Stmt;
    metaMax: Stmt;
    timeline: Stmt;
    after: Stmt;
    maxSeq: Stmt;
    minTs: Stmt;
    maxTs: Stmt;
    existing: Stmt;
    maxId: Stmt;
    projects: Stmt;
    sessionPrefix: Stmt;
    rollupUpsert: Stmt;
    foreignNamesUpsert: Stmt;
    foreignNames: Stmt;
  };
  private readonly queryCache = new Map<string, Stmt>();
  private readonly functions = new Set<string>();
  private txInsert!: (rows: readonly EventRowValues[]) => InsertResult;

  private constructor(file: string, db: Database.Database, readonly: boolean) {
    this.file = file;
    this.db = db;
    this.readonly = readonly;
    this.prepareAll();
  }

  /**
   * Open the store, creating the file (and its directory, mode 0700) and migrating the schema as
   * needed. With `readonly`, the file must exist and have the current schema.
   */
  static open(file: string, opts: StoreOptions = {}): Store {
    if (opts.readonly) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        db.pragma('busy_timeout = 5000');
        const v = schemaVersion(db);
        if (v !== SCHEMA_VERSION) {
          throw new StoreSchemaError(`store schema version ${v}, this program reads ${SCHEMA_VERSION}`);
        }
        return new Store(file, db, true);
      } catch (err) {
        db.close();
        throw err;
      }
    }
    const onDisk = file !== ':memory:' && file !== '';
    const created = onDisk && !existsSync(file);
    if (onDisk) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const db = new Database(file);
    try {
      // SQLite gives the -wal and -shm files the main file's mode.
      if (created) chmodSync(file, 0o600);
      // A new store gets 16 KB pages: an event row is about 1.5 KB, and SQLite writes WAL frames a page at a
      // time, so bigger pages mean a fifth less insert time. Only an empty file can change its page size.
      if (created || file === ':memory:') db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma(`cache_size = -${Math.max(512, Math.floor(opts.cacheKiB ?? 16384))}`);
      db.pragma('temp_store = MEMORY');
      // Checkpoint the WAL every ~16 MB instead of 4 MB: fewer checkpoint fsyncs under bulk inserts.
      const pageSize = Number(db.pragma('page_size', { simple: true })) || 4096;
      db.pragma(`wal_autocheckpoint = ${Math.round(WAL_CHECKPOINT_BYTES / pageSize)}`);
      migrate(db);
      return new Store(file, db, false);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** SQLite journal mode ('wal' for a writable file store). */
  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  /**
   * Insert events in one transaction. Idempotent by event id: rows whose id is already stored
   * are counted as duplicates and change nothing (not the session summary, not the counters).
   */
  insertBatch(rows: readonly StoreRow[]): InsertResult {
    return this.insertValues(rows.map(rowValuesOf));
  }

  /** insertBatch for rows already turned into values (rowValuesOf), e.g. on another thread. */
  insertValues(rows: readonly EventRowValues[]): InsertResult {
    if (rows.length === 0) return { inserted: 0, duplicates: 0 };
    return this.txInsert(rows);
  }

  /** The ids among `ids` that are already stored. */
  existingIds(ids: readonly string[]): Set<string> {
    const found = new Set<string>();
    if (ids.length === 0) return found;
    // Ids begin with the event time, so new events usually sort after everything stored: when the smallest
    // id asked for is above the largest stored one, none of them can be stored and no lookup is needed.
    // Compared in JS only for printable ASCII ids, where JS string order is SQLite's byte order.
    let min = ids[0] as string;
    let ascii = true;
    for (const id of ids) {
      if (id < min) min = id;
      if (ascii && !ASCII.test(id)) ascii = false;
    }
    if (ascii) {
      const max = (this.s.maxId.get() as { m: string | null }).m;
      if (max === null || min > max) return found;
    }
    for (const r of this.s.existing.all(JSON.stringify(ids)) as { id: string }[]) found.add(r.id);
    return found;
  }

  /** Highest audit log seq whose event is in the store (0 when empty). */
  maxAuditSeq(): number {
    return this.meta(META_AUDIT_SEQ);
  }

  /** Highest store seq (0 when empty): the starting point for eventsAfter(). */
  maxSeq(): number {
    const r = this.s.maxSeq.get() as { m: number | null };
    return r.m ?? 0;
  }

  /** Events stored after store seq `seq`, in store order (for a live tail). */
  eventsAfter(seq: number, limit = 500): { seq: number; event: TelemetryEvent }[] {
    const rows = this.s.after.all(seq, limit) as { seq: number; line: string }[];
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.line) as TelemetryEvent }));
  }

  query(filter: QueryFilter = {}): TelemetryEvent[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.session !== undefined) {
      where.push('session_id = ?');
      params.push(filter.session);
    }
    if (filter.project !== undefined) {
      where.push(filter.project.startsWith('/') ? 'project_path = ?' : 'project_name = ?');
      params.push(filter.project);
    }
    if (filter.tool !== undefined) {
      where.push('tool_name = ?');
      params.push(filter.tool);
    }
    // Literal 1 so that the partial index (WHERE outside_scope = 1) applies.
    if (filter.outsideScope === true) where.push('outside_scope = 1');
    else if (filter.outsideScope === false) where.push('outside_scope IS NOT 1');
    if (filter.since !== undefined) {
      where.push('ts >= ?');
      params.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('ts < ?');
      params.push(filter.until);
    }
    const dir = filter.order === 'desc' ? 'DESC' : 'ASC';
    const order = ` ORDER BY ts ${dir}, seq ${dir} LIMIT ?`;
    const limit = Math.max(0, Math.floor(filter.limit ?? DEFAULT_QUERY_LIMIT));
    let sql: string;
    if (filter.event === undefined) {
      sql = `SELECT ${EVENT} AS line FROM events${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}${order}`;
      params.push(limit);
    } else {
      // event_type = ? OR hook_event = ? as two branches, each served by its (column, ts) index;
      // an OR here would make SQLite walk the ts index instead.
      const rest = where.map((w) => ` AND ${w}`).join('');
      sql =
        `SELECT line, ts, seq FROM (SELECT ${EVENT} AS line, ts, seq FROM events WHERE event_type = ?${rest}${order})` +
        ` UNION ALL SELECT line, ts, seq FROM (SELECT ${EVENT} AS line, ts, seq FROM events` +
        ` WHERE hook_event = ? AND event_type IS NOT ?${rest}${order})${order}`;
      const base = params.splice(0);
      params.push(filter.event, ...base, limit, filter.event, filter.event, ...base, limit, limit);
    }
    return parseLines(this.cached(sql).all(...params) as { line: string }[]);
  }

  /** All events of one session in time order (ts, then store order). */
  timeline(sessionId: string): TelemetryEvent[] {
    return parseLines(this.s.timeline.all(sessionId) as { line: string }[]);
  }

  /**
   * The full session id for a prefix (as users copy the first 8 characters from a listing): the id itself
   * when it is stored, else the one stored id starting with it, else undefined (none, or ambiguous).
   */
  resolveSession(prefix: string): { id?: string; ambiguous: boolean } {
    if (prefix === '') return { ambiguous: false };
    const rows = this.s.sessionPrefix.all(prefix, `${prefix}\u{10FFFF}`) as { session_id: string }[];
    if (rows[0]?.session_id === prefix) return { id: prefix, ambiguous: false };
    if (rows.length === 1) return { id: rows[0]?.session_id as string, ambiguous: false };
    return { ambiguous: rows.length > 1 };
  }

  sessions(filter: SessionFilter = {}): SessionSummary[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.project !== undefined) {
      where.push(filter.project.startsWith('/') ? 'project_path = ?' : 'project_name = ?');
      params.push(filter.project);
    }
    if (filter.since !== undefined) {
      where.push('last_ts >= ?');
      params.push(filter.since);
    }
    const sql =
      `SELECT ${SESSION_COLUMNS} FROM sessions${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}` +
      ' ORDER BY last_ts DESC, session_id LIMIT ?';
    params.push(Math.max(0, Math.floor(filter.limit ?? DEFAULT_SESSIONS_LIMIT)));
    return this.cached(sql).all(...params) as SessionSummary[];
  }

  /** Projects seen, most recently active first (aggregated from the session summaries). */
  projects(): ProjectSummary[] {
    return this.s.projects.all() as ProjectSummary[];
  }

  /** Counters kept on insert: no scan, whatever the store size. */
  stats(): StoreStats {
    const first = this.s.minTs.get() as { t: number | null };
    const last = this.s.maxTs.get() as { t: number | null };
    return {
      events: this.meta(META_EVENTS),
      sessions: this.meta(META_SESSIONS),
      firstEventTs: first.t,
      lastEventTs: last.t,
      maxAuditSeq: this.meta(META_AUDIT_SEQ),
    };
  }

  /**
   * A read-only statement for the query engine (prepared once per SQL text and kept). Throws for SQL that
   * would write, so the engine works the same on a read-only store and on the collector's own.
   */
  select(sql: string): Stmt {
    const stmt = this.cached(sql);
    if (!stmt.readonly) throw new Error('store.select() only runs statements that read');
    return stmt;
  }

  /** Registers a deterministic SQL function (e.g. REGEXP) on this connection; later calls are no-ops. */
  defineFunction(name: string, fn: (...args: never[]) => unknown): void {
    if (this.functions.has(name)) return;
    this.db.function(name, { deterministic: true }, fn as (...args: unknown[]) => unknown);
    this.functions.add(name);
  }

  /** Rebuild the per-minute rollup from the events (it is kept exact on insert; this is for repair). */
  rebuildRollups(): void {
    if (this.readonly) throw new Error('store is open read-only');
    this.db
      .transaction(() => {
        this.db.exec('DELETE FROM rollup_minute; DELETE FROM foreign_label_names;');
        this.db.exec(ROLLUP_REBUILD);
        this.db.exec(FOREIGN_LABELS_REBUILD);
      })
      .immediate();
  }

  /**
   * Names of the labels ('stream') and metadata ('metadata') that pushed foreign lines carry beyond our
   * columns, with the span of event times (ms) they occur in.
   */
  foreignLabelNames(): ForeignLabelName[] {
    return this.s.foreignNames.all() as ForeignLabelName[];
  }

  /** Delete every event, summary and counter (to rebuild the store from the audit log). */
  reset(): void {
    if (this.readonly) throw new Error('store is open read-only');
    dropAll(this.db);
    migrate(this.db);
    this.queryCache.clear();
    this.prepareAll();
  }

  close(): void {
    if (!this.db.open) return;
    if (!this.readonly) this.db.pragma('optimize');
    this.db.close();
  }

  private cached(sql: string): Stmt {
    let stmt = this.queryCache.get(sql);
    if (!stmt) {
      // Query texts vary with the filters used; keep the cache bounded.
      if (this.queryCache.size >= MAX_CACHED_STATEMENTS) this.queryCache.clear();
      stmt = this.db.prepare(sql);
      this.queryCache.set(sql, stmt);
    }
    return stmt;
  }

  private meta(key: string): number {
    const r = this.s.metaGet.get(key) as { value: number } | undefined;
    return r ? Number(r.value) : 0;
  }

  private prepareAll(): void {
    const db = this.db;
    const writable = !this.readonly;
    // Statements that write are prepared on a read-only connection too (preparing does not
    // write); they are simply never run there.
    this.s = {
      insert: db.prepare(INSERT_EVENT),
      sessionInsert: db.prepare(
        `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING`,
      ),
      sessionUpdate: db.prepare(
        `UPDATE sessions SET first_ts = min(first_ts, ?), last_ts = max(last_ts, ?), events = events + ?,
           tool_calls = tool_calls + ?, errors = errors + ?, outside_scope = outside_scope + ?,
           agents = agents + ?, ended = max(ended, ?),
           project_path = coalesce(project_path, ?), project_name = coalesce(project_name, ?)
         WHERE session_id = ?`,
      ),
      agentInsert: db.prepare(
        'INSERT INTO session_agents (session_id, agent_id, first_ts) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      metaGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
      metaAdd: db.prepare('UPDATE meta SET value = value + ? WHERE key = ?'),
      metaMax: db.prepare('UPDATE meta SET value = max(value, ?) WHERE key = ?'),
      timeline: db.prepare(`SELECT ${EVENT} AS line FROM events WHERE session_id = ? ORDER BY ts, seq`),
      after: db.prepare(`SELECT seq, ${EVENT} AS line FROM events WHERE seq > ? ORDER BY seq LIMIT ?`),
      maxSeq: db.prepare('SELECT max(seq) AS m FROM events'),
      minTs: db.prepare('SELECT min(ts) AS t FROM events'),
      maxTs: db.prepare('SELECT max(ts) AS t FROM events'),
      existing: db.prepare('SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))'),
      maxId: db.prepare('SELECT max(id) AS m FROM events'),
      // Range scan on the primary key: ids that start with the prefix.
      sessionPrefix: db.prepare(
        'SELECT session_id FROM sessions WHERE session_id >= ? AND session_id < ? ORDER BY session_id LIMIT 2',
      ),
      projects: db.prepare(
        `SELECT project_path, max(project_name) AS project_name, sum(events) AS events, count(*) AS sessions,
           max(last_ts) AS last_ts
         FROM sessions GROUP BY project_path ORDER BY last_ts DESC`,
      ),
      rollupUpsert: db.prepare(ROLLUP_UPSERT),
      foreignNamesUpsert: db.prepare(FOREIGN_LABELS_UPSERT),
      foreignNames: db.prepare(
        'SELECT name, category, first_ts, last_ts FROM foreign_label_names ORDER BY name, category',
      ),
    };
    if (writable)
      this.txInsert = this.db.transaction((rows: readonly EventRowValues[]) => this.insertRows(rows));
    else
      this.txInsert = () => {
        throw new Error('store is open read-only');
      };
  }

  private insertRows(rows: readonly EventRowValues[]): InsertResult {
    const s = this.s;
    const deltas = new Map<string, SessionDelta>();
    let inserted = 0;
    let maxAudit = 0;
    const rollup = new RollupBatch();
    for (const v of rows) {
      // biome-ignore format: one name per column, in EventRowValues' order
      const [, auditSeq, ts, level, eventType, hook, sessionId, projectPath, project, tool, toolUseId, agentId,
        , , outside, , success, , host, scope, agentType, user, bytes, , extraLabels, extraMetadata, eventJson] = v;
      if (auditSeq !== null && auditSeq > maxAudit) maxAudit = auditSeq;
      if (s.insert.run(v).changes === 0) continue;
      inserted++;
      if (extraLabels !== null) rollup.addForeignNames('stream', ts, JSON.parse(extraLabels));
      if (extraMetadata !== null) rollup.addForeignNames('metadata', ts, JSON.parse(extraMetadata));
      // Same order as ROLLUP_COLUMNS, then the ROLLUP_PRESENCE flags.
      rollup.add(extraLabels !== null || extraMetadata !== null, ts, bytes, [
        host,
        project,
        eventType,
        level,
        tool,
        hook,
        scope,
        outside,
        agentType,
        user,
        sessionId === '' ? 0 : 1,
        toolUseId === null || toolUseId === '' ? 0 : 1,
        agentId === null || agentId === '' ? 0 : 1,
      ]);
      // A pushed line (event_json set) without a session belongs to no session: no summary row with an empty id.
      if (sessionId === '' && eventJson !== null) continue;
      let sd = deltas.get(sessionId);
      if (!sd) {
        sd = {
          projectPath,
          projectName: project,
          first: ts,
          last: ts,
          events: 0,
          toolCalls: 0,
          errors: 0,
          outside: 0,
          agents: 0,
          ended: 0,
        };
        deltas.set(sessionId, sd);
      }
      if (ts < sd.first) sd.first = ts;
      if (ts > sd.last) sd.last = ts;
      sd.events++;
      if (hook === 'PreToolUse') sd.toolCalls++;
      if (level === 'ERROR' || success === 0) sd.errors++;
      if (outside === 1) sd.outside++;
      if (hook === 'SessionEnd') sd.ended = 1;
      if (agentId !== null && s.agentInsert.run(sessionId, agentId, ts).changes === 1) sd.agents++;
    }
    let newSessions = 0;
    for (const [id, d] of deltas) {
      const ins = s.sessionInsert.run(
        id,
        d.projectPath,
        d.projectName,
        d.first,
        d.last,
        d.events,
        d.toolCalls,
        d.errors,
        d.outside,
        d.agents,
        d.ended,
      );
      if (ins.changes === 1) {
        newSessions++;
        continue;
      }
      s.sessionUpdate.run(
        d.first,
        d.last,
        d.events,
        d.toolCalls,
        d.errors,
        d.outside,
        d.agents,
        d.ended,
        d.projectPath,
        d.projectName,
        id,
      );
    }
    rollup.flush(s.rollupUpsert, s.foreignNamesUpsert);
    if (inserted > 0) s.metaAdd.run(inserted, META_EVENTS);
    if (newSessions > 0) s.metaAdd.run(newSessions, META_SESSIONS);
    if (maxAudit > 0) s.metaMax.run(maxAudit, META_AUDIT_SEQ);
    return { inserted, duplicates: rows.length - inserted };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Operations: export, backup, retention, health (src/ops)

  /**
   * Events matching `filter` (its limit and order are ignored), oldest first, one row at a time: the
   * statement is stepped lazily, so any number of rows is read in constant memory. The connection is busy
   * until the iterator is done or returned.
   */
  iterateExport(filter: Omit<QueryFilter, 'limit' | 'order'> = {}): IterableIterator<ExportRow> {
    const { where, params } = exportWhere(filter);
    return this.db
      .prepare(`SELECT ${EXPORT_COLUMNS} FROM events${where} ORDER BY ts, seq`)
      .iterate(...params) as IterableIterator<ExportRow>;
  }

  /** How many events `iterateExport(filter)` yields. */
  countExport(filter: Omit<QueryFilter, 'limit' | 'order'> = {}): number {
    const { where, params } = exportWhere(filter);
    return (this.db.prepare(`SELECT count(*) AS n FROM events${where}`).get(...params) as { n: number }).n;
  }

  /** A consistent copy of the database at `dest` (SQLite online backup; writers may carry on meanwhile). */
  async backupTo(dest: string): Promise<void> {
    await this.db.backup(dest);
  }

  /**
   * Deletes up to `limit` of the oldest events with a time before `before` (ms), in one transaction. Session
   * summaries, subagent lists and rollups stay; the event counter follows. Returns how many were deleted.
   */
  deleteEventsBefore(before: number, limit: number): number {
    if (this.readonly) throw new Error('store is open read-only');
    return this.db.transaction(() => {
      const n = this.db
        .prepare(
          'DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts < ? ORDER BY ts, seq LIMIT ?)',
        )
        .run(before, limit).changes;
      if (n > 0) this.s.metaAdd.run(-n, META_EVENTS);
      return n;
    })();
  }

  /** Time (ms) of the event `offset` places from the oldest, or null when there are not that many. */
  eventTimeAt(offset: number): number | null {
    const r = this.db.prepare('SELECT ts FROM events ORDER BY ts, seq LIMIT 1 OFFSET ?').get(offset) as
      | { ts: number }
      | undefined;
    return r ? r.ts : null;
  }

  /** Bytes the database file uses: total pages and pages on the free list, times the page size. */
  spaceUsage(): { fileBytes: number; freeBytes: number } {
    const pageSize = Number(this.db.pragma('page_size', { simple: true }));
    const pages = Number(this.db.pragma('page_count', { simple: true }));
    const free = Number(this.db.pragma('freelist_count', { simple: true }));
    return { fileBytes: pages * pageSize, freeBytes: free * pageSize };
  }

  /**
   * Gives free pages back to the file system. Incremental where the database allows it; a store created
   * without auto_vacuum is switched to incremental by one full VACUUM (only when there is something to free),
   * so later compactions are incremental; `allowFull: false` skips that one-time rewrite (it holds the
   * database for a while). The WAL is truncated afterwards.
   */
  compact(allowFull = true): { mode: 'incremental' | 'full' | 'none'; freedBytes: number } {
    if (this.readonly) throw new Error('store is open read-only');
    const before = this.spaceUsage().fileBytes;
    let mode: 'incremental' | 'full' | 'none' = 'none';
    if (Number(this.db.pragma('auto_vacuum', { simple: true })) === 2) {
      this.db.pragma('incremental_vacuum');
      mode = 'incremental';
    } else if (allowFull && this.spaceUsage().freeBytes > 0) {
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.exec('VACUUM');
      mode = 'full';
    }
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return { mode, freedBytes: Math.max(0, before - this.spaceUsage().fileBytes) };
  }

  /** SQLite's quick_check: an empty list when the database is sound, else its findings. */
  quickCheck(): string[] {
    const rows = this.db.pragma('quick_check') as { quick_check: string }[];
    const found = rows.map((r) => r.quick_check);
    return found.length === 1 && found[0] === 'ok' ? [] : found;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Token usage from transcripts (src/usage)

  /**
   * Stores usage rows, one per message id + request id: a key seen before keeps its row, each count raised
   * to the larger of the two (a message's lines repeat its usage). With `file`, the transcript's read
   * position is saved in the same transaction, so rows and offset never disagree. Returns the new rows.
   */
  recordUsage(rows: readonly UsageRow[], file?: TranscriptOffset): number {
    if (this.readonly) throw new Error('store is open read-only');
    const ins = this.cached(
      `INSERT INTO usage (message_id, request_id, session_id, agent_id, agent_type, project_path, project_name,
         model, ts, input_tokens, output_tokens, cache_creation_tokens, cache_creation_1h_tokens, cache_read_tokens)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const upd = this.cached(
      `UPDATE usage SET input_tokens = max(input_tokens, ?), output_tokens = max(output_tokens, ?),
         cache_creation_tokens = max(cache_creation_tokens, ?), cache_creation_1h_tokens = max(cache_creation_1h_tokens, ?),
         cache_read_tokens = max(cache_read_tokens, ?), agent_type = coalesce(agent_type, ?)
       WHERE message_id = ? AND request_id = ?`,
    );
    const off = this.cached(
      `INSERT INTO transcript_offsets (path, offset, ino, size, mtime_ms, updated_ts) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET offset = excluded.offset, ino = excluded.ino, size = excluded.size,
         mtime_ms = excluded.mtime_ms, updated_ts = excluded.updated_ts`,
    );
    return this.db.transaction(() => {
      let added = 0;
      for (const r of rows) {
        const n = ins.run(
          r.message_id,
          r.request_id,
          r.session_id,
          r.agent_id,
          r.agent_type,
          r.project_path,
          r.project_name,
          r.model,
          r.ts,
          r.input_tokens,
          r.output_tokens,
          r.cache_creation_tokens,
          r.cache_creation_1h_tokens,
          r.cache_read_tokens,
        ).changes;
        if (n === 1) added++;
        else
          upd.run(
            r.input_tokens,
            r.output_tokens,
            r.cache_creation_tokens,
            r.cache_creation_1h_tokens,
            r.cache_read_tokens,
            r.agent_type,
            r.message_id,
            r.request_id,
          );
      }
      if (file) off.run(file.path, file.offset, file.ino, file.size, file.mtime_ms, Date.now());
      return added;
    })();
  }

  /** How far a transcript has been read, or undefined when it never was. */
  transcriptOffset(path: string): TranscriptOffset | undefined {
    return this.cached('SELECT path, offset, ino, size, mtime_ms FROM transcript_offsets WHERE path = ?').get(
      path,
    ) as TranscriptOffset | undefined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Claude Code's own OTLP export (src/usage/otel.ts)

  /** Stores api_request events; one row per request key (an export sent twice adds nothing). Returns the new rows. */
  recordOtelRequests(rows: readonly OtelRequestRow[]): number {
    const now = Date.now();
    return this.insertAll(
      `INSERT INTO otel_requests (request_key, request_id, session_id, agent_id, prompt_id, model, query_source,
         agent_name, ts, duration_ms, cost_usd, input_tokens, output_tokens, cache_creation_tokens,
         cache_creation_1h_tokens, cache_read_tokens, service_version, received_ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      rows,
      (r) => [
        r.request_key,
        r.request_id,
        r.session_id,
        r.agent_id,
        r.prompt_id,
        r.model,
        r.query_source,
        r.agent_name,
        r.ts,
        r.duration_ms,
        r.cost_usd,
        r.input_tokens,
        r.output_tokens,
        r.cache_creation_tokens,
        r.cache_creation_1h_tokens,
        r.cache_read_tokens,
        r.service_version,
        now,
      ],
    );
  }

  /** Stores cost/token metric points; one row per series and time window. Returns the new rows. */
  recordOtelMetrics(rows: readonly OtelMetricRow[]): number {
    return this.insertAll(
      `INSERT INTO otel_metrics (metric, series, start_ns, time_ns, session_id, model, query_source, type,
         cumulative, value, ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      rows,
      (r) => [
        r.metric,
        r.series,
        r.start_ns,
        r.time_ns,
        r.session_id,
        r.model,
        r.query_source,
        r.type,
        r.cumulative,
        r.value,
        r.ts,
      ],
    );
  }

  /** Runs an INSERT ... ON CONFLICT DO NOTHING for each row in one transaction; returns the rows added. */
  private insertAll<T>(sql: string, rows: readonly T[], args: (r: T) => unknown[]): number {
    if (this.readonly) throw new Error('store is open read-only');
    const ins = this.cached(sql);
    return this.db.transaction(() => {
      let added = 0;
      for (const r of rows) added += ins.run(...args(r)).changes;
      return added;
    })();
  }
}

/** One API response's token usage (a row of the usage table). */
export interface UsageRow {
  message_id: string;
  request_id: string;
  session_id: string;
  /** '' for the main agent. */
  agent_id: string;
  agent_type: string | null;
  project_path: string | null;
  project_name: string | null;
  model: string;
  /** ms since epoch. */
  ts: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_creation_1h_tokens: number;
  cache_read_tokens: number;
}

/** The read position of one transcript file. */
export interface TranscriptOffset {
  path: string;
  /** Bytes consumed (complete lines). */
  offset: number;
  /** Inode: another file at the same path is read from the start. */
  ino: number;
  size: number;
  mtime_ms: number;
}

function parseLines(rows: { line: string }[]): TelemetryEvent[] {
  const out: TelemetryEvent[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++)
    out[i] = JSON.parse((rows[i] as { line: string }).line) as TelemetryEvent;
  return out;
}

/** One row of an export: the event's line and the columns copied from it. */
export interface ExportRow {
  seq: number;
  id: string;
  audit_seq: number | null;
  /** Event time, ms since epoch. */
  ts: number;
  level: string | null;
  event_type: string | null;
  hook_event: string | null;
  session_id: string | null;
  project_path: string | null;
  project_name: string | null;
  tool_name: string | null;
  tool_use_id: string | null;
  agent_id: string | null;
  file_path: string | null;
  command: string | null;
  outside_scope: number | null;
  duration_ms: number | null;
  success: number | null;
  line: string;
}

const EXPORT_COLUMNS =
  'seq, id, audit_seq, ts, level, event_type, hook_event, session_id, project_path, project_name, tool_name, ' +
  'tool_use_id, agent_id, file_path, command, outside_scope, duration_ms, success, line';

function exportWhere(filter: Omit<QueryFilter, 'limit' | 'order'>): { where: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, ...values: unknown[]) => {
    conds.push(sql);
    params.push(...values);
  };
  if (filter.session !== undefined) add('session_id = ?', filter.session);
  if (filter.project !== undefined)
    add(filter.project.startsWith('/') ? 'project_path = ?' : 'project_name = ?', filter.project);
  if (filter.tool !== undefined) add('tool_name = ?', filter.tool);
  if (filter.event !== undefined) add('(event_type = ? OR hook_event = ?)', filter.event, filter.event);
  if (filter.outsideScope === true) add('outside_scope = 1');
  else if (filter.outsideScope === false) add('outside_scope IS NOT 1');
  if (filter.since !== undefined) add('ts >= ?', filter.since);
  if (filter.until !== undefined) add('ts < ?', filter.until);
  return { where: conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '', params };
}
