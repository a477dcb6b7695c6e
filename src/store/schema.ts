/**
 * Store schema and migrations.
 *
 * events        one row per event; `seq` is store order (monotonic, never reused), `line` the full
 *               event as JSON (or a pushed foreign line verbatim), the other columns are copies of the
 *               fields queries filter on: every LogQL label is a column (v2 added host, scope, agent_type,
 *               user_id, the line's size in bytes, a pushed line's ns timestamp and its foreign labels).
 * sessions      per-session summary, maintained by insertBatch so listing sessions never scans events.
 * session_agents  distinct subagent ids per session (feeds sessions.agents).
 * rollup_minute per-minute event counts and bytes over the low-cardinality labels (see rollup.ts), kept
 *               exact by insertBatch so aggregate queries need not scan events.
 * foreign_label_names  names of the labels pushed lines carry that are no column of ours.
 * usage         token usage per API response from transcripts (v4); transcript_offsets: bytes read per file.
 * otel_requests / otel_metrics  Claude Code's own OTLP export (v5): api_request events and the cost/token
 *               metric points (src/usage/otel.ts).
 * v6 widened events_session_ts to cover the per-agent summary (src/agents/fleet.ts).
 * meta          key/value: schema_version, counters (events, sessions) and audit_seq, the highest
 *               audit log seq whose event is in the store (crash recovery resumes after it).
 *
 * Migrations run in order inside a transaction; a store written by a newer version is refused.
 */

import type BetterSqlite3 from 'better-sqlite3';
import { FOREIGN_LABELS_TABLE, ROLLUP_REBUILD, ROLLUP_TABLE } from './rollup.ts';

export const SCHEMA_VERSION = 6;

export const META_SCHEMA_VERSION = 'schema_version';
export const META_EVENTS = 'events';
export const META_SESSIONS = 'sessions';
export const META_AUDIT_SEQ = 'audit_seq';

interface Migration {
  version: number;
  sql: string;
}

const V1 = `
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  audit_seq INTEGER,
  ts INTEGER NOT NULL,
  level TEXT,
  event_type TEXT,
  hook_event TEXT,
  session_id TEXT,
  project_path TEXT,
  project_name TEXT,
  tool_name TEXT,
  tool_use_id TEXT,
  agent_id TEXT,
  file_path TEXT,
  command TEXT,
  outside_scope INTEGER,
  duration_ms REAL,
  success INTEGER,
  line TEXT NOT NULL
);
-- Every index ends with the rowid (seq) implicitly, so "ORDER BY ts, seq" is served by (x, ts).
CREATE INDEX events_session_ts ON events (session_id, ts);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_project_ts ON events (project_name, ts);
CREATE INDEX events_tool_ts ON events (tool_name, ts);
CREATE INDEX events_type_ts ON events (event_type, ts);
CREATE INDEX events_hook_ts ON events (hook_event, ts);
CREATE INDEX events_outside_ts ON events (ts) WHERE outside_scope = 1;

CREATE TABLE sessions (
  session_id TEXT PRIMARY KEY,
  project_path TEXT,
  project_name TEXT,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  events INTEGER NOT NULL,
  tool_calls INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  outside_scope INTEGER NOT NULL,
  agents INTEGER NOT NULL,
  ended INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_last ON sessions (last_ts);
CREATE INDEX sessions_project_last ON sessions (project_name, last_ts);
CREATE INDEX sessions_path_last ON sessions (project_path, last_ts);

CREATE TABLE session_agents (
  session_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  first_ts INTEGER NOT NULL,
  PRIMARY KEY (session_id, agent_id)
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('${META_EVENTS}', 0), ('${META_SESSIONS}', 0), ('${META_AUDIT_SEQ}', 0);
`;

/**
 * v2: the label columns the LogQL engine selects on, copied from the event JSON for stores written by v1
 * (which only ever held our own events), and the per-minute rollup built from the rows already there.
 */
const V2 = `
ALTER TABLE events ADD COLUMN host TEXT;
ALTER TABLE events ADD COLUMN scope TEXT;
ALTER TABLE events ADD COLUMN agent_type TEXT;
ALTER TABLE events ADD COLUMN user_id TEXT;
ALTER TABLE events ADD COLUMN line_bytes INTEGER;
ALTER TABLE events ADD COLUMN ts_ns TEXT;
ALTER TABLE events ADD COLUMN extra_labels TEXT;
ALTER TABLE events ADD COLUMN extra_metadata TEXT;
UPDATE events SET
  host = json_extract(line, '$.metadata.host'),
  scope = json_extract(line, '$.metadata.scope'),
  agent_type = json_extract(line, '$.agent_type'),
  user_id = json_extract(line, '$.metadata.user_id'),
  line_bytes = octet_length(line);
-- Pushed foreign lines only (few or none), for the label browser's values of their labels.
CREATE INDEX events_foreign_ts ON events (ts) WHERE extra_labels IS NOT NULL OR extra_metadata IS NOT NULL;
${ROLLUP_TABLE}
${ROLLUP_REBUILD}
${FOREIGN_LABELS_TABLE}
`;

