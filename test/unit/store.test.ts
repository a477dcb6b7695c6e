import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AuditLog } from '../../src/audit/index.ts';
import { SCHEMA_VERSION, Store, type StoreRow, StoreSchemaError } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function freshHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'cat-store-'));
  roots.push(home);
  return home;
}

function freshStore(): { store: Store; file: string } {
  const file = join(freshHome(), 'store', 'events.db');
  return { store: Store.open(file), file };
}

const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);

interface Spec {
  id: string;
  t: number;
  session?: string;
  hook?: string;
  type?: string;
  tool?: string | null;
  project?: string;
  outside?: boolean;
  agent?: string;
  success?: boolean;
  level?: 'INFO' | 'WARN' | 'ERROR';
  file?: string;
  command?: string;
}

function ev(s: Spec): TelemetryEvent {
  const project = s.project ?? 'alpha';
  const details: TelemetryEvent['action_details'] = {};
  if (s.outside !== undefined) details.outside_project_scope = s.outside;
  if (s.file) details.file_path = s.file;
  if (s.command) details.command = s.command;
  const e: TelemetryEvent = {
    id: s.id,
    timestamp: new Date(T0 + s.t).toISOString(),
    level: s.level ?? 'INFO',
    event_type: s.type ?? 'command_execution',
    hook_event: s.hook ?? 'PreToolUse',
    session_id: s.session ?? 's1',
    project_path: `/home/dev/${project}`,
    project_name: project,
    tool_name: s.tool === undefined ? 'Bash' : s.tool,
    action_details: details,
    metadata: { telemetry_version: '0.1.0', user_id: 'dev', host: 'box', scope: 'project' },
    raw_input: { hook_event_name: s.hook ?? 'PreToolUse' },
  };
  if (s.agent) e.agent_id = s.agent;
  if (s.success !== undefined) e.success = s.success;
  return e;
}

let auditSeq = 0;
function rows(...events: TelemetryEvent[]): StoreRow[] {
  return events.map((event) => ({ event, auditSeq: ++auditSeq }));
}

function ids(events: TelemetryEvent[]): string[] {
  return events.map((e) => e.id);
}

