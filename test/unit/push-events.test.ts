import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpError } from '../../src/server/http-errors.ts';
import {
  eventsOfPush,
  isOwnEvent,
  MAX_METADATA_ENTRIES,
  type PushStream,
  pushedLineEvent,
} from '../../src/server/push-events.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const TS = 1_736_000_000_123_456_789n;

const ownEvent: TelemetryEvent = {
  id: 'abc123',
  timestamp: '2025-01-04T14:13:20.123Z',
  level: 'INFO',
  event_type: 'command_execution',
  hook_event: 'PreToolUse',
  session_id: 's-1',
  project_path: '/home/dev/p',
  project_name: 'p',
  tool_name: 'Bash',
  action_details: { command: 'ls' },
  metadata: { telemetry_version: '0.1.0', user_id: 'u', host: 'h1', scope: 'project' },
  raw_input: {},
};

function one(streams: PushStream[]): TelemetryEvent {
  const evs = eventsOfPush(streams);
  assert.equal(evs.length, 1);
  return evs[0] as TelemetryEvent;
}

describe('pushed lines -> events', () => {
  test('a foreign line keeps its text, exact timestamp and labels; ours map onto fields', () => {
    const ev = one([
      {
        labels: { job: 'nginx', host: 'web-1', project: 'shop', level: 'error' },
        entries: [
          {
            timestampNs: TS,
            line: 'GET /index.html 500',
            structuredMetadata: { session_id: 's-9', trace_id: 't-1', tool: 'Bash' },
          },
        ],
      },
    ]);
    assert.equal(ev.event_type, 'log');
    assert.equal(ev.log_line, 'GET /index.html 500');
    assert.equal(ev.timestamp, '2025-01-04T14:13:20.123Z');
    assert.equal(ev.timestamp_ns, '1736000000123456789');
    assert.equal(ev.metadata.host, 'web-1');
    assert.equal(ev.project_name, 'shop');
    assert.equal(ev.session_id, 's-9');
    assert.equal(ev.tool_name, 'Bash');
    // "error" is not one of our level values: the field gets ERROR, the label keeps what was pushed.
    assert.equal(ev.level, 'ERROR');
    assert.deepEqual(ev.extra_labels, { job: 'nginx', level: 'error' });
    assert.deepEqual(ev.extra_metadata, { trace_id: 't-1' });
    assert.match(ev.id, /^[0-9a-f]{32}$/);
  });

  test('our service name is implied; another service is kept as a label', () => {
    const ours = one([
      { labels: { service: 'claude-telemetry' }, entries: [{ timestampNs: TS, line: 'x' }] },
    ]);
    assert.equal(ours.extra_labels, undefined);
    const theirs = one([{ labels: { service: 'api' }, entries: [{ timestampNs: TS, line: 'x' }] }]);
    assert.deepEqual(theirs.extra_labels, { service: 'api' });
    assert.equal(theirs.metadata.scope, 'push');
  });

  test('ids: same labels + time + line give the same id, any difference another', () => {
    const base = { labels: { job: 'a', host: 'h' }, entries: [{ timestampNs: TS, line: 'hello' }] };
    const id = one([base]).id;
    assert.equal(
      one([{ labels: { host: 'h', job: 'a' }, entries: [{ timestampNs: TS, line: 'hello' }] }]).id,
      id,
    );
    assert.notEqual(one([{ ...base, labels: { job: 'b', host: 'h' } }]).id, id);
    assert.notEqual(one([{ ...base, entries: [{ timestampNs: TS + 1n, line: 'hello' }] }]).id, id);
    assert.notEqual(one([{ ...base, entries: [{ timestampNs: TS, line: 'hello!' }] }]).id, id);
  });

  test('a line that is one of our events is that event, id included; labels do not change it', () => {
    const ev = one([
      {
        labels: { service: 'claude-telemetry', host: 'other' },
        entries: [{ timestampNs: TS, line: JSON.stringify(ownEvent) }],
      },
    ]);
    assert.deepEqual(ev, ownEvent);
  });

  test('JSON that is not quite our event is a foreign line, verbatim', () => {
    const almost = JSON.stringify({ ...ownEvent, level: 'debug' });
    const ev = one([{ labels: { job: 'x' }, entries: [{ timestampNs: TS, line: almost }] }]);
    assert.equal(ev.log_line, almost);
    assert.notEqual(ev.id, ownEvent.id);
    assert.equal(isOwnEvent(JSON.parse(almost)), false);
    assert.equal(isOwnEvent(ownEvent), true);
    assert.equal(isOwnEvent({ ...ownEvent, metadata: null }), false);
  });

  test('a pushed level that is ours and outside_project_scope map onto fields', () => {
    const ev = pushedLineEvent(
      { level: 'WARN', outside_project_scope: 'true' },
      { timestampNs: TS, line: 'l' },
      'x',
    );
    assert.equal(ev.level, 'WARN');
    assert.equal(ev.action_details.outside_project_scope, true);
    assert.equal(ev.extra_labels, undefined);
  });

  test('bad input is a 400 that says where', () => {
    const check = (streams: PushStream[], pattern: RegExp) =>
      assert.throws(
        () => eventsOfPush(streams),
        (err: unknown) => err instanceof HttpError && err.status === 400 && pattern.test(err.message),
      );
    check(
      [{ labels: {}, entries: [{ timestampNs: TS, line: 'x' }] }],
      /streams\[0\]: at least one label pair/,
    );
    const many: Record<string, string> = {};
    for (let i = 0; i <= MAX_METADATA_ENTRIES; i++) many[`k${i}`] = 'v';
    check(
      [
        {
          labels: { a: 'b' },
          entries: [
            { timestampNs: TS, line: 'x' },
            { timestampNs: TS, line: 'y', structuredMetadata: many },
          ],
        },
      ],
      /streams\[0\]\.values\[1\]: structured metadata has 129 entries/,
    );
    check([{ labels: { a: 'b' }, entries: [{ timestampNs: 10n ** 25n, line: 'x' }] }], /out of range/);
  });
});
