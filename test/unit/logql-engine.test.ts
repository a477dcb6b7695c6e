import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_QUERY_LIMITS,
  type MatrixResult,
  QueryEngine,
  QueryError,
  QueryLimitError,
  type QueryLimits,
  type StreamResult,
  type VectorResult,
} from '../../src/query/index.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function freshStore(): Store {
  const home = mkdtempSync(join(tmpdir(), 'cat-logql-'));
  roots.push(home);
  return Store.open(join(home, 'events.db'));
}

/** 10:00:00 UTC, a whole minute. */
const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);
const ns = (ms: number) => BigInt(ms) * 1_000_000n;

interface Spec {
  id: string;
  t: number;
  tool?: string | null;
  hook?: string;
  type?: string;
  session?: string;
  project?: string;
  level?: 'INFO' | 'WARN' | 'ERROR';
  outside?: boolean;
  size?: number;
  extra?: Partial<TelemetryEvent>;
}

function ev(s: Spec): TelemetryEvent {
  const details: TelemetryEvent['action_details'] = {};
  if (s.outside !== undefined) details.outside_project_scope = s.outside;
  if (s.size !== undefined) details.size_bytes = s.size;
  return {
    id: s.id,
    timestamp: new Date(T0 + s.t).toISOString(),
    level: s.level ?? 'INFO',
    event_type: s.type ?? 'command_execution',
    hook_event: s.hook ?? 'PreToolUse',
    session_id: s.session ?? 'aaaa1111-0000-4000-8000-000000000001',
    project_path: `/home/dev/${s.project ?? 'alpha'}`,
    project_name: s.project ?? 'alpha',
    tool_name: s.tool === undefined ? 'Bash' : s.tool,
    action_details: details,
    metadata: { telemetry_version: '0', user_id: 'dev', host: 'box', scope: 'project' },
    raw_input: {},
    ...s.extra,
  };
}

function fill(store: Store, specs: Spec[]): void {
  store.insertBatch(specs.map((s, i) => ({ event: ev(s), auditSeq: i + 1 })));
}

function engine(store: Store, limits: Partial<QueryLimits> = {}): QueryEngine {
  return new QueryEngine(store, { ...DEFAULT_QUERY_LIMITS, ...limits });
}

function logs(
  e: QueryEngine,
  query: string,
  opts: { limit?: number; forward?: boolean; categorize?: boolean } = {},
) {
  const r = e.rangeQuery({
    query,
    start: ns(T0 - 3_600_000),
    end: ns(T0 + 3_600_000),
    limit: opts.limit ?? 100,
    direction: opts.forward ? 'forward' : 'backward',
    stepMs: 60_000,
    categorizeLabels: opts.categorize ?? false,
  });
  assert.equal(r.data.resultType, 'streams');
  return r.data.result as StreamResult[];
}

/** Ids of the returned lines in result order (all streams merged by time per direction). */
function ids(streams: StreamResult[], forward = false): string[] {
  const all = streams.flatMap((s) => s.values.map((v) => [v[0], JSON.parse(v[1]).id as string] as const));
  all.sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : BigInt(a[0]) > BigInt(b[0]) ? 1 : 0));
  if (!forward) all.reverse();
  return all.map((x) => x[1]);
}

function matrix(e: QueryEngine, query: string, fromMs: number, toMs: number, stepMs = 60_000) {
  const r = e.rangeQuery({
    query,
    start: ns(fromMs),
    end: ns(toMs),
    limit: 100,
    direction: 'backward',
    stepMs,
    categorizeLabels: false,
  });
  assert.equal(r.data.resultType, 'matrix');
  return r.data.result as MatrixResult[];
}

/** A matrix as `{labels}: t=v t=v` lines, times in minutes after T0. */
function show(m: MatrixResult[]): string[] {
  return m.map(
    (s) =>
      `${JSON.stringify(s.metric)}: ${s.values.map(([t, v]) => `${(t * 1000 - T0) / 60000}=${v}`).join(' ')}`,
  );
}