describe('Store', () => {
  test('creates the schema in WAL mode, with its indexes and schema version', () => {
    const { store, file } = freshStore();
    assert.equal(store.journalMode(), 'wal');
    store.close();
    assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const db = new Database(file, { readonly: true });
    const names = (
      db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    for (const n of [
      'events',
      'meta',
      'sessions',
      'session_agents',
      'events_session_ts',
      'events_ts',
      'events_project_ts',
      'events_tool_ts',
      'events_type_ts',
      'events_hook_ts',
      'events_outside_ts',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: number };
    assert.equal(v.value, SCHEMA_VERSION);
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT line FROM events WHERE session_id = 'x' ORDER BY ts, seq")
      .all() as { detail: string }[];
    assert.ok(
      plan.some((p) => p.detail.includes('events_session_ts')),
      JSON.stringify(plan),
    );
    assert.ok(!plan.some((p) => p.detail.includes('TEMP B-TREE')), 'timeline needs no sort');
    db.close();
  });

  test('reopening keeps data; a store from a newer version is refused', () => {
    const { store, file } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 0 })));
    store.close();
    const again = Store.open(file);
    assert.equal(again.stats().events, 1);
    again.close();
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => Store.open(file), StoreSchemaError);
  });

  test('insert is idempotent by event id', () => {
    const { store } = freshStore();
    const batch = [ev({ id: 'a', t: 0 }), ev({ id: 'b', t: 1 }), ev({ id: 'c', t: 2 })];
    assert.deepEqual(store.insertBatch(rows(...batch)), { inserted: 3, duplicates: 0 });
    const before = { stats: store.stats(), sessions: store.sessions() };
    assert.deepEqual(store.insertBatch(rows(...batch)), { inserted: 0, duplicates: 3 });
    assert.deepEqual(store.insertBatch(rows(batch[1] as TelemetryEvent, ev({ id: 'd', t: 3 }))), {
      inserted: 1,
      duplicates: 1,
    });
    assert.deepEqual(store.insertBatch(rows(ev({ id: 'e', t: 4 }), ev({ id: 'e', t: 4 }))), {
      inserted: 1,
      duplicates: 1,
    });
    assert.deepEqual(ids(store.query()), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(store.stats().events, 5);
    assert.equal(before.stats.events, 3);
    assert.equal(store.sessions()[0]?.events, 5);
    assert.deepEqual(store.insertBatch([]), { inserted: 0, duplicates: 0 });
  });

  test('a failing batch is rolled back as a whole', () => {
    const { store } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 0 })));
    const bad = { ...ev({ id: 'b', t: 1 }), id: null as unknown as string };
    assert.throws(() => store.insertBatch(rows(ev({ id: 'c', t: 2 }), bad)));
    assert.deepEqual(ids(store.query()), ['a']);
    assert.equal(store.stats().events, 1);
  });

  test('stores the whole event and returns it unchanged', () => {
    const { store } = freshStore();
    const e = ev({ id: 'a', t: 5, file: '/home/dev/alpha/x.ts', outside: false, success: true });
    e.duration_ms = 42;
    store.insertBatch(rows(e));
    assert.deepEqual(store.query(), [e]);
    const withLine = ev({ id: 'b', t: 6 });
    store.insertBatch([{ event: withLine, auditSeq: ++auditSeq, line: JSON.stringify(withLine) }]);
    assert.deepEqual(store.query({ since: T0 + 6 }), [withLine]);
  });

  test('filters: session, project (name or path), tool, event, outside scope, time range, limit, order', () => {
    const { store } = freshStore();
    store.insertBatch(
      rows(
        ev({ id: '1', t: 10, session: 's1', tool: 'Bash', type: 'command_execution', hook: 'PreToolUse' }),
        ev({ id: '2', t: 20, session: 's1', tool: 'Bash', type: 'command_execution', hook: 'PostToolUse' }),
        ev({
          id: '3',
          t: 30,
          session: 's2',
          tool: 'Read',
          type: 'file_read',
          hook: 'PreToolUse',
          outside: true,
        }),
        ev({
          id: '4',
          t: 40,
          session: 's2',
          tool: 'Read',
          type: 'file_read',
          hook: 'PostToolUse',
          outside: false,
        }),
        ev({
          id: '5',
          t: 50,
          session: 's3',
          tool: null,
          type: 'session_start',
          hook: 'SessionStart',
          project: 'beta',
        }),
        ev({
          id: '6',
          t: 60,
          session: 's3',
          tool: 'Write',
          type: 'file_write',
          hook: 'PreToolUse',
          project: 'beta',
        }),
      ),
    );
    assert.deepEqual(ids(store.query({ session: 's2' })), ['3', '4']);
    assert.deepEqual(ids(store.query({ project: 'beta' })), ['5', '6']);
    assert.deepEqual(ids(store.query({ project: '/home/dev/beta' })), ['5', '6']);
    assert.deepEqual(ids(store.query({ tool: 'Read' })), ['3', '4']);
    assert.deepEqual(ids(store.query({ event: 'file_read' })), ['3', '4']);
    assert.deepEqual(ids(store.query({ event: 'PreToolUse' })), ['1', '3', '6']);
    assert.deepEqual(ids(store.query({ event: 'PreToolUse', order: 'desc', limit: 2 })), ['6', '3']);
    assert.deepEqual(ids(store.query({ event: 'PostToolUse', session: 's1' })), ['2']);
    assert.deepEqual(ids(store.query({ outsideScope: true })), ['3']);
    assert.deepEqual(ids(store.query({ outsideScope: false })), ['1', '2', '4', '5', '6']);
    assert.deepEqual(ids(store.query({ since: T0 + 20, until: T0 + 50 })), ['2', '3', '4']);
    assert.deepEqual(ids(store.query({ limit: 2 })), ['1', '2']);
    assert.deepEqual(ids(store.query({ order: 'desc', limit: 2 })), ['6', '5']);
    assert.deepEqual(ids(store.query({ project: 'alpha', tool: 'Bash', event: 'PreToolUse' })), ['1']);
    assert.deepEqual(store.query({ session: 'nope' }), []);
  });

  test('ordering is by event time, then store order', () => {
    const { store } = freshStore();
    store.insertBatch(rows(ev({ id: 'late', t: 300 }), ev({ id: 'tie-1', t: 100 })));
    store.insertBatch(rows(ev({ id: 'early', t: 50 }), ev({ id: 'tie-2', t: 100 })));
    store.insertBatch(rows(ev({ id: 'other', t: 75, session: 's9' })));
    assert.deepEqual(ids(store.timeline('s1')), ['early', 'tie-1', 'tie-2', 'late']);
    assert.deepEqual(ids(store.query({ order: 'desc' })), ['late', 'tie-2', 'tie-1', 'other', 'early']);
    assert.deepEqual(store.timeline('missing'), []);
  });

  test('session summaries are exact under duplicates, across batches and out of order', () => {
    const { store } = freshStore();
    const a = [
      ev({ id: 'a1', t: 100, hook: 'SessionStart', type: 'session_start', tool: null }),
      ev({ id: 'a2', t: 200, hook: 'PreToolUse' }),
      ev({ id: 'a3', t: 210, hook: 'PostToolUse', success: false }),
      ev({ id: 'a4', t: 220, hook: 'PreToolUse', agent: 'ag-1', outside: true }),
    ];
    store.insertBatch(rows(...a));
    store.insertBatch(rows(...a.slice(1))); // duplicates change nothing
    store.insertBatch(
      rows(
        ev({ id: 'a5', t: 50, hook: 'UserPromptSubmit', type: 'user_prompt', tool: null }), // earlier than first
        ev({ id: 'a6', t: 400, hook: 'PreToolUse', agent: 'ag-1' }), // same agent again
        ev({ id: 'a7', t: 410, hook: 'PreToolUse', agent: 'ag-2', level: 'ERROR' }),
        ev({ id: 'a8', t: 500, hook: 'SessionEnd', type: 'session_end', tool: null }),
        ev({ id: 'b1', t: 1000, session: 's2', project: 'beta', hook: 'PreToolUse' }),
      ),
    );
    store.insertBatch(rows(ev({ id: 'a6', t: 400, hook: 'PreToolUse', agent: 'ag-3' }))); // dup id: ignored
    const list = store.sessions();
    assert.deepEqual(
      list.map((s) => s.session_id),
      ['s2', 's1'],
    );
    const s1 = list.find((s) => s.session_id === 's1');
    assert.deepEqual(s1, {
      session_id: 's1',
      project_path: '/home/dev/alpha',
      project_name: 'alpha',
      first_ts: T0 + 50,
      last_ts: T0 + 500,
      events: 8,
      tool_calls: 4,
      errors: 2,
      outside_scope: 1,
      agents: 2,
      ended: 1,
    });
    assert.equal(store.timeline('s1').length, s1?.events);
    assert.deepEqual(
      store.sessions({ project: 'beta' }).map((s) => s.session_id),
      ['s2'],
    );
    assert.deepEqual(
      store.sessions({ project: '/home/dev/alpha' }).map((s) => s.session_id),
      ['s1'],
    );
    assert.deepEqual(
      store.sessions({ since: T0 + 600 }).map((s) => s.session_id),
      ['s2'],
    );
    assert.equal(store.sessions({ limit: 1 }).length, 1);
    assert.deepEqual(store.projects(), [
      { project_path: '/home/dev/beta', project_name: 'beta', events: 1, sessions: 1, last_ts: T0 + 1000 },
      { project_path: '/home/dev/alpha', project_name: 'alpha', events: 8, sessions: 1, last_ts: T0 + 500 },
    ]);
    assert.deepEqual(store.stats(), {
      events: 9,
      sessions: 2,
      firstEventTs: T0 + 50,
      lastEventTs: T0 + 1000,
      maxAuditSeq: auditSeq,
    });
  });

  test('stats of an empty store', () => {
    const { store } = freshStore();
    assert.deepEqual(store.stats(), {
      events: 0,
      sessions: 0,
      firstEventTs: null,
      lastEventTs: null,
      maxAuditSeq: 0,
    });
    assert.equal(store.maxSeq(), 0);
  });

  test('maxAuditSeq is a high-water mark', () => {
    const { store } = freshStore();
    store.insertBatch([
      { event: ev({ id: 'x', t: 0 }), auditSeq: 7 },
      { event: ev({ id: 'y', t: 0 }), auditSeq: 9 },
    ]);
    store.insertBatch([{ event: ev({ id: 'z', t: 0 }), auditSeq: 3 }]);
    assert.equal(store.maxAuditSeq(), 9);
  });

  test('eventsAfter and maxSeq give a live tail in store order', () => {
    const { store } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 30 }), ev({ id: 'b', t: 10 })));
    const mark = store.maxSeq();
    assert.deepEqual(store.eventsAfter(mark), []);
    store.insertBatch(rows(ev({ id: 'c', t: 5 }), ev({ id: 'd', t: 1 }), ev({ id: 'e', t: 2 })));
    const tail = store.eventsAfter(mark, 2);
    assert.deepEqual(
      tail.map((r) => r.event.id),
      ['c', 'd'],
    );
    assert.deepEqual(
      store.eventsAfter(tail[1]?.seq ?? 0).map((r) => r.event.id),
      ['e'],
    );
  });

  test('existingIds finds the stored ones', () => {
    const { store } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 0 }), ev({ id: 'b', t: 0 })));
    assert.deepEqual([...store.existingIds(['a', 'x', 'b', 'a'])].sort(), ['a', 'b']);
    assert.equal(store.existingIds([]).size, 0);
  });

  test('existingIds: ids above every stored one are new without a lookup; others are still looked up', () => {
    const { store } = freshStore();
    assert.equal(store.existingIds(['m']).size, 0);
    store.insertBatch(rows(ev({ id: 'b', t: 0 }), ev({ id: 'm', t: 1 }), ev({ id: 'é', t: 2 })));
    assert.equal(store.existingIds(['n', 'z']).size, 0);
    // The smallest asked for is below the largest stored: a stored id among them is found.
    assert.deepEqual([...store.existingIds(['z', 'm'])], ['m']);
    assert.deepEqual([...store.existingIds(['z', 'b'])], ['b']);
    assert.equal(store.existingIds(['c', 'd']).size, 0);
    // Beyond ASCII, JS and SQLite may order differently: always looked up.
    assert.deepEqual([...store.existingIds(['é'])], ['é']);
    assert.deepEqual([...store.existingIds(['z', 'é'])], ['é']);
  });

  test('reset empties everything and the store is usable again', () => {
    const { store } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 0 }), ev({ id: 'b', t: 1, session: 's2' })));
    store.reset();
    assert.deepEqual(store.stats(), {
      events: 0,
      sessions: 0,
      firstEventTs: null,
      lastEventTs: null,
      maxAuditSeq: 0,
    });
    assert.deepEqual(store.sessions(), []);
    assert.deepEqual(store.insertBatch(rows(ev({ id: 'a', t: 0 }))), { inserted: 1, duplicates: 0 });
    assert.equal(store.sessions()[0]?.events, 1);
  });

  test('read-only open reads while another connection writes; refuses writes', () => {
    const { store, file } = freshStore();
    store.insertBatch(rows(ev({ id: 'a', t: 0 })));
    const reader = Store.open(file, { readonly: true });
    assert.deepEqual(ids(reader.query()), ['a']);
    store.insertBatch(rows(ev({ id: 'b', t: 1 })));
    assert.deepEqual(ids(reader.query()), ['a', 'b']);
    assert.throws(() => reader.insertBatch(rows(ev({ id: 'c', t: 2 }))), /read-only/);
    reader.close();
    store.close();
    assert.throws(() => Store.open(join(freshHome(), 'none.db'), { readonly: true }));
  });

  test('crash recovery: audit entries past maxAuditSeq are exactly the missing ones', async () => {
    const home = freshHome();
    const audit = AuditLog.open(join(home, 'audit'));
    const store = Store.open(join(home, 'store', 'events.db'));
    const first = audit.append([ev({ id: 'r1', t: 0 }), ev({ id: 'r2', t: 1 })]);
    store.insertBatch(first.map((e) => ({ event: e.event, auditSeq: e.seq, line: e.eventJson as string })));
    // crash after the audit append, before the store commit:
    audit.append([ev({ id: 'r3', t: 2 }), ev({ id: 'r4', t: 3 })]);
    const recovered: StoreRow[] = [];
    for await (const e of audit.readFrom(store.maxAuditSeq() + 1)) {
      recovered.push({ event: e.event, auditSeq: e.seq, ...(e.eventJson ? { line: e.eventJson } : {}) });
    }
    assert.deepEqual(
      recovered.map((r) => r.event.id),
      ['r3', 'r4'],
    );
    assert.ok(recovered.every((r) => r.line !== undefined && JSON.parse(r.line).id === r.event.id));
    assert.deepEqual(store.insertBatch(recovered), { inserted: 2, duplicates: 0 });
    assert.equal(store.maxAuditSeq(), audit.size);
    assert.deepEqual(ids(store.query()), ['r1', 'r2', 'r3', 'r4']);
    audit.close();
    store.close();
  });
});

