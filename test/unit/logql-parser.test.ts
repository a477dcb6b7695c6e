import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { QueryError } from '../../src/query/api.ts';
import type { MetricExpr, Query } from '../../src/query/ast.ts';
import { parseJsonPath, parseQuery } from '../../src/query/parser.ts';

function log(q: string) {
  const r = parseQuery(q);
  assert.equal(r.kind, 'log');
  return (r as Extract<Query, { kind: 'log' }>).selector;
}

function metric(q: string): MetricExpr {
  const r = parseQuery(q);
  assert.equal(r.kind, 'metric');
  return (r as Extract<Query, { kind: 'metric' }>).expr;
}

/** The expression written back with full parentheses, to check grouping. */
function shape(e: MetricExpr): string {
  switch (e.kind) {
    case 'literal':
    case 'vector':
      return e.kind === 'vector' ? `vector(${e.value})` : String(e.value);
    case 'binary':
      return `(${shape(e.left)} ${e.op}${e.bool ? ' bool' : ''} ${shape(e.right)})`;
    case 'vector_agg':
      return `${e.op}(${shape(e.expr)})`;
    case 'range':
      return `${e.fn}[${e.rangeMs}]`;
  }
}

function rejects(q: string, message: RegExp) {
  assert.throws(
    () => parseQuery(q),
    (err: unknown) => err instanceof QueryError && message.test(err.message),
    `expected ${message} for ${q}`,
  );
}

describe('LogQL parser: log queries', () => {
  test('selectors with every matcher operator, raw and escaped strings', () => {
    const s = log('{service="claude-telemetry", project!="a\\"b", tool=~`Bash|Read`, event_type!~"file_.*"}');
    assert.deepEqual(
      s.matchers.map((m) => [m.name, m.op, m.value]),
      [
        ['service', '=', 'claude-telemetry'],
        ['project', '!=', 'a"b'],
        ['tool', '=~', 'Bash|Read'],
        ['event_type', '!~', 'file_.*'],
      ],
    );
    assert.equal(s.matchers[1]?.pos, 29);
  });

  test('chained line filters and or-alternatives', () => {
    const s = log('{a="b"} |= "x" != "y" |~ "c" or "d" !~ `e\\d`');
    assert.deepEqual(
      s.stages.map((st) => (st.kind === 'line_filter' ? [st.op, st.values] : st.kind)),
      [
        ['|=', ['x']],
        ['!=', ['y']],
        ['|~', ['c', 'd']],
        ['!~', ['e\\d']],
      ],
    );
  });

  test('json with and without extraction expressions', () => {
    const s = log('{a="b"} | json | json first="a.b[0]", second, third="[\\"x y\\"].z"');
    assert.deepEqual(s.stages[0], { kind: 'json', pos: 10 });
    const st = s.stages[1];
    assert.ok(st?.kind === 'json');
    assert.deepEqual(st.extractions, [
      { label: 'first', path: ['a', 'b', 0] },
      { label: 'second', path: ['second'] },
      { label: 'third', path: ['x y', 'z'] },
    ]);
    assert.deepEqual(parseJsonPath('a.b'), ['a', 'b']);
    assert.equal(parseJsonPath('.a'), undefined);
    assert.equal(parseJsonPath('a[x]'), undefined);
  });

  test('label filters: strings, numbers, durations, bytes; and binds tighter than or; commas are and', () => {
    const s = log('{a="b"} | x="1" or n > 5 and d <= 250ms | size >= 1.5KiB, y!~"z+" | n == -2');
    const f = s.stages.map((st) => (st.kind === 'label_filter' ? st.expr : undefined));
    assert.deepEqual(f[0], {
      kind: 'or',
      left: { kind: 'match', matcher: { name: 'x', op: '=', value: '1', pos: 10 } },
      right: {
        kind: 'and',
        left: { kind: 'number', name: 'n', op: '>', value: 5, pos: 19 },
        right: { kind: 'duration', name: 'd', op: '<=', value: 0.25, pos: 29 },
      },
    });
    assert.equal(f[1]?.kind, 'and');
    assert.deepEqual((f[1] as { left: unknown }).left, {
      kind: 'bytes',
      name: 'size',
      op: '>=',
      value: 1536,
      pos: 42,
    });
    assert.deepEqual((f[1] as { right: unknown }).right, {
      kind: 'match',
      matcher: { name: 'y', op: '!~', value: 'z+', pos: 58 },
    });
    assert.deepEqual(f[2], { kind: 'number', name: 'n', op: '==', value: -2, pos: 68 });
  });

  test('drop, keep, line_format, label_format', () => {
    const s = log(
      '{a="b"} | drop __error__, x="y" | keep a, b | line_format "{{.tool}} {{__line__}}" | label_format t=tool, u="{{.a}}"',
    );
    assert.deepEqual(s.stages[0], {
      kind: 'drop',
      items: [{ name: '__error__' }, { name: 'x', matcher: { name: 'x', op: '=', value: 'y', pos: 26 } }],
      pos: 10,
    });
    assert.deepEqual((s.stages[1] as { items: unknown }).items, [{ name: 'a' }, { name: 'b' }]);
    assert.deepEqual(s.stages[2], { kind: 'line_format', template: '{{.tool}} {{__line__}}', pos: 46 });
    assert.deepEqual((s.stages[3] as { items: unknown }).items, [
      { dst: 't', src: 'tool' },
      { dst: 'u', template: '{{.a}}' },
    ]);
  });
});

