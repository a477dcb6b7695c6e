/**
 * The seed's own LogQL examples (README "Custom Queries", design doc "Query Examples" and "Real-World Use
 * Cases"), Grafana's health check and logs-volume query, against a store filled through the real hook and
 * collector with the recorded demo session (which includes actions outside the project).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Collector } from '../../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import {
  type MatrixResult,
  QueryEngine,
  type RangeQueryRequest,
  type StreamResult,
  type VectorResult,
} from '../../src/query/index.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { fixturePayloads, runHook, tempPaths } from '../helpers.ts';

const DEMO = fileURLToPath(new URL('../../fixtures/demo/session.jsonl', import.meta.url));
/** The seed's example session id starts like this ("16f668a2-ee15"). */
const SESSION = '16f668a2-ee15-4c3e-9d5a-0b7c2f1e8a44';

let paths: DataPaths;
let store: Store;
let engine: QueryEngine;
let events: TelemetryEvent[];
let project: string;

before(async () => {
  paths = tempPaths('logql-seed');
  const projectDir = join(paths.home, 'demo', 'acme-webapp');
  mkdirSync(projectDir, { recursive: true });
  project = 'acme-webapp';
  const vars: Record<string, string> = {
    PROJECT: projectDir,
    HOME: paths.home,
    SESSION,
    PROJECT_SLUG: projectDir.replace(/[^a-zA-Z0-9]/g, '-'),
  };
  const demo = readFileSync(DEMO, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(/\{\{([A-Z_]+)\}\}/g, (_, k: string) => vars[k] ?? ''));
  for (const p of demo) assert.equal(runHook(paths, p, projectDir).status, 0);
  // A second project and session, so that selectors have something to leave out.
  for (const p of fixturePayloads())
    assert.equal(runHook(paths, JSON.stringify(p), '/home/dev/project').status, 0);
  const c = await Collector.open(paths, DEFAULT_CONFIG);
  c.drain();
  await c.stop();
  store = Store.open(paths.storeFile, { readonly: true });
  engine = new QueryEngine(store);
  events = store.query({ limit: 100_000 });
});

after(() => {
  store?.close();
  rmSync(paths.home, { recursive: true, force: true });
});

/** Seed queries come without start/end: Loki's defaults are the last hour; our events are from now. */
function queryRange(query: string, extra: Partial<RangeQueryRequest> = {}) {
  const now = BigInt(Date.now()) * 1_000_000n;
  return engine.rangeQuery({
    query,
    start: now - 3_600_000_000_000n,
    end: now + 60_000_000_000n,
    limit: 1000,
    direction: 'backward',
    stepMs: 60_000,
    categorizeLabels: false,
    ...extra,
  }).data;
}

/** The returned lines, oldest first, parsed back into events. */
function returned(query: string, extra: Partial<RangeQueryRequest> = {}): TelemetryEvent[] {
  const data = queryRange(query, extra);
  assert.equal(data.resultType, 'streams');
  return (data.result as StreamResult[])
    .flatMap((s) => s.values.map((v) => [BigInt(v[0]), v[1]] as const))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, line]) => JSON.parse(line) as TelemetryEvent);
}

const idsOf = (es: TelemetryEvent[]) => es.map((e) => e.id).sort();