test('resolveSession: exact id, unique prefix, ambiguous and unknown prefixes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-store-prefix-'));
  const store = Store.open(join(dir, 'events.db'));
  try {
    const mk = (id: string, session: string, seq: number) => ({
      event: {
        id,
        timestamp: new Date(1_700_000_000_000 + seq).toISOString(),
        level: 'INFO' as const,
        event_type: 'session_start',
        hook_event: 'SessionStart',
        session_id: session,
        project_path: '/p',
        project_name: 'p',
        tool_name: null,
        action_details: {},
        metadata: { telemetry_version: '0', user_id: 'u', host: 'h', scope: 'project' },
        raw_input: {},
      },
      auditSeq: seq,
    });
    store.insertBatch([mk('e1', 'abc123-one', 1), mk('e2', 'abc999-two', 2), mk('e3', 'abc', 3)]);
    assert.deepEqual(store.resolveSession('abc123'), { id: 'abc123-one', ambiguous: false });
    assert.deepEqual(store.resolveSession('abc'), { id: 'abc', ambiguous: false });
    assert.deepEqual(store.resolveSession('abc9'), { id: 'abc999-two', ambiguous: false });
    assert.deepEqual(store.resolveSession('ab'), { ambiguous: true });
    assert.deepEqual(store.resolveSession('zzz'), { ambiguous: false });
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