function instant(e: QueryEngine, query: string, atMs: number) {
  return e.instantQuery({ query, time: ns(atMs), limit: 100, direction: 'backward', categorizeLabels: false })
    .data;
}

describe('log queries', () => {
  const store = freshStore();
  before(() =>
    fill(store, [
      { id: 'a', t: 1000, tool: 'Bash', hook: 'PreToolUse' },
      { id: 'b', t: 2000, tool: 'Bash', hook: 'PostToolUse' },
      { id: 'c', t: 3000, tool: 'Read', type: 'file_read', outside: true },
      { id: 'd', t: 4000, tool: null, type: 'session_start', hook: 'SessionStart', level: 'WARN' },
      {
        id: 'e',
        t: 5000,
        tool: 'Read',
        type: 'file_read',
        outside: false,
        session: 'bbbb2222-0000-4000-8000-000000000002',
      },
      { id: 'f', t: 6000, tool: 'Write', type: 'file_write', project: 'beta', level: 'ERROR' },
    ]),
  );
  after(() => store.close());

  test('selectors on any label, newest first by default, limit counts lines across streams', () => {
    const e = engine(store);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"}')), ['f', 'e', 'd', 'c', 'b', 'a']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"}', { forward: true, limit: 2 }), true), [
      'a',
      'b',
    ]);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"}', { limit: 2 })), ['f', 'e']);
    assert.deepEqual(ids(logs(e, '{tool="Read"}')), ['e', 'c']);
    assert.deepEqual(ids(logs(e, '{tool=~"Read|Write"}')), ['f', 'e', 'c']);
    assert.deepEqual(ids(logs(e, '{tool!="Bash", project="alpha"}')), ['e', 'd', 'c']);
    assert.deepEqual(ids(logs(e, '{hook_event=~"Pre.*"}')), ['f', 'e', 'c', 'a']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry", level!~"INFO|WARN"}')), ['f']);
    assert.deepEqual(ids(logs(e, '{outside_project_scope="true"}')), ['c']);
    assert.deepEqual(ids(logs(e, '{outside_project_scope="false"}')), ['e']);
    assert.deepEqual(ids(logs(e, '{service="other"}')), []);
    assert.deepEqual(
      ids(logs(e, '{service="claude-telemetry", tool=""}')),
      ['d'],
      'an absent label matches the empty string',
    );
  });

  test('the seed aliases: event = event_type; session = session_id, a unique prefix allowed', () => {
    const e = engine(store);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry", event="file_read"}')), ['e', 'c']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry", session="bbbb2222"}')), ['e']);
    assert.deepEqual(ids(logs(e, '{session="bbbb2222-0000-4000-8000-000000000002"}')), ['e']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} | session="bbbb"')), ['e']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry", session="cccc"}')), []);
    assert.throws(() => logs(e, '{session=""} |= "x"'), QueryError);
  });

  test('an ambiguous session prefix is an error', () => {
    const e = engine(store);
    fill(store, [{ id: 'z', t: 7000, session: 'bbbb2222-ffff-4000-8000-000000000003' }]);
    assert.throws(() => logs(e, '{session="bbbb2222"}'), /ambiguous/);
    assert.deepEqual(ids(logs(e, '{session="bbbb2222-0"}')), ['e']);
  });

  test('line filters: literal substrings, RE2 regexes, or-alternatives, negations', () => {
    const e = engine(store);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} |= "file_read"')), ['e', 'c']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} |= "file_read" != "bbbb"')), ['c']);
    assert.deepEqual(
      ids(logs(e, '{service="claude-telemetry"} |~ "\\"outside_project_scope\\":\\\\s*true"')),
      ['c'],
    );
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} |= "file_write" or "session_start"')), [
      'f',
      'd',
    ]);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} |~ "(?i)FILE_WRITE"')), ['f']);
    assert.deepEqual(ids(logs(e, '{tool="Bash"} !~ "Post"')), ['z', 'a']);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} |= "outside_project_scope.*true"')), []);
  });

  test('json, label filters, drop, keep, line_format, label_format', () => {
    const e = engine(store);
    const j = logs(e, '{tool="Read"} | json | action_details_outside_project_scope="true"');
    assert.deepEqual(ids(j), ['c']);
    const labels = j[0]?.stream ?? {};
    assert.equal(
      labels.event_type_extracted,
      'file_read',
      'a parsed key that clashes with a label gets _extracted',
    );
    assert.equal(labels.id, 'c');
    assert.equal(labels.metadata_host, 'box');
    assert.equal(labels.tool, 'Read');
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} | json | outside_project_scope="true"')), [
      'c',
    ]);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"} | level="WARN" or tool="Write"')), ['f', 'd']);
    const kept = logs(e, '{tool="Write"} | keep tool, level');
    assert.deepEqual(kept[0]?.stream, { level: 'ERROR', tool: 'Write' });
    const dropped = logs(e, '{tool="Write"} | drop session_id, user, host="nope"');
    assert.equal(dropped[0]?.stream.session_id, undefined);
    assert.equal(dropped[0]?.stream.host, 'box');
    const formatted = logs(
      e,
      '{tool="Write"} | line_format "{{.tool}} in {{.project}} ({{.level | lower}})"',
    );
    assert.equal(formatted[0]?.values[0]?.[1], 'Write in beta (error)');
    const relabelled = logs(e, '{tool="Write"} | label_format what=tool, where="{{.project}}!"');
    assert.equal(relabelled[0]?.stream.what, 'Write');
    assert.equal(relabelled[0]?.stream.tool, undefined);
    assert.equal(relabelled[0]?.stream.where, 'beta!');
  });

  test('json errors, numeric label filters and their error label', () => {
    const s = freshStore();
    const pushed = (id: string, t: number, line: string) => ({
      id,
      t,
      extra: { log_line: line, timestamp_ns: `${T0 + t}000042`, extra_labels: { job: 'app' } },
    });
    s.insertBatch(
      [
        pushed('p1', 10, '{"ms": 250, "user": {"name": "ann"}}'),
        pushed('p2', 20, 'not json'),
        pushed('p3', 30, '{"ms": "slow"}'),
        pushed('p4', 40, '{"k": "\\u0074rue"}'),
      ].map((x, i) => ({ event: ev(x), auditSeq: i + 1, line: x.extra.log_line })),
    );
    const e = engine(s);
    const all = logs(e, '{job="app"} | json', { forward: true });
    const byLine = new Map(all.flatMap((st) => st.values.map((v) => [v[1], st.stream] as const)));
    assert.equal(byLine.get('not json')?.__error__, 'JSONParserErr');
    assert.equal(byLine.get('{"ms": 250, "user": {"name": "ann"}}')?.user_name, 'ann');
    const ts = all.flatMap((st) => st.values.map((v) => v[0]));
    assert.ok(ts.includes(`${T0 + 10}000042`), 'a pushed line keeps its ns timestamp');
    const lines = (q: string) => logs(e, q, { forward: true }).flatMap((st) => st.values.map((v) => v[1]));
    assert.deepEqual(lines('{job="app"} | json | ms > 100'), [
      '{"ms": 250, "user": {"name": "ann"}}',
      'not json',
      '{"ms": "slow"}',
    ]);
    assert.deepEqual(lines('{job="app"} | json | ms > 100 | __error__=""'), [
      '{"ms": 250, "user": {"name": "ann"}}',
    ]);
    assert.deepEqual(lines('{job="app"} | json | ms < 100 | __error__=""'), []);
    assert.deepEqual(
      lines('{job="app"} | json | k="true"'),
      ['{"k": "\\u0074rue"}'],
      'an escaped value in a pushed line',
    );
    assert.deepEqual(lines('{job="app"} | json | __error__="JSONParserErr"'), ['not json']);
    const e2 = logs(e, '{job="app"} | json | ms > 100 | __error__="LabelFilterErr"');
    assert.equal(e2[0]?.stream.__error__, 'LabelFilterErr');
    s.close();
  });

  test('categorize-labels: stream holds indexed labels, metadata and parsed labels go per line', () => {
    const e = engine(store);
    const r = logs(e, '{tool="Write"} | json | keep tool, level, id', { categorize: true });
    assert.deepEqual(r[0]?.stream, { level: 'ERROR' });
    const v = r[0]?.values[0];
    assert.equal(v?.length, 3);
    assert.deepEqual(v?.[2], { structuredMetadata: { tool: 'Write' }, parsed: { id: 'f' } });
    const plain = logs(e, '{tool="Write"}', { categorize: true });
    assert.deepEqual(plain[0]?.stream, {
      event_type: 'file_write',
      host: 'box',
      level: 'ERROR',
      project: 'beta',
      service: 'claude-telemetry',
    });
  });

  test('time range: start inclusive, end exclusive', () => {
    const e = engine(store);
    const r = e.rangeQuery({
      query: '{service="claude-telemetry"}',
      start: ns(T0 + 2000),
      end: ns(T0 + 5000),
      limit: 100,
      direction: 'forward',
      stepMs: 1000,
      categorizeLabels: false,
    });
    assert.deepEqual(ids(r.data.result as StreamResult[], true), ['b', 'c', 'd']);
  });

  test('log queries read through an index in time order: SQLite never sorts them', () => {
    const plans = [
      '{service="claude-telemetry"}',
      '{session="bbbb2222-0"}',
      '{tool=~"Read|Write", project="alpha"}',
      '{outside_project_scope="true"} |= "x"',
      '{event="file_read", hook_event="PreToolUse"}',
    ];
    const e = engine(store);
    for (const q of plans) {
      const compiled = e.compile(q);
      const plan = compiled.sources[0];
      assert.ok(plan);
      const sql = `EXPLAIN QUERY PLAN SELECT line FROM events INDEXED BY ${plan.index} WHERE ts >= 0 AND ts < 1 AND (${plan.where.sql}) ORDER BY ts DESC, seq DESC`;
      store.defineFunction('regexp', () => 0);
      const detail = (
        store
          .select(sql)
          .raw(false)
          .all(...plan.where.params) as { detail: string }[]
      ).map((d) => d.detail);
      assert.ok(!detail.some((d) => d.includes('TEMP B-TREE')), `${q}: ${detail.join('; ')}`);
    }
    assert.equal(e.compile('{session="bbbb2222-0"}').sources[0]?.index, 'events_session_ts');
    assert.equal(e.compile('{outside_project_scope="true"}').sources[0]?.index, 'events_outside_ts');
  });

  test('pushdown: filters before any label change run in SQL, the rest in order in JavaScript', () => {
    const e = engine(store);
    const p = e.compile(
      '{tool="Bash"} |= "a" | level="INFO" | json | x="1" |= "b" | line_format "{{.x}}" |= "c"',
    ).sources[0];
    assert.deepEqual(
      p?.stages.map((s) => s.kind),
      ['json', 'label_filter', 'line_format', 'line_filter'],
    );
    const q = e.compile('{tool="Bash"} | n > 1 | level="INFO"').sources[0];
    assert.deepEqual(
      q?.stages.map((s) => s.kind),
      ['label_filter', 'label_filter'],
      'a numeric filter may mark an error, so later string filters stay after it',
    );
  });
});