describe('LogQL parser: metric queries', () => {
  test('range aggregations with ranges, offsets, unwrap conversions and post-unwrap filters', () => {
    const r = metric(
      'quantile_over_time(0.99, {a="b"} | json | unwrap duration(latency) | __error__="" [1m30s]) by (tool)',
    );
    assert.ok(r.kind === 'range');
    assert.equal(r.fn, 'quantile_over_time');
    assert.equal(r.param, 0.99);
    assert.equal(r.rangeMs, 90_000);
    assert.equal(r.offsetMs, 0);
    assert.deepEqual(r.grouping, { without: false, labels: ['tool'] });
    assert.equal(r.unwrap?.label, 'latency');
    assert.equal(r.unwrap?.conversion, 'duration');
    assert.equal(r.unwrap?.filters.length, 1);
    const b = metric('sum_over_time({a="b"} | unwrap bytes(size) [5m] offset 1h)');
    assert.ok(b.kind === 'range' && b.unwrap?.conversion === 'bytes');
    assert.equal(b.offsetMs, 3_600_000);
    const c = metric('count_over_time({a="b"}[5m] | json)');
    assert.ok(c.kind === 'range' && c.selector.stages[0]?.kind === 'json');
  });

  test('vector aggregations with by/without before or after, topk parameter', () => {
    const a = metric('sum by (tool, project) (rate({a="b"}[1m]))');
    assert.ok(a.kind === 'vector_agg');
    assert.deepEqual(a.grouping, { without: false, labels: ['tool', 'project'] });
    const b = metric('sum(rate({a="b"}[1m])) without (session_id)');
    assert.ok(b.kind === 'vector_agg');
    assert.deepEqual(b.grouping, { without: true, labels: ['session_id'] });
    const c = metric('topk(3, count_over_time({a="b"}[1m]))');
    assert.ok(c.kind === 'vector_agg' && c.op === 'topk' && c.param === 3);
  });

  test('binary operators take LogQL precedence and associativity', () => {
    assert.equal(shape(metric('1 + 2 * 3')), '(1 + (2 * 3))');
    assert.equal(shape(metric('1 * 2 + 3')), '((1 * 2) + 3)');
    assert.equal(shape(metric('2 ^ 3 ^ 2')), '(2 ^ (3 ^ 2))');
    assert.equal(shape(metric('10 - 4 - 3')), '((10 - 4) - 3)');
    assert.equal(shape(metric('(1 + 2) * 3')), '((1 + 2) * 3)');
    assert.equal(shape(metric('vector(1)+vector(1)')), '(vector(1) + vector(1))');
    assert.equal(
      shape(metric('sum(rate({a="b"}[1m])) > bool 2 or vector(1) and vector(2) + 1')),
      '((sum(rate[60000]) > bool 2) or (vector(1) and (vector(2) + 1)))',
    );
    const m = metric('count_over_time({a="b"}[1m]) / ignoring (x) count_over_time({a="c"}[1m])');
    assert.ok(m.kind === 'binary');
    assert.deepEqual(m.matching, { on: false, labels: ['x'] });
    assert.equal(shape(metric('-1 + 2')), '(-1 + 2)');
  });
});