describe('the seed example queries', () => {
  test('README: all activity for a project, lines returned verbatim as stored', () => {
    const data = queryRange(`{service="claude-telemetry", project="${project}"}`);
    const lines = (data.result as StreamResult[]).flatMap((s) => s.values.map((v) => v[1]));
    const expected = events.filter((e) => e.project_name === project);
    assert.equal(lines.length, expected.length);
    assert.ok(expected.length >= 40);
    const stored = new Set(
      (
        store.select('SELECT line FROM events WHERE project_name = ?').raw(true).all(project) as string[][]
      ).map((r) => r[0]),
    );
    for (const l of lines) assert.ok(stored.has(l), 'each line is the stored event JSON, byte for byte');
  });

  test("README and design doc: the seed's security query is a literal substring filter and matches nothing", () => {
    assert.deepEqual(returned('{service="claude-telemetry"} |= "outside_project_scope.*true"'), []);
  });

  test('the security query that works: | json | outside_project_scope="true", and a |~ form', () => {
    const outside = events.filter((e) => e.action_details.outside_project_scope === true);
    assert.ok(outside.length >= 4, 'the demo session steps outside its project');
    assert.ok(outside.some((e) => e.action_details.file_path === '/etc/passwd'));
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry"} | json | outside_project_scope="true"')),
      idsOf(outside),
    );
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry"} |~ "\\"outside_project_scope\\":true"')),
      idsOf(outside),
    );
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry"} |~ `"outside_project_scope":\\s*true`')),
      idsOf(outside),
    );
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry", outside_project_scope="true"}')),
      idsOf(outside),
    );
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry"} | outside_project_scope="true"')),
      idsOf(outside),
    );
  });

  test('design doc: recent activity since a start time; file operations by event', () => {
    assert.equal(returned('{service="claude-telemetry"}').length, events.length);
    const reads = returned('{service="claude-telemetry", event="file_read"}');
    assert.deepEqual(idsOf(reads), idsOf(events.filter((e) => e.event_type === 'file_read')));
    assert.ok(reads.length > 0);
  });

  test('real-world use case: a session timeline by the shortened session id, complete and in order', () => {
    const query = `{service="claude-telemetry", session="${SESSION.slice(0, 13)}"}`;
    const timeline = store.timeline(SESSION).map((e) => e.id);
    assert.deepEqual(idsOf(returned(query)), [...timeline].sort());
    // One stream (every line keeps only the session label), so its order is the engine's own.
    for (const direction of ['forward', 'backward'] as const) {
      const data = queryRange(`${query} | keep session_id`, { direction });
      const streams = data.result as StreamResult[];
      assert.equal(streams.length, 1);
      const ids = streams[0]?.values.map((v) => (JSON.parse(v[1]) as TelemetryEvent).id);
      assert.deepEqual(ids, direction === 'forward' ? timeline : [...timeline].reverse());
    }
  });

  test('real-world use case: file modifications in a time range', () => {
    const writes = events.filter((e) => e.event_type === 'file_write');
    assert.ok(writes.length > 0);
    const first = Date.parse((writes[0] as TelemetryEvent).timestamp);
    const got = returned('{service="claude-telemetry", event="file_write"}', {
      start: BigInt(first) * 1_000_000n,
      end: BigInt(first + 1) * 1_000_000n,
    });
    assert.deepEqual(idsOf(got), idsOf(writes.filter((e) => Date.parse(e.timestamp) === first)));
  });

  test('selectors on tool, project, scope, hook and level', () => {
    const pick = (f: (e: TelemetryEvent) => boolean) => idsOf(events.filter(f));
    assert.deepEqual(
      idsOf(returned('{service="claude-telemetry", tool="Bash"}')),
      pick((e) => e.tool_name === 'Bash'),
    );
    assert.deepEqual(
      idsOf(returned('{scope="project", project="project"}')),
      pick((e) => e.project_name === 'project'),
    );
    assert.deepEqual(
      idsOf(returned('{hook_event="PostToolUseFailure"}')),
      pick((e) => e.hook_event === 'PostToolUseFailure'),
    );
    assert.deepEqual(
      idsOf(returned('{level="ERROR"}')),
      pick((e) => e.level === 'ERROR'),
    );
  });
});

describe('Grafana', () => {
  test('the data source health check: vector(1)+vector(1) answers 2', () => {
    const r = engine.instantQuery({
      query: 'vector(1)+vector(1)',
      time: 4_000_000_000n,
      limit: 100,
      direction: 'backward',
      categorizeLabels: false,
    });
    assert.deepEqual(r.data.result as VectorResult[], [{ metric: {}, value: [4, '2'] }]);
  });

  test('the logs-volume query counts every event by level', () => {
    const data = queryRange(
      'sum by (level, detected_level) (count_over_time({service="claude-telemetry"} | drop __error__ [1m]))',
    );
    const totals: Record<string, number> = {};
    for (const s of data.result as MatrixResult[]) {
      // Steps are a minute apart and so are the windows: each event is counted once.
      totals[s.metric.level as string] = s.values.reduce((a, [, v]) => a + Number(v), 0);
    }
    const expected: Record<string, number> = {};
    for (const e of events) expected[e.level] = (expected[e.level] ?? 0) + 1;
    assert.deepEqual(totals, expected);
  });

  test('Explore with categorize-labels: indexed labels in the stream, the rest per line', () => {
    const data = queryRange(
      `{service="claude-telemetry", session="${SESSION.slice(0, 8)}"} | json | keep tool, level, id`,
      {
        categorizeLabels: true,
      },
    );
    assert.deepEqual((data as { encodingFlags?: string[] }).encodingFlags, ['categorize-labels']);
    for (const s of data.result as StreamResult[]) {
      assert.deepEqual(Object.keys(s.stream), ['level']);
      for (const v of s.values) assert.equal(v.length, 3);
    }
  });

  test('label browser: names, values of a label, series', () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const span = { start: now - 3_600_000_000_000n, end: now + 60_000_000_000n };
    const names = engine.labels(span);
    for (const n of [
      'service',
      'project',
      'event_type',
      'level',
      'tool',
      'session_id',
      'scope',
      'outside_project_scope',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.deepEqual(engine.labelValues('project', span), ['acme-webapp', 'project']);
    assert.deepEqual(engine.labelValues('session_id', { ...span, query: `{project="${project}"}` }), [
      SESSION,
    ]);
    const series = engine.series({
      ...span,
      match: ['{service="claude-telemetry", event_type="file_read"}'],
    });
    assert.ok(series.length >= 1);
    for (const s of series) assert.equal(s.event_type, 'file_read');
  });
});
