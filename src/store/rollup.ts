/**
 * Per-minute rollup: event counts and line bytes per minute and per combination of the low-cardinality
 * labels, so that `sum by (tool) (count_over_time(...[1m]))` over a day reads a few thousand rollup rows
 * instead of a million events.
 *
 * Exactness: a rollup row covers the event times (minute * 60000, (minute + 1) * 60000] ms, the same
 * left-open window LogQL ranges use, so a range of whole minutes ending on a minute is a sum of rollup rows.
 * insertBatch adds exactly the rows it inserted (duplicates change nothing); reset and the v2 migration
 * rebuild it from the events. Rows that carry labels of no column of ours (pushed foreign lines with extra
 * labels or metadata) are counted with `foreign_line = 1`: the rollup cannot answer for their labels, so
 * the query planner uses it only for time ranges without such rows.
 */

/** The events columns the rollup keeps, in key order (same names in both tables). */
export const ROLLUP_COLUMNS = [
  'host',
  'project_name',
  'event_type',
  'level',
  'tool_name',
  'hook_event',
  'scope',
  'outside_scope',
  'agent_type',
  'user_id',
] as const;

/**
 * Flags (0/1) of the high-cardinality labels the rollup cannot keep values of: whether the events have
 * them at all, so the label browser can list label names without scanning events.
 */
export const ROLLUP_PRESENCE = {
  has_session_id: 'session_id',
  has_tool_use_id: 'tool_use_id',
  has_agent_id: 'agent_id',
} as const;

export type RollupColumn = (typeof ROLLUP_COLUMNS)[number];

/** Every dimension column: name and its value computed from an events row (in key order). */
const DIMS: { name: string; sql: string; type: string }[] = [
  ...ROLLUP_COLUMNS.map((c) => ({
    name: c,
    sql: `nullif(${c}, '')`,
    type: c === 'outside_scope' ? 'INTEGER' : 'TEXT',
  })),
  ...Object.entries(ROLLUP_PRESENCE).map(([name, col]) => ({
    name,
    sql: `(coalesce(${col}, '') != '')`,
    type: 'INTEGER',
  })),
];
const DIM_NAMES = DIMS.map((d) => d.name).join(', ');
const DIM_DEFS = DIMS.map((d) => `${d.name} ${d.type}`).join(', ');

export const ROLLUP_TABLE = `
CREATE TABLE rollup_minute (
  foreign_line INTEGER NOT NULL,
  minute INTEGER NOT NULL,
  dims TEXT NOT NULL,
  ${DIM_DEFS},
  n INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (foreign_line, minute, dims)
) WITHOUT ROWID;`;

export const FOREIGN_LABELS_TABLE = `
CREATE TABLE foreign_label_names (
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  PRIMARY KEY (name, category)
) WITHOUT ROWID;`;

export const FOREIGN_LABELS_REBUILD = ['stream', 'metadata']
  .map(
    (cat) => `
INSERT INTO foreign_label_names (name, category, first_ts, last_ts)
SELECT j.key, '${cat}', min(e.ts), max(e.ts)
FROM events AS e, json_each(e.${cat === 'stream' ? 'extra_labels' : 'extra_metadata'}) AS j
GROUP BY j.key;`,
  )
  .join('\n');

export const FOREIGN_LABELS_UPSERT = `INSERT INTO foreign_label_names (name, category, first_ts, last_ts)
  VALUES (?, ?, ?, ?)
  ON CONFLICT (name, category) DO UPDATE SET
    first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)`;

/** Separator of the values in a dims key (a control character no label value of ours contains). */
const SEP = '\x1f';

/** floor((ts - 1) / 60000) in SQL, also for ts <= 0 (SQLite's integer division truncates). */
const MINUTE_SQL = '((ts - 1) - (((ts - 1) % 60000) + 60000) % 60000) / 60000';

/** The dims key in SQL: the same text RollupBatch builds in JS. */
const DIMS_SQL = DIMS.map((d) => `coalesce(${d.name}, '')`).join(` || char(31) || `);

