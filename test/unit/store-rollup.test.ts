import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, minuteOf, SCHEMA_VERSION, Store, StoreSchemaError } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function storeFile(): string {
  const home = mkdtempSync(join(tmpdir(), 'cat-rollup-'));
  roots.push(home);
  return join(home, 'store', 'events.db');
}

const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);

function event(i: number, t: number, extra: Partial<TelemetryEvent> = {}): TelemetryEvent {
  const tools = ['Bash', 'Read', null, 'Write'];
  return {
    id: `e${i}`,
    timestamp: new Date(t).toISOString(),
    level: i % 7 === 0 ? 'ERROR' : 'INFO',
    event_type: i % 3 === 0 ? 'file_read' : 'command_execution',
    hook_event: i % 2 === 0 ? 'PreToolUse' : 'PostToolUse',
    session_id: `s${i % 5}`,
    project_path: `/home/dev/p${i % 2}`,
    project_name: `p${i % 2}`,
    tool_name: tools[i % tools.length] as string | null,
    action_details: i % 4 === 2 ? {} : { outside_project_scope: i % 11 === 0 },
    metadata: { telemetry_version: '0', user_id: 'dev', host: `h${i % 3}`, scope: 'project' },
    raw_input: {},
    ...(i % 6 === 0 ? { agent_id: `a${i}`, agent_type: 'general-purpose' } : {}),
    ...extra,
  };
}

interface RollupRow {
  foreign_line: number;
  minute: number;
  dims: string;
  n: number;
  bytes: number;
}

function rollupRows(file: string): RollupRow[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare('SELECT foreign_line, minute, dims, n, bytes FROM rollup_minute ORDER BY 1, 2, 3')
      .all() as RollupRow[];
  } finally {
    db.close();
  }
}

