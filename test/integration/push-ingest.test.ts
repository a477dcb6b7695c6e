/**
 * Push bodies -> events -> the real pipeline (audit append + fsync, store), and a rebuild of the store from
 * the audit log gives identical rows, pushed foreign lines included.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AuditLog } from '../../src/audit/index.ts';
import { copyAuditToStore } from '../../src/collector/audit-to-store.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { decodePushBody } from '../../src/server/push.ts';
import { eventsOfPush } from '../../src/server/push-events.ts';
import { encodeSnappyPush, type WireStream } from '../../src/sinks/loki-wire.ts';
import { Store } from '../../src/store/index.ts';
import { tempPaths } from '../helpers.ts';

const homes: DataPaths[] = [];
after(() => {
  for (const p of homes) rmSync(p.home, { recursive: true, force: true });
});

const ROW_COLUMNS =
  'id, audit_seq, ts, level, event_type, hook_event, session_id, project_path, project_name, tool_name, ' +
  'tool_use_id, agent_id, file_path, command, outside_scope, duration_ms, success, line, event_json';

function rows(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT ${ROW_COLUMNS} FROM events ORDER BY seq`).all();
  } finally {
    db.close();
  }
}

function open(tag: string) {
  const paths = tempPaths(tag);
  homes.push(paths);
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  const store = Store.open(paths.storeFile);
  const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  return { paths, audit, store, pipeline };
}

const NOW_NS = BigInt(Date.now()) * 1_000_000n;

describe('push -> pipeline', () => {
  test('JSON and protobuf+snappy pushes store lines verbatim; a retry stores nothing new; rebuild is identical', async () => {
    const { paths, audit, store, pipeline } = open('push');
    const jsonBody = Buffer.from(
      JSON.stringify({
        streams: [
          {
            stream: { job: 'nginx', host: 'web-1' },
            values: [
              [String(NOW_NS), '127.0.0.1 - - "GET / HTTP/1.1" 200'],
              [String(NOW_NS + 1n), '{"not":"our event"}', { trace_id: 'abc' }],
            ],
          },
        ],
      }),
    );
    const streams: WireStream[] = [
      {
        labels: { service: 'claude-telemetry', project: 'shop', level: 'warning' },
        entries: [
          { timestampNs: NOW_NS + 2n, line: 'disk 91% full', structuredMetadata: { session_id: 's-1' } },
        ],
      },
    ];
    const protoBody = encodeSnappyPush(streams);

    const first = pipeline.ingestEvents([
      ...eventsOfPush(decodePushBody('application/json', jsonBody, 1 << 20)),
      ...eventsOfPush(decodePushBody('application/x-protobuf', protoBody, 1 << 20)),
    ]);
    assert.equal(first.stored, 3);

    const retry = pipeline.ingestEvents(eventsOfPush(decodePushBody('application/json', jsonBody, 1 << 20)));
    assert.equal(retry.stored, 0);
    assert.equal(retry.duplicates, 2);

    const stored = rows(paths.storeFile) as { line: string; event_type: string; project_name: string }[];
    assert.deepEqual(
      stored.map((r) => r.line),
      ['127.0.0.1 - - "GET / HTTP/1.1" 200', '{"not":"our event"}', 'disk 91% full'],
    );
    assert.deepEqual(
      stored.map((r) => r.event_type),
      ['log', 'log', 'log'],
    );
    assert.equal(stored[2]?.project_name, 'shop');

    // The readers that return events (query, timeline, tail) get each pushed line's event, line kept inside.
    const events = store.query({ limit: 10 });
    assert.deepEqual(
      events.map((e) => e.log_line),
      ['127.0.0.1 - - "GET / HTTP/1.1" 200', '{"not":"our event"}', 'disk 91% full'],
    );
    assert.deepEqual(
      store.eventsAfter(0).map((r) => r.event.log_line),
      events.map((e) => e.log_line),
    );
    assert.equal(store.timeline('s-1')[0]?.log_line, 'disk 91% full');
    // Lines pushed without a session make no session summary with an empty id.
    assert.deepEqual(
      store.sessions().map((x) => x.session_id),
      ['s-1'],
    );

    audit.close();
    store.close();
    const rebuiltFile = join(paths.home, 'rebuilt.db');
    const rebuilt = Store.open(rebuiltFile);
    const reopened = AuditLog.open(paths.audit, { keysDir: paths.keys });
    await copyAuditToStore(rebuilt, reopened.readFrom(1));
    reopened.close();
    rebuilt.close();
    assert.deepEqual(rows(rebuiltFile), rows(paths.storeFile));
  });

  test('a forwarded event of ours keeps its id and is stored as that event', () => {
    const { paths, audit, store, pipeline } = open('fwd');
    const event = {
      id: 'forwarded-0001',
      timestamp: new Date().toISOString(),
      level: 'INFO',
      event_type: 'command_execution',
      hook_event: 'PreToolUse',
      session_id: 'sess-fwd',
      project_path: '/home/dev/app',
      project_name: 'app',
      tool_name: 'Bash',
      action_details: { command: 'npm test' },
      metadata: { telemetry_version: '0.1.0', user_id: 'dev', host: 'laptop', scope: 'project' },
      raw_input: {},
    };
    const body = encodeSnappyPush([
      {
        labels: { service: 'claude-telemetry', event_type: 'command_execution' },
        entries: [{ timestampNs: NOW_NS, line: JSON.stringify(event) }],
      },
    ]);
    const res = pipeline.ingestEvents(eventsOfPush(decodePushBody('application/x-protobuf', body, 1 << 20)));
    assert.equal(res.stored, 1);
    const got = store.query({ session: 'sess-fwd' });
    assert.equal(got.length, 1);
    assert.deepEqual(got[0], event);
    assert.equal(store.existingIds(['forwarded-0001']).size, 1);
    audit.close();
    store.close();
    assert.equal(rows(paths.storeFile).length, 1);
  });
});
