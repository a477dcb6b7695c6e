import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { MatchOp } from '../../src/query/ast.ts';
import { ENTRY_COLUMNS, entryOf } from '../../src/query/labels.ts';
import { matcherTest } from '../../src/query/pipeline.ts';
import { compile, prepareStore, queryScope } from '../../src/query/plan.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const home = mkdtempSync(join(tmpdir(), 'cat-plan-'));
after(() => rmSync(home, { recursive: true, force: true }));
const store = Store.open(join(home, 'events.db'));
after(() => store.close());

const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);
const TOOLS = [null, 'Bash', 'Read', 'bash', 'BASH', 'Re ad', 'x.y', 'xzy', 'mcp__a__b', '', 'é'];
const OUTSIDE = [true, false, undefined];

store.insertBatch(
  TOOLS.flatMap((tool, i) =>
    OUTSIDE.map((outside, k) => {
      const e: TelemetryEvent = {
        id: `r${i}-${k}`,
        timestamp: new Date(T0 + i * 1000 + k).toISOString(),
        level: 'INFO',
        event_type: 'command_execution',
        hook_event: k === 0 ? 'PreToolUse' : 'PostToolUse',
        session_id: `s${i}`,
        project_path: '/p',
        project_name: 'p',
        tool_name: tool,
        action_details: outside === undefined ? {} : { outside_project_scope: outside },
        metadata: { telemetry_version: '0', user_id: 'dev', host: 'box', scope: 'project' },
        raw_input: {},
      };
      return { event: e, auditSeq: i * 3 + k + 1 };
    }),
  ),
);

/** Ids the planned SQL picks for a query (its `where` only). */
function sqlIds(query: string): string[] {
  const plan = compile(query, store).sources[0];
  assert.ok(plan);
  prepareStore(store, [plan]);
  const rows = store
    .select(
      `SELECT id FROM events INDEXED BY ${plan.index} WHERE ts >= 0 AND (${plan.where.sql}) ORDER BY id`,
    )
    .raw(true)
    .all(...plan.where.params) as string[][];
  return rows.map((r) => r[0] as string);
}

/** Ids a matcher picks when evaluated in JavaScript on every entry. */
function jsIds(name: string, op: MatchOp, value: string): string[] {
  const rows = store
    .select(`SELECT id, ${ENTRY_COLUMNS.join(', ')} FROM events ORDER BY id`)
    .raw(true)
    .all() as unknown[][];
  const test = matcherTest({ name, op, value, pos: 0 }, queryScope(store, '', 0, Number.MAX_SAFE_INTEGER));
  return rows.filter((r) => test(entryOf(r.slice(1)))).map((r) => r[0] as string);
}

const quote = (v: string) => JSON.stringify(v);

describe('planner', () => {
  test('matchers become exact SQL: the same events as the matcher evaluated in JavaScript', () => {
    const values = [
      'Bash',
      'bash',
      '',
      'Bash|Read',
      '.*',
      '.+',
      'B.*',
      '(?i)bash',
      'x\\.y',
      'x.y',
      'Re ad',
      '[a-z]+',
      'é',
      'mcp__.*',
      '|Bash',
    ];
    const ops: MatchOp[] = ['=', '!=', '=~', '!~'];
    fc.assert(
      fc.property(
        fc.constantFrom(...ops),
        fc.constantFrom(...values),
        fc.constantFrom('tool', 'outside_project_scope'),
        (op, value, name) => {
          const v =
            name === 'outside_project_scope' ? value.replace('Bash', 'true').replace('bash', 'false') : value;
          const q = `{service="claude-telemetry", ${name}${op}${quote(v)}}`;
          assert.deepEqual(sqlIds(q), jsIds(name, op, v), q);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('literal regexes become = and IN; only real regexes need REGEXP', () => {
    const plan = (q: string) => compile(q, store).sources[0];
    assert.match(plan('{tool=~"Bash|Read"}')?.where.sql ?? '', /IN \(\?, \?\)/);
    assert.equal(plan('{tool=~"Bash|Read"}')?.needsRegexp, false);
    assert.equal(plan('{tool=~"B.*"}')?.needsRegexp, true);
    assert.equal(plan('{service="other"}')?.where.sql, '0');
    assert.equal(plan('{service="claude-telemetry"}')?.where.sql, '1');
    assert.equal(plan('{service="claude-telemetry"} |= ""')?.where.sql, '1');
    assert.equal(plan('{service="claude-telemetry"} != ""')?.where.sql, '0');
    assert.match(
      plan('{service="claude-telemetry"} |~ "a|bc"')?.where.sql ?? '',
      /instr\(line, \?\) > 0\) OR \(instr/,
    );
  });

  test('the scan is driven by the most selective indexed equality', () => {
    const index = (q: string) => compile(q, store).sources[0]?.index;
    assert.equal(index('{service="claude-telemetry"}'), 'events_ts');
    assert.equal(index('{tool="Bash", session_id="s1"}'), 'events_session_ts');
    assert.equal(index('{tool="Bash", outside_project_scope="true"}'), 'events_outside_ts');
    assert.equal(index('{project="p", event="command_execution"}'), 'events_type_ts');
    assert.equal(index('{tool="Bash"} | hook_event="PreToolUse"'), 'events_tool_ts');
    assert.equal(
      index('{project="p"} | tool="Bash" or tool="Read"'),
      'events_project_ts',
      'no index from inside an or',
    );
  });

  test('the rollup is offered only when the selector and stages keep to its labels', () => {
    const ok = (q: string) => compile(q, store).sources[0]?.rollupOk;
    assert.equal(ok('{service="claude-telemetry", tool=~"Bash|Read", level!="ERROR"}'), true);
    assert.equal(ok('{service="claude-telemetry"} | drop __error__'), true);
    assert.equal(ok('{service="claude-telemetry", outside_project_scope="true"} | host="box"'), true);
    assert.equal(ok('{session_id="s1"}'), false);
    assert.equal(ok('{service="claude-telemetry"} |= "x"'), false);
    assert.equal(ok('{service="claude-telemetry"} | json'), false);
    assert.equal(ok('{service="claude-telemetry"} | keep tool'), false);
  });
});