describe('store v2: label columns and per-minute rollup', () => {
  test('label columns are filled from the event; a pushed line keeps its ns time and foreign labels', () => {
    const file = storeFile();
    const store = Store.open(file);
    const own = event(6, T0 + 5);
    const pushed = event(1, T0 + 7, {
      log_line: 'GET /healthz 200',
      timestamp_ns: `${T0 + 7}000123`,
      extra_labels: { job: 'nginx' },
      extra_metadata: { trace_id: 'abc' },
    });
    store.insertBatch([
      { event: own, auditSeq: 1 },
      { event: pushed, auditSeq: 2, line: 'GET /healthz 200' },
    ]);
    const rows = store
      .select(
        'SELECT id, host, scope, agent_type, user_id, line_bytes, ts_ns, extra_labels, extra_metadata FROM events ORDER BY seq',
      )
      .all() as Record<string, unknown>[];
    assert.deepEqual(rows[0], {
      id: 'e6',
      host: 'h0',
      scope: 'project',
      agent_type: 'general-purpose',
      user_id: 'dev',
      line_bytes: Buffer.byteLength(JSON.stringify(own)),
      ts_ns: null,
      extra_labels: null,
      extra_metadata: null,
    });
    assert.deepEqual(rows[1], {
      id: 'e1',
      host: 'h1',
      scope: 'project',
      agent_type: null,
      user_id: 'dev',
      line_bytes: 16,
      ts_ns: `${T0 + 7}000123`,
      extra_labels: '{"job":"nginx"}',
      extra_metadata: '{"trace_id":"abc"}',
    });
    assert.deepEqual(store.foreignLabelNames(), [
      { name: 'job', category: 'stream', first_ts: T0 + 7, last_ts: T0 + 7 },
      { name: 'trace_id', category: 'metadata', first_ts: T0 + 7, last_ts: T0 + 7 },
    ]);
    store.close();
    const r = rollupRows(file);
    assert.deepEqual(
      r.map((x) => [x.foreign_line, x.n]),
      [
        [0, 1],
        [1, 1],
      ],
    );
  });

  test('a minute holds the event times (start, end]: an event exactly on a minute belongs to the one before', () => {
    assert.equal(minuteOf(T0), T0 / 60000 - 1);
    assert.equal(minuteOf(T0 + 1), T0 / 60000);
    assert.equal(minuteOf(T0 + 60000), T0 / 60000);
    assert.equal(minuteOf(0), -1);
    const file = storeFile();
    const store = Store.open(file);
    store.insertBatch(
      [0, 1, 60000, 60001].map((dt, i) => ({ event: event(1, T0 + dt, { id: `m${i}` }), auditSeq: i })),
    );
    store.close();
    assert.deepEqual(
      rollupRows(file).map((x) => [x.minute - T0 / 60000, x.n]),
      [
        [-1, 1],
        [0, 2],
        [1, 1],
      ],
    );
  });

  test('the rollup kept on insert equals one rebuilt from the events (batches, duplicates, foreign lines)', () => {
    const file = storeFile();
    const store = Store.open(file);
    let seq = 0;
    for (let b = 0; b < 6; b++) {
      const batch = [];
      for (let k = 0; k < 150; k++) {
        const i = b * 120 + k; // overlapping ids: some rows of each batch are duplicates
        const t = T0 + ((i * 7919) % 600) * 997; // out of order, across ~10 minutes, some exact minutes
        const foreign = i % 13 === 0 ? { log_line: `line ${i}`, extra_labels: { job: 'x' } } : {};
        batch.push({ event: event(i, t, foreign), auditSeq: ++seq });
      }
      store.insertBatch(batch);
    }
    assert.equal(store.stats().events, 750);
    const names = store.foreignLabelNames();
    assert.deepEqual(
      names.map((n) => [n.name, n.category]),
      [['job', 'stream']],
    );
    store.close();
    const kept = rollupRows(file);
    const again = Store.open(file);
    again.rebuildRollups();
    assert.deepEqual(again.foreignLabelNames(), names);
    again.close();
    const rebuilt = rollupRows(file);
    assert.deepEqual(kept, rebuilt);
    assert.equal(
      kept.reduce((a, r) => a + r.n, 0),
      750,
    );
    assert.ok(kept.some((r) => r.foreign_line === 1));
    const db = new Database(file, { readonly: true });
    const totals = db.prepare('SELECT count(*) AS n, sum(line_bytes) AS b FROM events').get() as {
      n: number;
      b: number;
    };
    db.close();
    assert.equal(
      kept.reduce((a, r) => a + r.bytes, 0),
      totals.b,
    );
  });

  test('reset empties the rollup; a v1 store migrates to v2 with its columns and rollup filled', () => {
    const file = storeFile();
    const store = Store.open(file);
    store.insertBatch([{ event: event(1, T0 + 10), auditSeq: 1 }]);
    store.reset();
    assert.equal(rollupRows(file).length, 0);
    store.close();

    const v1file = storeFile().replace(/store\/events\.db$/, 'v1.db');
    const raw = new Database(v1file);
    migrate(raw, 1);
    const events = [event(1, T0 + 10), event(2, T0 + 70_000), event(6, T0 + 70_001)];
    const ins = raw.prepare(
      'INSERT INTO events (id, ts, level, event_type, hook_event, session_id, project_name, tool_name, outside_scope, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const e of events) {
      ins.run(
        e.id,
        Date.parse(e.timestamp),
        e.level,
        e.event_type,
        e.hook_event,
        e.session_id,
        e.project_name,
        e.tool_name,
        e.action_details.outside_project_scope === undefined
          ? null
          : e.action_details.outside_project_scope
            ? 1
            : 0,
        JSON.stringify(e),
      );
    }
    raw.close();
    assert.throws(() => Store.open(v1file, { readonly: true }), StoreSchemaError);
    const migrated = Store.open(v1file);
    const cols = migrated
      .select('SELECT id, host, scope, agent_type, user_id, line_bytes FROM events ORDER BY id')
      .all() as Record<string, unknown>[];
    assert.deepEqual(
      cols,
      events.map((e) => ({
        id: e.id,
        host: e.metadata.host,
        scope: 'project',
        agent_type: e.agent_type ?? null,
        user_id: 'dev',
        line_bytes: Buffer.byteLength(JSON.stringify(e)),
      })),
    );
    const version = migrated.select("SELECT value FROM meta WHERE key = 'schema_version'").get() as {
      value: number;
    };
    assert.equal(version.value, SCHEMA_VERSION);
    migrated.close();
    const fromMigration = rollupRows(v1file);
    assert.equal(
      fromMigration.reduce((a, r) => a + r.n, 0),
      3,
    );
    assert.deepEqual(
      fromMigration.map((r) => r.minute - T0 / 60000),
      [0, 1, 1],
    );
  });

  test('select() runs reads only; SQL functions can be added', () => {
    const store = Store.open(storeFile());
    assert.throws(() => store.select('DELETE FROM events'), /only runs statements that read/);
    store.defineFunction('twice', (x: never) => (x as number) * 2);
    store.defineFunction('twice', () => 0); // a second definition is ignored
    assert.deepEqual(store.select('SELECT twice(21) AS v').get(), { v: 42 });
    store.close();
  });
});