describe('metric queries', () => {
  const store = freshStore();
  // Minute 0 = (T0, T0+60s]: events at 30s (Bash), 60s exactly (Read); minute 1: 90s (Bash), 120s (Bash);
  // minute 3: 200s (Read, size 5), 230s (Read, size 7).
  before(() =>
    fill(store, [
      { id: 'm1', t: 30_000, tool: 'Bash', size: 1 },
      { id: 'm2', t: 60_000, tool: 'Read', size: 2 },
      { id: 'm3', t: 90_000, tool: 'Bash', size: 3 },
      { id: 'm4', t: 120_000, tool: 'Bash', size: 4 },
      { id: 'm5', t: 200_000, tool: 'Read', size: 5 },
      { id: 'm6', t: 230_000, tool: 'Read', size: 7, level: 'ERROR' },
    ]),
  );
  after(() => store.close());
  const window = [T0, T0 + 300_000] as const;

  test('count_over_time windows are (t - range, t]: an event exactly at t counts, at t - range does not', () => {
    const e = engine(store);
    assert.deepEqual(
      show(matrix(e, 'sum by (tool) (count_over_time({service="claude-telemetry"}[1m]))', ...window)),
      ['{"tool":"Bash"}: 1=1 2=2', '{"tool":"Read"}: 1=1 4=2'],
    );
    assert.deepEqual(show(matrix(e, 'sum(count_over_time({service="claude-telemetry"}[2m]))', ...window)), [
      '{}: 1=2 2=4 3=2 4=2 5=2',
    ]);
    assert.deepEqual(
      show(
        matrix(e, 'count_over_time({tool="Read"}[1m])', ...window).map((s) => ({
          ...s,
          metric: { tool: s.metric.tool as string },
        })),
      ),
      ['{"tool":"Read"}: 4=1', '{"tool":"Read"}: 1=1 4=1'],
    );
  });

  test('rate, bytes_over_time, bytes_rate, absent_over_time; step and range of different sizes', () => {
    const e = engine(store);
    assert.deepEqual(show(matrix(e, 'sum(rate({tool="Bash"}[2m]))', ...window)), [
      '{}: 1=0.008333333333333333 2=0.025 3=0.016666666666666666',
    ]);
    const lineBytes = (id: string) =>
      Buffer.byteLength(
        (store.select('SELECT line FROM events WHERE id = ?').raw(true).get(id) as string[])[0] as string,
      );
    assert.deepEqual(show(matrix(e, 'sum(bytes_over_time({tool="Read"}[5m]))', T0 + 300_000, T0 + 300_000)), [
      `{}: 5=${lineBytes('m2') + lineBytes('m5') + lineBytes('m6')}`,
    ]);
    assert.deepEqual(show(matrix(e, 'sum(bytes_rate({tool="Bash"}[1m]))', T0 + 60_000, T0 + 60_000)), [
      `{}: 1=${lineBytes('m1') / 60}`,
    ]);
    assert.deepEqual(show(matrix(e, 'absent_over_time({tool="Read", level="ERROR"}[1m])', ...window)), [
      '{"level":"ERROR","tool":"Read"}: 0=1 1=1 2=1 3=1 5=1',
    ]);
    // step 30s, range 45s: the grid is 15s buckets.
    assert.deepEqual(show(matrix(e, 'sum(count_over_time({tool="Bash"}[45s]))', T0, T0 + 150_000, 30_000)), [
      '{}: 0.5=1 1=1 1.5=1 2=2 2.5=1',
    ]);
  });

  test('unwrap: sum, avg, min, max, quantile over time, with grouping', () => {
    const e = engine(store);
    const q = (fn: string) =>
      show(
        matrix(
          e,
          `${fn}({service="claude-telemetry"} | json | unwrap action_details_size_bytes [5m]) by (tool)`,
          T0 + 300_000,
          T0 + 300_000,
        ),
      );
    assert.deepEqual(q('sum_over_time'), ['{"tool":"Bash"}: 5=8', '{"tool":"Read"}: 5=14']);
    assert.deepEqual(q('avg_over_time'), [
      '{"tool":"Bash"}: 5=2.6666666666666665',
      '{"tool":"Read"}: 5=4.666666666666667',
    ]);
    assert.deepEqual(q('min_over_time'), ['{"tool":"Bash"}: 5=1', '{"tool":"Read"}: 5=2']);
    assert.deepEqual(q('max_over_time'), ['{"tool":"Bash"}: 5=4', '{"tool":"Read"}: 5=7']);
    assert.deepEqual(
      show(
        matrix(
          e,
          'quantile_over_time(0.5, {tool="Read"} | json | unwrap action_details_size_bytes [5m]) by (tool)',
          T0 + 300_000,
          T0 + 300_000,
        ),
      ),
      ['{"tool":"Read"}: 5=5'],
    );
    assert.deepEqual(
      show(
        matrix(
          e,
          'quantile_over_time(0.75, {tool="Read"} | json | unwrap action_details_size_bytes [5m]) by (tool)',
          T0 + 300_000,
          T0 + 300_000,
        ),
      ),
      ['{"tool":"Read"}: 5=6'],
    );
  });

  test('unwrap of a value that is not a number is a pipeline error unless filtered out', () => {
    const e = engine(store);
    assert.throws(
      () =>
        matrix(
          e,
          'sum_over_time({service="claude-telemetry"} | json | unwrap tool_name [5m]) by (tool)',
          ...window,
        ),
      (err: unknown) =>
        err instanceof QueryError && /pipeline error: 'SampleExtractionErr'/.test(err.message),
    );
    assert.deepEqual(
      matrix(
        e,
        'sum_over_time({service="claude-telemetry"} | json | unwrap tool_name | __error__="" [5m]) by (tool)',
        ...window,
      ),
      [],
    );
  });

  test('offset shifts the window back', () => {
    const e = engine(store);
    assert.deepEqual(
      show(matrix(e, 'sum(count_over_time({tool="Bash"}[1m] offset 1m))', T0 + 120_000, T0 + 180_000)),
      ['{}: 2=1 3=2'],
    );
  });

  test('vector aggregations: sum avg min max count by/without, topk, bottomk', () => {
    const e = engine(store);
    const at = T0 + 300_000;
    const v = (q: string) =>
      (instant(e, q, at).result as VectorResult[]).map((r) => `${JSON.stringify(r.metric)}=${r.value[1]}`);
    const base = 'count_over_time({service="claude-telemetry"} | keep tool [5m])';
    assert.deepEqual(v(`sum by (tool) (${base})`), ['{"tool":"Bash"}=3', '{"tool":"Read"}=3']);
    assert.deepEqual(v(`sum(${base})`), ['{}=6']);
    assert.deepEqual(v(`count(${base})`), ['{}=2']);
    assert.deepEqual(v(`avg(${base})`), ['{}=3']);
    assert.deepEqual(v(`max(${base}) without (tool)`), ['{}=3']);
    const levels = 'sum by (tool, level) (count_over_time({service="claude-telemetry"}[5m]))';
    assert.deepEqual(v(`min by (tool) (${levels})`), ['{"tool":"Bash"}=3', '{"tool":"Read"}=1']);
    assert.deepEqual(v(`topk(1, ${levels})`), ['{"level":"INFO","tool":"Bash"}=3']);
    assert.deepEqual(v(`bottomk(1, ${levels}) by (tool)`), [
      '{"level":"ERROR","tool":"Read"}=1',
      '{"level":"INFO","tool":"Bash"}=3',
    ]);
  });

  test('binary operators: scalars, vector and scalar, vector and vector with matching, bool, set operators', () => {
    const e = engine(store);
    const at = T0 + 300_000;
    assert.deepEqual(instant(e, 'vector(1)+vector(1)', 4000).result, [{ metric: {}, value: [4, '2'] }]);
    assert.deepEqual(instant(e, '2 * 3 + 1', at).result, [at / 1000, '7']);
    assert.deepEqual(instant(e, '2 ^ 3 ^ 2', at).result, [at / 1000, '512']);
    assert.deepEqual(instant(e, '1 == bool 2', at).result, [at / 1000, '0']);
    const scalar = (q: string) => (instant(e, q, at).result as [number, string])[1];
    assert.deepEqual(
      [
        '7 % 3',
        '-7 % 3',
        '1 / 0',
        '0 / 0',
        '2 != bool 2',
        '2 < bool 3',
        '3 <= bool 3',
        '2 >= bool 3',
        '10 - 2 - 3',
      ].map(scalar),
      ['1', '-1', '+Inf', 'NaN', '0', '1', '1', '0', '5'],
    );
    const v = (q: string) =>
      (instant(e, q, at).result as VectorResult[]).map((r) => `${JSON.stringify(r.metric)}=${r.value[1]}`);
    const byTool = 'sum by (tool) (count_over_time({service="claude-telemetry"}[5m]))';
    const errors = 'sum by (tool) (count_over_time({level="ERROR"}[5m]))';
    assert.deepEqual(v(`${byTool} * 10`), ['{"tool":"Bash"}=30', '{"tool":"Read"}=30']);
    assert.deepEqual(v(`${errors} / ${byTool}`), ['{"tool":"Read"}=0.3333333333333333']);
    assert.deepEqual(v(`${byTool} > 2`), ['{"tool":"Bash"}=3', '{"tool":"Read"}=3']);
    assert.deepEqual(v(`${errors} > bool 0`), ['{"tool":"Read"}=1']);
    assert.deepEqual(v(`${byTool} and ${errors}`), ['{"tool":"Read"}=3']);
    assert.deepEqual(v(`${byTool} unless ${errors}`), ['{"tool":"Bash"}=3']);
    assert.deepEqual(v(`${errors} or ${byTool}`), ['{"tool":"Bash"}=3', '{"tool":"Read"}=1']);
    assert.deepEqual(v(`sum(${byTool}) - on () sum(${errors})`), ['{}=5']);
    assert.deepEqual(v(`${errors} + ignoring (tool) vector(1)`), ['{}=2']);
    assert.deepEqual(v('1 - vector(3)'), ['{}=-2']);
    assert.throws(() => v(`${byTool} + ignoring (tool) ${byTool}`), /duplicate series|multiple matches/);
  });

  test('instant queries: a vector, a scalar; log queries are refused', () => {
    const e = engine(store);
    const d = instant(e, 'count_over_time({tool="Bash"}[2m])', T0 + 120_000);
    assert.equal(d.resultType, 'vector');
    assert.throws(
      () => instant(e, '{tool="Bash"}', T0),
      /log queries are not supported as an instant query type/,
    );
    assert.equal(instant(e, '3', T0).resultType, 'scalar');
  });

  test('a range query of a scalar is a matrix of one series', () => {
    const e = engine(store);
    assert.deepEqual(matrix(e, '1 + 1', T0, T0 + 120_000), [
      {
        metric: {},
        values: [
          [T0 / 1000, '2'],
          [(T0 + 60_000) / 1000, '2'],
          [(T0 + 120_000) / 1000, '2'],
        ],
      },
    ]);
  });
});