describe('LogQL parser: errors', () => {
  test('syntax errors name the position and what was found there, as Loki does', () => {
    rejects('{a="b"', /^parse error at line 1, col 7: syntax error: unexpected end of query$/);
    rejects('{a="b"} |= ', /^parse error at line 1, col 1[12]: syntax error: unexpected end of query$/);
    rejects('sum(rate({a="b"}[1m])) by (', /parse error at line 1, col \d+: syntax error/);
    rejects('{a="b"}\n| json | x >', /^parse error at line 2, col \d+/);
    rejects('', /empty query/);
    rejects('{a="b"} | = "x"', /parse error at line 1, col 11: syntax error: unexpected "="/);
  });

  test('constructs outside the subset are refused as not supported', () => {
    rejects('{a="b"} | logfmt', /the logfmt parser is not supported \(at line 1, col 11\)/);
    rejects('{a="b"} | pattern "<x>"', /not supported/);
    rejects('{a="b"} | regexp "(?P<x>.)"', /not supported/);
    rejects('{a="b"} | decolorize', /decolorize is not supported/);
    rejects('{a="b"} |= ip("1.2.3.4")', /ip\(\) line filters is not supported/);
    rejects('{a="b"} | x = ip("1.2.3.4")', /ip\(\) label filters is not supported/);
    rejects(
      'label_replace(rate({a="b"}[1m]), "x", "$1", "y", "(.*)")',
      /(label_replace is not supported|parse error)/,
    );
    rejects('stddev_over_time({a="b"} | unwrap x [1m])', /stddev_over_time is not supported/);
    rejects(
      'sum(rate({a="b"}[1m])) / on (x) group_left count(rate({a="b"}[1m]))',
      /group_left\/group_right is not supported/,
    );
    rejects('sort(rate({a="b"}[1m]))', /sort is not supported/);
  });

  test('semantic checks Loki makes', () => {
    rejects('{a=""}', /at least one regexp or equality matcher that does not have an empty-compatible value/);
    rejects('{a=~".*", b!="x"}', /empty-compatible/);
    rejects('count_over_time({a="b"}[1m]) by (x)', /grouping not allowed for count_over_time aggregation/);
    rejects('sum_over_time({a="b"}[1m])', /invalid aggregation sum_over_time without unwrap/);
    rejects('rate({a="b"} | unwrap x [1m])', /invalid aggregation rate with unwrap/);
    rejects('topk(0, rate({a="b"}[1m]))', /invalid parameter 0 for topk/);
    rejects('1 > 2', /comparisons between scalars must use BOOL modifier/);
    rejects('vector(1) and 1', /set operator "and" not allowed in binary scalar expression/);
    rejects('vector(1) + bool vector(1)', /bool modifier can only be used on comparison operators/);
    rejects('{a=~"(x"}', /invalid regular expression "\(x"/);
    rejects('{a="b"} |~ "a(?=b)"', /invalid regular expression/);
    rejects('{a="\\q"}', /unknown escape sequence/);
    rejects('count_over_time({a="b"}[1500us])', /not a whole number of milliseconds/);
  });

  test('property: any text parses or fails with a QueryError, quickly', () => {
    const tokens = [
      '{',
      '}',
      '(',
      ')',
      '[5m]',
      '"x"',
      '`y`',
      'a',
      '=',
      '!=',
      '=~',
      '!~',
      '|=',
      '|~',
      '|',
      'json',
      'logfmt',
      'unwrap',
      'sum',
      'by',
      'without',
      'rate',
      'count_over_time',
      'topk',
      '2',
      '-1.5',
      '+',
      '*',
      '^',
      'bool',
      'or',
      'and',
      'offset',
      '1h',
      ',',
      'vector',
      'line_format',
      'label_format',
      'drop',
      'keep',
      '__error__',
      '>',
      '250ms',
      '5MB',
      'on',
      'ignoring',
      'group_left',
      '"(?i)A.*[[:alpha:]]\\\\d"',
      '"\\\\"',
    ];
    const soup = fc.array(fc.constantFrom(...tokens), { maxLength: 30 }).map((t) => t.join(' '));
    const check = (q: string) => {
      const t = performance.now();
      try {
        parseQuery(q);
      } catch (err) {
        if (!(err instanceof QueryError)) throw err;
      }
      assert.ok(performance.now() - t < 200, `slow parse for ${JSON.stringify(q)}`);
    };
    fc.assert(fc.property(fc.string({ maxLength: 80 }), check), { numRuns: 2000 });
    fc.assert(fc.property(soup, check), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), check), { numRuns: 500 });
  });
});