export const ROLLUP_REBUILD = `
INSERT INTO rollup_minute (foreign_line, minute, dims, ${DIM_NAMES}, n, bytes)
SELECT foreign_line, minute, ${DIMS_SQL}, ${DIMS.map((d) => d.name).join(', ')}, count(*), sum(line_bytes)
FROM (
  SELECT (extra_labels IS NOT NULL OR extra_metadata IS NOT NULL) AS foreign_line, ${MINUTE_SQL} AS minute,
    ${DIMS.map((d) => `${d.sql} AS ${d.name}`).join(', ')}, coalesce(line_bytes, 0) AS line_bytes
  FROM events
)
GROUP BY foreign_line, minute, ${DIMS.map((d) => d.name).join(', ')};`;

export const ROLLUP_UPSERT = `INSERT INTO rollup_minute (foreign_line, minute, dims, ${DIM_NAMES}, n, bytes)
  VALUES (${new Array(DIMS.length + 5).fill('?').join(', ')})
  ON CONFLICT (foreign_line, minute, dims) DO UPDATE SET n = n + excluded.n, bytes = bytes + excluded.bytes`;

/** The rollup minute of an event time in ms: the minute whose (start, end] holds it. */
export function minuteOf(ts: number): number {
  return Math.floor((ts - 1) / 60000);
}

/** Values of the rollup dimensions of one event: ROLLUP_COLUMNS, then the ROLLUP_PRESENCE flags. */
export type DimValues = (string | number | null)[];

interface Cell {
  foreign: number;
  minute: number;
  values: DimValues;
  n: number;
  bytes: number;
}

interface Runnable {
  run(...params: unknown[]): unknown;
}

type Level = Map<string | number | null, Level | Cell>;

/**
 * Rollup deltas of one insert batch, aggregated in memory and written as a few upserts. Cells are found
 * through one map level per column: cheaper per event than building and hashing a joined key string.
 */
export class RollupBatch {
  private readonly root = new Map<number, Level>();
  private readonly cells: Cell[] = [];
  private readonly foreignNames = new Map<
    string,
    { name: string; category: string; first: number; last: number }
  >();

  /** Notes the names of a pushed row's foreign labels ('stream') or metadata ('metadata'). */
  addForeignNames(category: 'stream' | 'metadata', ts: number, labels: Record<string, string>): void {
    for (const name of Object.keys(labels)) {
      const key = `${category}${SEP}${name}`;
      const seen = this.foreignNames.get(key);
      if (!seen) this.foreignNames.set(key, { name, category, first: ts, last: ts });
      else {
        if (ts < seen.first) seen.first = ts;
        if (ts > seen.last) seen.last = ts;
      }
    }
  }

  add(foreign: boolean, ts: number, bytes: number, values: DimValues): void {
    const minute = minuteOf(ts);
    const f = foreign ? 1 : 0;
    const top = minute * 2 + f;
    let level = this.root.get(top);
    if (!level) {
      level = new Map();
      this.root.set(top, level);
    }
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const v = values[i] ?? null;
      let next = level.get(v) as Level | undefined;
      if (!next) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = values[last] ?? null;
    const cell = level.get(v) as Cell | undefined;
    if (cell) {
      cell.n++;
      cell.bytes += bytes;
      return;
    }
    const created: Cell = { foreign: f, minute, values, n: 1, bytes };
    level.set(v, created);
    this.cells.push(created);
  }

  /** Writes the deltas (statements prepared from ROLLUP_UPSERT and FOREIGN_LABELS_UPSERT), then forgets them. */
  flush(upsert: Runnable, upsertNames: Runnable): void {
    for (const f of this.foreignNames.values()) upsertNames.run(f.name, f.category, f.first, f.last);
    this.foreignNames.clear();
    for (const c of this.cells) {
      const dims = c.values.map((v) => (v === null ? '' : String(v))).join(SEP);
      const stored = c.values.map((v) => (v === '' ? null : v));
      upsert.run(c.foreign, c.minute, dims, ...stored, c.n, c.bytes);
    }
    this.cells.length = 0;
    this.root.clear();
  }
}