describe('limits', () => {
  const store = freshStore();
  before(() =>
    fill(
      store,
      Array.from({ length: 600 }, (_, i) => ({ id: `l${i}`, t: i * 100, session: `s-${i % 300}` })),
    ),
  );
  after(() => store.close());

  test('time range, points, lines, series and wall time are bounded', () => {
    const day = 86_400_000;
    assert.throws(
      () =>
        matrix(engine(store, { maxRangeMs: day }), 'count_over_time({tool="Bash"}[1m])', T0, T0 + 2 * day),
      (err: unknown) =>
        err instanceof QueryLimitError &&
        /the query time range exceeds the limit \(query length: 48h0m0s, limit: 24h0m0s\)/.test(err.message),
    );
    assert.throws(
      () =>
        matrix(engine(store, { maxPoints: 10 }), 'count_over_time({tool="Bash"}[1m])', T0, T0 + 3_600_000),
      /exceeded maximum resolution of 10 points per timeseries/,
    );
    const capped = logs(engine(store, { maxLines: 7 }), '{tool="Bash"}', { limit: 100 });
    assert.equal(
      capped.reduce((a, s) => a + s.values.length, 0),
      7,
    );
    assert.throws(
      () => matrix(engine(store, { maxSeries: 50 }), 'count_over_time({tool="Bash"}[1m])', T0, T0 + 60_000),
      (err: unknown) =>
        err instanceof QueryLimitError && /maximum of series \(50\) reached/.test(err.message),
    );
    assert.equal(
      matrix(
        engine(store, { maxSeries: 50 }),
        'sum by (tool) (count_over_time({tool="Bash"}[1m]))',
        T0,
        T0 + 60_000,
      ).length,
      1,
    );
    assert.throws(
      () => logs(engine(store, { timeoutMs: 0 }), '{tool="Bash"} | json | no_such_label="x"'),
      (err: unknown) => err instanceof QueryLimitError && /timed out/.test(err.message),
    );
  });
});