/**
 * v3: a pushed foreign line is stored verbatim in `line` (LogQL returns it as pushed); its event JSON goes to
 * `event_json` so the readers that return events (query, timeline, tail) still get one. NULL for our events,
 * whose line is their JSON.
 */
const V3 = `ALTER TABLE events ADD COLUMN event_json TEXT;`;

/**
 * v4: token usage read from Claude Code transcripts (src/usage), one row per API response (message id +
 * request id), and how far each transcript has been read. Not derived from the audit log, so a rebuild of the
 * store keeps both tables (hence IF NOT EXISTS: they survive dropAll).
 */
const V4 = `
CREATE TABLE IF NOT EXISTS usage (
  message_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_type TEXT,
  project_path TEXT,
  project_name TEXT,
  model TEXT NOT NULL,
  ts INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_creation_tokens INTEGER NOT NULL,
  cache_creation_1h_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  PRIMARY KEY (message_id, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_session ON usage (session_id, agent_id);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
CREATE TABLE IF NOT EXISTS transcript_offsets (
  path TEXT PRIMARY KEY,
  offset INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  updated_ts INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * v5: what Claude Code's own OTLP export says (src/usage/otel.ts, src/server/otlp-receiver.ts): one row per
 * api_request event (keyed by its request id, which is also the transcripts' requestId, so reports count a
 * request seen by both sources once) and the cost/token metric points. Not derived from the audit log, so
 * they survive a rebuild like the usage table.
 */
const V5 = `
CREATE TABLE IF NOT EXISTS otel_requests (
  request_key TEXT PRIMARY KEY,
  request_id TEXT,
  session_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  prompt_id TEXT,
  model TEXT NOT NULL,
  query_source TEXT,
  agent_name TEXT,
  ts INTEGER NOT NULL,
  duration_ms REAL,
  cost_usd REAL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_creation_tokens INTEGER NOT NULL,
  cache_creation_1h_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  service_version TEXT,
  received_ts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS otel_requests_request ON otel_requests (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS otel_requests_session ON otel_requests (session_id, agent_id);
CREATE INDEX IF NOT EXISTS otel_requests_ts ON otel_requests (ts);
CREATE INDEX IF NOT EXISTS usage_request ON usage (request_id);
CREATE TABLE IF NOT EXISTS otel_metrics (
  metric TEXT NOT NULL,
  series TEXT NOT NULL,
  start_ns TEXT NOT NULL,
  time_ns TEXT NOT NULL,
  session_id TEXT NOT NULL,
  model TEXT,
  query_source TEXT,
  type TEXT,
  cumulative INTEGER NOT NULL,
  value REAL NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (metric, series, start_ns, time_ns)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS otel_metrics_session ON otel_metrics (session_id);
`;

/**
 * v6: the per-agent summary (`agents`, the Fleet view) reads session, agent, time, hook event, level and
 * success of every event. events_session_ts now carries them after (session_id, ts, seq), so that summary is
 * a scan of the index instead of a row lookup per event (1M events: about 0.4 s instead of 1.5-2 s), while
 * everything that used (session_id, ts) keeps its order (seq is unique, so nothing after it reorders). One
 * wider index rather than a second one: under 1 µs more per stored event, where another index of the same
 * columns cost 3-6 µs. Rebuilding it on an existing store takes a few seconds per million events, once.
 */
const V6 = `
DROP INDEX IF EXISTS events_session_ts;
CREATE INDEX events_session_ts ON events (session_id, ts, seq, agent_id, hook_event, level, success);
`;

const MIGRATIONS: Migration[] = [
  { version: 1, sql: V1 },
  { version: 2, sql: V2 },
  { version: 3, sql: V3 },
  { version: 4, sql: V4 },
  { version: 5, sql: V5 },
  { version: 6, sql: V6 },
];

export class StoreSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreSchemaError';
  }
}

/** The schema version recorded in the database (0 for a new file). */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return 0;
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(META_SCHEMA_VERSION) as
    | { value: number }
    | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * Bring the schema up to SCHEMA_VERSION (or `target`, for tests that need an older store). Returns the
 * version found before migrating.
 */
export function migrate(db: BetterSqlite3.Database, target = SCHEMA_VERSION): number {
  const from = schemaVersion(db);
  if (from > SCHEMA_VERSION) {
    throw new StoreSchemaError(`store schema version ${from} is newer than this program's ${SCHEMA_VERSION}`);
  }
  if (from >= target) return from;
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID');
    for (const m of MIGRATIONS) {
      if (m.version <= from || m.version > target) continue;
      db.exec(m.sql);
      db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(META_SCHEMA_VERSION, m.version);
    }
  }).immediate();
  return from;
}

/** Drop everything the schema created (used to rebuild the store from the audit log). */
export function dropAll(db: BetterSqlite3.Database): void {
  db.transaction(() => {
    db.exec(
      'DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS sessions; DROP TABLE IF EXISTS session_agents;' +
        ' DROP TABLE IF EXISTS rollup_minute; DROP TABLE IF EXISTS foreign_label_names;',
    );
    db.exec('DROP TABLE IF EXISTS meta;');
  }).immediate();
}
