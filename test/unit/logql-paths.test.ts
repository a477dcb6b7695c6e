import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_QUERY_LIMITS } from '../../src/query/api.ts';
import type { Grouping, Query, RangeAggregation } from '../../src/query/ast.ts';
import { parseQuery } from '../../src/query/parser.ts';
import { Deadline, prepareStore, queryScope } from '../../src/query/plan.ts';
import {
  evalRange,
  planFor,
  type RangeContext,
  type RangeSource,
  type Steps,
} from '../../src/query/range.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const home = mkdtempSync(join(tmpdir(), 'cat-paths-'));
after(() => rmSync(home, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);
const TOOLS = ['Bash', 'Read', 'Write', null, 'Grep'];
const LEVELS = ['INFO', 'INFO', 'WARN', 'ERROR'] as const;

/** 3,000 events over 40 minutes, some exactly on minute boundaries, in batches of 250. */
function build(store: Store): void {
  let seq = 0;
  for (let b = 0; b < 12; b++) {
    const rows = [];
    for (let k = 0; k < 250; k++) {
      const i = b * 250 + k;
      const t = i % 97 === 0 ? T0 + (i % 40) * 60_000 : T0 + ((i * 7919) % 2_400_000);
      const e: TelemetryEvent = {
        id: `p${i}`,
        timestamp: new Date(t).toISOString(),
        level: LEVELS[i % LEVELS.length] as TelemetryEvent['level'],
        event_type: i % 3 === 0 ? 'file_read' : 'command_execution',
        hook_event: i % 2 === 0 ? 'PreToolUse' : 'PostToolUse',
        session_id: `s${i % 17}`,
        project_path: `/p/${i % 3}`,
        project_name: `p${i % 3}`,
        tool_name: TOOLS[i % TOOLS.length] as string | null,
        action_details: i % 5 === 4 ? {} : { outside_project_scope: i % 9 === 0 },
        metadata: { telemetry_version: '0', user_id: 'dev', host: `h${i % 2}`, scope: 'project' },
        raw_input: { n: i % 4 },
      };
      rows.push({ event: e, auditSeq: ++seq });
    }
    store.insertBatch(rows);
  }
}

const store = Store.open(join(home, 'events.db'));
build(store);
after(() => store.close());

function run(query: string, steps: Steps, force?: RangeSource) {
  const q = parseQuery(query) as Extract<Query, { kind: 'metric' }>;
  let node = q.expr;
  let projection: Grouping | undefined;
  if (node.kind === 'vector_agg') {
    projection = node.grouping ?? { without: false, labels: [] };
    node = node.expr;
  }
  const range = node as RangeAggregation;
  const ctx: RangeContext = {
    store,
    scope: queryScope(
      store,
      query,
      steps.startMs - range.rangeMs - range.offsetMs,
      steps.startMs + (steps.steps - 1) * steps.stepMs - range.offsetMs,
    ),
    limits: DEFAULT_QUERY_LIMITS,
    deadline: new Deadline(DEFAULT_QUERY_LIMITS),
    stats: { lines: 0, bytes: 0 },
    plans: new Map(),
  };
  prepareStore(store, [planFor(range, ctx)]);
  const r = evalRange(range, steps, projection, ctx, force);
  const series = r.series
    .map((s) => ({
      labels: JSON.stringify(Object.fromEntries(Object.entries(s.labels).sort())),
      points: Array.from(s.values)
        .map((v, k) => (s.present[k] === 1 ? `${k}:${v}` : ''))
        .filter((x) => x !== '')
        .join(' '),
    }))
    .sort((a, b) => a.labels.localeCompare(b.labels));
  return { series, source: r.source };
}

const minuteSteps: Steps = { startMs: T0, stepMs: 60_000, steps: 42 };

describe('range aggregations: rollup, GROUP BY and row paths agree', () => {
  const queries = [
    'sum by (tool) (count_over_time({service="claude-telemetry"}[1m]))',
    'sum by (level, detected_level) (count_over_time({service="claude-telemetry"} | drop __error__ [1m]))',
    'sum by (tool, project) (count_over_time({event_type="file_read", host="h1"}[5m]))',
    'sum(rate({hook_event=~"Pre.*", tool!="Bash"}[2m]))',
    'sum by (outside_project_scope) (bytes_over_time({service="claude-telemetry"}[3m]))',
    'sum by (tool) (bytes_rate({level=~"WARN|ERROR"}[1m]))',
    'absent_over_time({tool="Grep", level="WARN", project="p2"}[1m])',
    'sum without (session_id, tool_use_id) (count_over_time({tool="Write"}[2m]))',
  ];

  for (const q of queries) {
    test(q, () => {
      const auto = run(q, minuteSteps);
      const groupBy = run(q, minuteSteps, 'groupby');
      const rows = run(q, minuteSteps, 'rows');
      assert.deepEqual(groupBy.series, rows.series);
      assert.deepEqual(auto.series, rows.series);
      assert.ok(rows.series.length > 0);
      if (!q.includes('without')) assert.equal(auto.source, 'rollup');
    });
  }

  test('grids that are not whole minutes use the events, with the same answers', () => {
    const q = 'sum by (tool) (count_over_time({service="claude-telemetry"}[90s]))';
    const steps: Steps = { startMs: T0 + 15_000, stepMs: 45_000, steps: 50 };
    const auto = run(q, steps);
    assert.equal(auto.source, 'groupby');
    assert.deepEqual(auto.series, run(q, steps, 'rows').series);
    const offset = 'sum by (level) (count_over_time({service="claude-telemetry"}[1m] offset 30s))';
    assert.equal(run(offset, minuteSteps).source, 'groupby');
    assert.deepEqual(run(offset, minuteSteps).series, run(offset, minuteSteps, 'rows').series);
  });

  test('queries the rollup cannot answer exactly take another path', () => {
    assert.equal(
      run('sum by (tool) (count_over_time({session_id="s3"}[1m]))', minuteSteps).source,
      'groupby',
    );
    assert.equal(
      run('sum by (session_id) (count_over_time({tool="Bash"}[1m]))', minuteSteps).source,
      'groupby',
    );
    assert.equal(
      run('sum by (tool) (count_over_time({tool="Bash"} |= "p1" [1m]))', minuteSteps).source,
      'groupby',
    );
    assert.equal(
      run('sum by (tool) (count_over_time({tool="Bash"} | json | raw_input_n="1" [1m]))', minuteSteps).source,
      'rows',
    );
  });

  test('a pushed foreign line in the span sends the query to the events (run last: it changes the store)', () => {
    const q = 'sum by (tool) (count_over_time({service="claude-telemetry"}[1m]))';
    const before = run(q, minuteSteps);
    const foreign: TelemetryEvent = {
      id: 'foreign-1',
      timestamp: new Date(T0 + 90_000).toISOString(),
      level: 'INFO',
      event_type: 'log',
      hook_event: '',
      session_id: '',
      project_path: '',
      project_name: '',
      tool_name: 'Bash',
      action_details: {},
      metadata: { telemetry_version: '0', user_id: '', host: '', scope: 'push' },
      raw_input: {},
      log_line: 'pushed',
      extra_labels: { service: 'web' },
    };
    store.insertBatch([{ event: foreign, auditSeq: 99_999, line: 'pushed' }]);
    const after = run(q, minuteSteps);
    assert.equal(after.source, 'groupby');
    assert.deepEqual(after.series, before.series, 'the line of another service is not counted');
    assert.deepEqual(after.series, run(q, minuteSteps, 'rows').series);
    const later: Steps = { startMs: T0 + 3_600_000, stepMs: 60_000, steps: 10 };
    assert.equal(run(q, later).source, 'rollup', 'spans without pushed lines still use the rollup');
  });
});