describe('labels, values, series, index stats, tail', () => {
  const store = freshStore();
  before(() => {
    fill(store, [
      { id: 'x1', t: 1000, tool: 'Bash' },
      { id: 'x2', t: 2000, tool: 'Read', project: 'beta', level: 'WARN' },
    ]);
    store.insertBatch([
      {
        event: ev({
          id: 'x3',
          t: 3000,
          tool: null,
          session: '',
          extra: {
            log_line: 'GET /',
            extra_labels: { job: 'nginx', service: 'web' },
            extra_metadata: { trace: 't1' },
          },
        }),
        auditSeq: 3,
        line: 'GET /',
      },
    ]);
  });
  after(() => store.close());
  const span = { start: ns(T0), end: ns(T0 + 60_000) };

  test('label names and values, with and without a selector, foreign labels included', () => {
    const e = engine(store);
    const names = e.labels(span);
    for (const n of [
      'service',
      'host',
      'project',
      'event_type',
      'level',
      'tool',
      'session_id',
      'job',
      'trace',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(!names.includes('agent_id'));
    assert.deepEqual(e.labelValues('tool', span), ['Bash', 'Read']);
    assert.deepEqual(e.labelValues('service', span), ['claude-telemetry', 'web']);
    assert.deepEqual(e.labelValues('project', { ...span, query: '{tool="Read"}' }), ['beta']);
    assert.deepEqual(e.labelValues('job', span), ['nginx']);
    assert.deepEqual(e.labelValues('session_id', span), ['aaaa1111-0000-4000-8000-000000000001']);
    assert.deepEqual(e.labels({ ...span, query: '{job="nginx"}' }).includes('tool'), false);
    assert.ok(e.labels({ ...span, query: '{job="nginx"}' }).includes('trace'));
    assert.ok(
      !e.labels({ ...span, query: '{tool="Bash"}' }).includes('job'),
      'foreign names only where they occur',
    );
    assert.deepEqual(e.labelValues('trace', { ...span, query: '{tool="Bash"}' }), []);
  });

  test('a pushed line with its own service is not ours', () => {
    const e = engine(store);
    assert.deepEqual(ids(logs(e, '{service="claude-telemetry"}')), ['x2', 'x1']);
    const web = logs(e, '{service="web"}', { categorize: true });
    assert.deepEqual(web[0]?.stream.job, 'nginx');
    const value = web[0]?.values[0] as [string, string, { structuredMetadata: Record<string, string> }];
    const md = value[2].structuredMetadata;
    assert.equal(md.trace, 't1');
    assert.equal(md.tool, undefined);
  });

  test('series are the indexed label sets; index stats count streams, entries and bytes', () => {
    const e = engine(store);
    const s = e.series({ ...span, match: ['{service="claude-telemetry"}'] });
    assert.deepEqual(s, [
      {
        event_type: 'command_execution',
        host: 'box',
        level: 'INFO',
        project: 'alpha',
        service: 'claude-telemetry',
      },
      {
        event_type: 'command_execution',
        host: 'box',
        level: 'WARN',
        project: 'beta',
        service: 'claude-telemetry',
      },
    ]);
    const st = e.indexStats({ ...span, query: '{tool=~".+"}' });
    assert.equal(st.entries, 2);
    assert.equal(st.streams, 2);
    const bytes = store
      .select("SELECT sum(line_bytes) AS b FROM events WHERE id IN ('x1', 'x2')")
      .raw(false)
      .get() as { b: number };
    assert.equal(st.bytes, bytes.b);
  });

  test('tail returns what came after a seq, and where to continue', () => {
    const e = engine(store);
    const first = e.tail('{service="claude-telemetry"}', 0, 1);
    assert.deepEqual(ids(first.streams), ['x1']);
    const rest = e.tail('{service="claude-telemetry"}', first.lastSeq, 10);
    assert.deepEqual(ids(rest.streams), ['x2']);
    assert.equal(rest.lastSeq, store.maxSeq());
    assert.deepEqual(e.tail('{service="claude-telemetry"}', rest.lastSeq, 10).streams, []);
    assert.throws(() => e.tail('count_over_time({a="b"}[1m])', 0, 10), /tail only supports log queries/);
  });
});
