import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { cli, tempPaths } from '../helpers.ts';

const paths = tempPaths('query-cli');

before(() => {
  const r = cli(paths, ['demo']);
  assert.equal(r.status, 0, r.stderr);
});

function json(args: string[]) {
  const r = cli(paths, args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('query with LogQL: a seed selector returns the matching events as the API would', () => {
  const all = json(['query', '{service="claude-telemetry"}', '--since', '1d', '--limit', '1000', '--json']);
  const reads = json(['query', '{service="claude-telemetry", event="file_read"}', '--since', '1d', '--json']);
  assert.equal(reads.status, 'success');
  assert.equal(reads.data.resultType, 'streams');
  const lines = reads.data.result.flatMap((s: { values: [string, string][] }) =>
    s.values.map((v) => JSON.parse(v[1])),
  );
  assert.ok(lines.length > 0);
  for (const e of lines) assert.equal(e.event_type, 'file_read');
  const total = all.data.result.reduce((n: number, s: { values: unknown[] }) => n + s.values.length, 0);
  assert.ok(total > lines.length, 'the selector narrows the result');
});

test('query with LogQL: a metric query as an instant vector, and the readable table', () => {
  const q = 'sum by (tool) (count_over_time({service="claude-telemetry", hook_event="PreToolUse"}[1d]))';
  const r = json(['query', q, '--instant', '--json']);
  assert.equal(r.data.resultType, 'vector');
  const bash = r.data.result.find((s: { metric: { tool?: string } }) => s.metric.tool === 'Bash');
  assert.ok(bash && Number(bash.value[1]) > 0);
  const text = cli(paths, ['query', q, '--instant']);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /\{tool="Bash"\}\s+\d+/);
});

test('query with LogQL: the working security query finds outside-scope events; the seed literal finds none', () => {
  const working = json([
    'query',
    '{service="claude-telemetry"} | json | outside_project_scope="true"',
    '--since',
    '1d',
    '--json',
  ]);
  const events = working.data.result.flatMap((s: { values: [string, string][] }) =>
    s.values.map((v) => JSON.parse(v[1])),
  );
  assert.ok(events.length > 0);
  for (const e of events) assert.equal(e.action_details.outside_project_scope, true);
  const literal = json(['query', '{service="claude-telemetry"} |= "outside_project_scope.*true"', '--json']);
  assert.equal(literal.data.result.length, 0);
});

test('query: a broken query says where, filters and LogQL do not mix, --federated needs instances', () => {
  const broken = cli(paths, ['query', '{service=}']);
  assert.notEqual(broken.status, 0);
  assert.match(broken.stderr, /parse error at line 1, col \d+/);
  const mixed = cli(paths, ['query', '{service="claude-telemetry"}', '--tool', 'Bash']);
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /--tool is a filter option/);
  const fed = cli(paths, ['query', '{service="claude-telemetry"}', '--federated']);
  assert.equal(fed.status, 2);
  assert.match(fed.stderr, /federation\.instances/);
});

test('examples --run runs every example on the local store; the seed ones find demo events', () => {
  const list = json(['examples', '--run', '--json']) as {
    title: string;
    query: string;
    result: string;
    curl: string;
  }[];
  assert.ok(list.length >= 10);
  for (const e of list) {
    assert.doesNotMatch(e.result, /^error/, `${e.title}: ${e.result}`);
    assert.match(e.curl, /^curl -G "http:\/\/127\.0\.0\.1:3100\/loki\/api\/v1\/query(_range)?"/);
  }
  const reads = list.find((e) => e.query === '{service="claude-telemetry", event="file_read"}');
  assert.match(reads?.result ?? '', /^[1-9]\d* lines?$/);
});
