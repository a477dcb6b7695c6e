import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { CSV_COLUMNS, csvField, exportEvents, progressBar } from '../../src/ops/export.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { cleanupHomes, opsHome, syntheticEvents } from '../ops-helpers.ts';

after(cleanupHomes);

/** RFC 4180 reader: quoted fields may hold commas, doubled quotes, CR and LF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
    i++;
  }
  assert.equal(quoted, false, 'no open quote at the end');
  assert.equal(field, '', 'the last row ends with CRLF');
  return rows;
}

async function collect(store: Store, format: 'csv' | 'jsonl', filter = {}): Promise<string> {
  const sink = new PassThrough();
  const parts: Buffer[] = [];
  sink.on('data', (b: Buffer) => parts.push(b));
  await exportEvents(store, sink, { format, filter });
  sink.end();
  return Buffer.concat(parts).toString('utf8');
}

const NASTY = [
  'echo "a, b"',
  'line1\nline2',
  'cr\r\nlf',
  'comma,only',
  '"leading quote',
  'unicode ✓ 🎉',
  '',
  '=SUM(A1)',
];

function storeWith(events: TelemetryEvent[]): Store {
  const p = opsHome('export-unit');
  const store = Store.open(join(p.store, 'events.db'));
  store.insertBatch(events.map((event, i) => ({ event, auditSeq: i + 1 })));
  return store;
}

describe('export', () => {
  test('csvField quotes exactly when needed', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('a\nb'), '"a\nb"');
    assert.equal(csvField(null), '');
    assert.equal(csvField(12.5), '12.5');
  });

  test('CSV parses back to the same values, commands with quotes, commas and newlines included', async () => {
    const base = syntheticEvents(NASTY.length, Date.UTC(2026, 0, 2), 'csv');
    const events = base.map((e, i) => ({
      ...e,
      tool_name: 'Bash',
      action_details: {
        ...e.action_details,
        command: NASTY[i] as string,
        outside_project_scope: i % 2 === 0,
      },
    }));
    const store = storeWith(events);
    try {
      const rows = parseCsv(await collect(store, 'csv'));
      assert.deepEqual(rows[0], [...CSV_COLUMNS]);
      assert.equal(rows.length, 1 + events.length);
      const col = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
      for (let i = 0; i < events.length; i++) {
        const r = rows[i + 1] as string[];
        const e = events[i] as TelemetryEvent;
        assert.equal(r.length, CSV_COLUMNS.length);
        assert.equal(r[col('id')], e.id);
        assert.equal(r[col('timestamp')], e.timestamp);
        assert.equal(r[col('command')], NASTY[i]);
        assert.equal(r[col('outside_scope')], i % 2 === 0 ? 'true' : 'false');
        assert.equal(r[col('audit_seq')], String(i + 1));
        assert.equal(r[col('hook_event')], e.hook_event);
      }
    } finally {
      store.close();
    }
  });

  test('JSONL gives back every event whole, in time order, and honours the filters', async () => {
    const events = syntheticEvents(200, Date.UTC(2026, 0, 3), 'jl');
    const store = storeWith([...events].reverse());
    try {
      const lines = (await collect(store, 'jsonl')).trimEnd().split('\n');
      assert.equal(lines.length, 200);
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as TelemetryEvent).id),
        events.map((e) => e.id),
      );
      assert.deepEqual(JSON.parse(lines[7] as string), JSON.parse(JSON.stringify(events[7])));

      const since = Date.parse((events[50] as TelemetryEvent).timestamp);
      const until = Date.parse((events[60] as TelemetryEvent).timestamp);
      const ranged = (await collect(store, 'jsonl', { since, until })).trimEnd().split('\n');
      assert.deepEqual(
        ranged.map((l) => (JSON.parse(l) as TelemetryEvent).id),
        events.slice(50, 60).map((e) => e.id),
      );
      const pre = events.filter((e) => e.hook_event === 'PreToolUse').length;
      assert.ok(pre > 0);
      const byEvent = (await collect(store, 'jsonl', { event: 'PreToolUse' })).trimEnd().split('\n');
      assert.equal(byEvent.length, pre);
      const session = (events[0] as TelemetryEvent).session_id;
      const bySession = (await collect(store, 'csv', { session })).trimEnd().split('\r\n');
      assert.equal(bySession.length - 1, events.filter((e) => e.session_id === session).length);
    } finally {
      store.close();
    }
  });

  test('a verbatim pushed line that is not JSON is exported wrapped, as valid JSON', async () => {
    const [e] = syntheticEvents(1, Date.UTC(2026, 0, 4), 'push');
    const store = Store.open(join(opsHome('export-push').store, 'events.db'));
    try {
      store.insertBatch([{ event: e as TelemetryEvent, auditSeq: 1, line: 'level=info msg="plain text"' }]);
      const [line] = (await collect(store, 'jsonl')).trimEnd().split('\n');
      const v = JSON.parse(line as string) as Record<string, unknown>;
      assert.equal(v.id, e?.id);
      assert.equal(v.log_line, 'level=info msg="plain text"');
    } finally {
      store.close();
    }
  });

  test('progress bar', () => {
    assert.equal(progressBar(5, 10, 10), '[#####.....]  50%  5/10');
    assert.equal(progressBar(0, 0, 4), '[####] 100%  0/0');
  });
});
