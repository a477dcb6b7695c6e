import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueryData } from '../../src/query/api.ts';
import { QueryError } from '../../src/query/api.ts';
import { type MergeOptions, mergePlan, mergeQueryData, mergeStreams } from '../../src/query/federation.ts';

const stats = (n: number) => ({
  summary: { execTime: n, totalEntriesReturned: n, totalLinesProcessed: 10 * n, totalBytesProcessed: 0 },
});
const opts = (over: Partial<MergeOptions> = {}): MergeOptions => ({
  limit: 100,
  direction: 'backward',
  instanceLabel: 'instance',
  combine: 'sum',
  ...over,
});

describe('mergePlan', () => {
  it('classifies by the outermost operation', () => {
    assert.deepEqual(mergePlan('{a="b"} | json'), { kind: 'logs' });
    assert.deepEqual(mergePlan('sum by (tool) (rate({a="b"}[1m]))'), { kind: 'metric', combine: 'sum' });
    assert.deepEqual(mergePlan('bytes_over_time({a="b"}[1m])'), { kind: 'metric', combine: 'sum' });
    assert.deepEqual(mergePlan('max by (tool) (count_over_time({a="b"}[1m]))'), {
      kind: 'metric',
      combine: 'max',
    });
    assert.deepEqual(mergePlan('min_over_time({a="b"} | unwrap x [1m])'), { kind: 'metric', combine: 'min' });
    assert.deepEqual(mergePlan('vector(1)+vector(1)'), { kind: 'constant' });
    for (const q of ['avg(rate({a="b"}[1m]))', 'count(rate({a="b"}[1m]))', 'bottomk(2, rate({a="b"}[1m]))']) {
      assert.ok('refuse' in mergePlan(q), q);
    }
    assert.throws(() => mergePlan('{a="b"'), QueryError);
  });
});

describe('mergeStreams', () => {
  const parts = [
    {
      name: 'x',
      result: [
        {
          stream: { host: 'h' },
          values: [
            ['300', 'x3'],
            ['100', 'x1'],
          ] as [string, string][],
        },
      ],
    },
    {
      name: 'y',
      result: [
        {
          stream: { host: 'h' },
          values: [
            ['1000', 'y10'],
            ['200', 'y2'],
          ] as [string, string][],
        },
      ],
    },
  ];

  it('orders by time across instances (numeric, not lexical) and cuts at limit', () => {
    const out = mergeStreams(parts, opts({ limit: 3 }));
    assert.deepEqual(out, [
      {
        stream: { host: 'h', instance: 'y' },
        values: [
          ['1000', 'y10'],
          ['200', 'y2'],
        ],
      },
      { stream: { host: 'h', instance: 'x' }, values: [['300', 'x3']] },
    ]);
  });

  it('joins equal label sets without an instance label, oldest first for forward', () => {
    const out = mergeStreams(parts, opts({ instanceLabel: null, direction: 'forward' }));
    assert.deepEqual(out, [
      {
        stream: { host: 'h' },
        values: [
          ['100', 'x1'],
          ['200', 'y2'],
          ['300', 'x3'],
          ['1000', 'y10'],
        ],
      },
    ]);
  });
});

describe('mergeQueryData', () => {
  const matrix = (values: [number, string][], metric = { tool: 'Bash' }, n = 1): QueryData => ({
    resultType: 'matrix',
    result: [{ metric, values }],
    stats: stats(n),
  });

  it('sums, maxes or mins points with the same time; keeps special values; adds up stats', () => {
    const a = matrix([
      [60, '1'],
      [120, '+Inf'],
    ]);
    const b = matrix(
      [
        [60, '2.5'],
        [180, '4'],
      ],
      { tool: 'Bash' },
      2,
    );
    const parts = [
      { name: 'a', data: a },
      { name: 'b', data: b },
    ];
    const summed = mergeQueryData(parts, opts());
    assert.deepEqual(summed.result, [
      {
        metric: { tool: 'Bash' },
        values: [
          [60, '3.5'],
          [120, '+Inf'],
          [180, '4'],
        ],
      },
    ]);
    assert.equal(summed.stats.summary.totalLinesProcessed, 30);
    assert.equal(summed.stats.summary.execTime, 2, 'instances run in parallel: the longest');
    assert.deepEqual(
      (mergeQueryData(parts, opts({ combine: 'max' })).result as { values: unknown }[])[0]!.values,
      [
        [60, '2.5'],
        [120, '+Inf'],
        [180, '4'],
      ],
    );
    assert.deepEqual(
      (mergeQueryData(parts, opts({ combine: 'min' })).result as { values: unknown }[])[0]!.values,
      [
        [60, '1'],
        [120, '+Inf'],
        [180, '4'],
      ],
    );
  });

  it('merges vectors by label set and labels per instance without combining', () => {
    const v = (value: string, tool: string): QueryData => ({
      resultType: 'vector',
      result: [{ metric: { tool }, value: [10, value] }],
      stats: stats(1),
    });
    const parts = [
      { name: 'a', data: v('2', 'Bash') },
      { name: 'b', data: v('3', 'Bash') },
      { name: 'c', data: v('5', 'Read') },
    ];
    assert.deepEqual(mergeQueryData(parts, opts()).result, [
      { metric: { tool: 'Bash' }, value: [10, '5'] },
      { metric: { tool: 'Read' }, value: [10, '5'] },
    ]);
    const kept = mergeQueryData(parts, opts({ combine: null })).result as {
      metric: Record<string, string>;
    }[];
    assert.deepEqual(
      kept.map((r) => r.metric.instance),
      ['a', 'b', 'c'],
    );
  });

  it('refuses answers of different result types and returns empty streams when nobody answered', () => {
    assert.throws(
      () =>
        mergeQueryData(
          [
            { name: 'a', data: matrix([]) },
            { name: 'b', data: { resultType: 'streams', result: [], stats: stats(0) } },
          ],
          opts(),
        ),
      /different result types/,
    );
    assert.deepEqual(mergeQueryData([], opts()).result, []);
  });
});
