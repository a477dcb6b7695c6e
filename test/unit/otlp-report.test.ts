/**
 * Reports over both sources: a request seen by transcripts and OTLP is counted once and marked `both`, each
 * source keeps its own totals, OTLP-only requests (with or without a request id) add to the figures without
 * double counting, agents get their source, and the OTLP metrics (delta and cumulative) are summed apart.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../src/store/index.ts';
import type { UsageRow } from '../../src/store/store.ts';
import { type OtelMetricRow, type OtelRequestRow, usageMetricsOf } from '../../src/usage/otel.ts';
import {
  addSum,
  costReport,
  emptySum,
  Pricing,
  type UsageSum,
  usageByAgent,
} from '../../src/usage/report.ts';
import { tempPaths } from '../helpers.ts';

const T0 = Date.parse('2026-11-21T10:00:00Z');
const PRICE = new Pricing({ 'test-model': { input: 1, output: 10 } });

function usage(id: string, over: Partial<UsageRow> = {}): UsageRow {
  return {
    message_id: `msg_${id}`,
    request_id: `req_${id}`,
    session_id: 'S1',
    agent_id: '',
    agent_type: null,
    project_path: '/p/demo',
    project_name: 'demo',
    model: 'test-model',
    ts: T0,
    input_tokens: 1000,
    output_tokens: 100,
    cache_creation_tokens: 0,
    cache_creation_1h_tokens: 0,
    cache_read_tokens: 0,
    ...over,
  };
}

function otel(id: string | null, over: Partial<OtelRequestRow> = {}): OtelRequestRow {
  return {
    request_key: id ? `req_${id}` : `S1:seq:${over.ts ?? T0}`,
    request_id: id ? `req_${id}` : null,
    session_id: 'S1',
    agent_id: '',
    prompt_id: 'p1',
    model: 'test-model',
    query_source: 'sdk',
    agent_name: null,
    ts: T0,
    duration_ms: 50,
    cost_usd: 0.5,
    input_tokens: 1000,
    output_tokens: 100,
    cache_creation_tokens: 0,
    cache_creation_1h_tokens: 0,
    cache_read_tokens: 0,
    service_version: '2.1.329',
    ...over,
  };
}

let paths: ReturnType<typeof tempPaths>;
let store: Store;

before(() => {
  paths = tempPaths('otlp-report');
  store = Store.open(paths.storeFile);
  // S1: three requests in transcripts (a, b main; c subagent A1), OTLP saw a and c, plus d (main) and e
  // (subagent A2) that no transcript has.
  store.recordUsage([
    usage('a'),
    usage('b'),
    usage('c', { agent_id: 'A1', agent_type: 'general-purpose', input_tokens: 500, output_tokens: 50 }),
  ]);
  store.recordOtelRequests([
    otel('a'),
    otel('c', { agent_id: 'A1', agent_name: 'general-purpose', input_tokens: 500, output_tokens: 50 }),
    otel('d', { input_tokens: 200, output_tokens: 20, cost_usd: 0.25 }),
    otel('e', { agent_id: 'A2', agent_name: 'Explore', input_tokens: 300, output_tokens: 30 }),
    // S2: OTLP only, one event without a request id.
    otel(null, { session_id: 'S2', request_key: 'S2:seq:1', input_tokens: 10, output_tokens: 1 }),
  ]);
  // Sent again (an exporter retry): nothing new.
  assert.equal(store.recordOtelRequests([otel('a'), otel('d')]), 0);
  // S3: transcripts only, and an OTLP event without request id that must not be added to them.
  store.recordUsage([usage('f', { session_id: 'S3' })]);
  store.recordOtelRequests([otel(null, { session_id: 'S3', request_key: 'S3:seq:1' })]);
});

after(() => {
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
});

describe('cost over transcripts and OTLP', () => {
  test('each request once; source and per-source totals', () => {
    const r = costReport(store, PRICE);
    const s1 = r.rows.find((x) => x.key === 'S1')!;
    // a, b, c from transcripts + d, e from OTLP only.
    assert.equal(s1.messages, 5);
    assert.equal(s1.input, 1000 + 1000 + 500 + 200 + 300);
    assert.equal(s1.output, 100 + 100 + 50 + 20 + 30);
    assert.equal(s1.source, 'both');
    assert.equal(s1.sources?.transcript?.messages, 3);
    assert.equal(s1.sources?.otel?.messages, 4);
    assert.equal(s1.sources?.otel?.input, 1000 + 500 + 200 + 300);
    assert.equal(s1.sources?.otel?.reported_cost_usd, 0.5 + 0.5 + 0.25 + 0.5);
    // Our price table over the counted-once tokens: input $1/M, output $10/M.
    assert.ok(Math.abs((s1.cost ?? 0) - (3000 / 1e6 + 300 / 1e5)) < 1e-12);

    const s2 = r.rows.find((x) => x.key === 'S2')!;
    assert.equal(s2.source, 'otel');
    assert.equal(s2.messages, 1);
    const s3 = r.rows.find((x) => x.key === 'S3')!;
    assert.equal(s3.source, 'transcript');
    assert.equal(s3.messages, 1, 'an OTLP event without request id does not add to a transcript session');
    assert.equal(r.source, 'both');
    assert.equal(r.total.messages, 5 + 1 + 1);
    assert.equal(r.total.sources?.transcript?.messages, 4);
    assert.equal(r.total.sources?.otel?.messages, 5);
  });

  test('filters apply to both sources', () => {
    const r = costReport(store, PRICE, { session: 'S2' });
    assert.equal(r.rows.length, 1);
    assert.equal(r.source, 'otel');
    assert.equal(costReport(store, PRICE, { since: T0 + 1 }).rows.length, 0);
  });

  test('by agent: OTLP-only subagents appear with their type; sources per agent', () => {
    const r = costReport(store, PRICE, { by: 'agent', session: 'S1' });
    const byAgent = new Map(r.rows.map((x) => [x.agent_id, x]));
    assert.deepEqual([...byAgent.keys()].sort(), ['', 'A1', 'A2']);
    assert.equal(byAgent.get('')?.source, 'both');
    assert.equal(byAgent.get('')?.messages, 3);
    assert.equal(byAgent.get('A1')?.source, 'both');
    assert.equal(byAgent.get('A1')?.messages, 1);
    assert.equal(byAgent.get('A2')?.source, 'otel');
    assert.equal(byAgent.get('A2')?.agent_type, 'Explore');

    const agents = usageByAgent(store, PRICE, 'S1');
    assert.equal(agents.get('S1/A1')?.sources?.transcript?.input, 500);
    assert.equal(agents.get('S1/A1')?.sources?.otel?.input, 500);
    assert.equal(agents.get('S1/A2')?.agent_type, 'Explore');
    const sum: UsageSum = emptySum();
    for (const u of agents.values()) addSum(sum, u);
    const { rows: _rows, ...whole } = costReport(store, PRICE, { session: 'S1' });
    const { key: _k, ...s1 } = costReport(store, PRICE, { session: 'S1' }).rows[0]!;
    assert.deepEqual(sum, { ...s1, unpriced: [] });
    assert.equal(whole.total.messages, 5);
  });
});

describe('OTLP metrics in the cost report', () => {
  test('deltas add up; of a cumulative series only the latest point counts', () => {
    const point = (over: Partial<OtelMetricRow>): OtelMetricRow => ({
      metric: 'claude_code.token.usage',
      series: '{"session.id":"S1","type":"input"}',
      start_ns: '1',
      time_ns: '100',
      session_id: 'S1',
      model: 'test-model',
      query_source: 'main',
      type: 'input',
      cumulative: 0,
      value: 10,
      ts: T0,
      ...over,
    });
    store.recordOtelMetrics([
      point({ time_ns: '100', value: 10 }),
      point({ time_ns: '200', value: 5 }),
      point({ metric: 'claude_code.cost.usage', type: null, series: 'c', value: 0.25 }),
      // cumulative: 7 then 12 (the total is 12), and a restarted series (new start) at 3.
      point({ series: 'cum', cumulative: 1, time_ns: '100', value: 7, type: 'output' }),
      point({ series: 'cum', cumulative: 1, time_ns: '200', value: 12, type: 'output' }),
      point({ series: 'cum', cumulative: 1, start_ns: '300', time_ns: '400', value: 3, type: 'output' }),
    ]);
    // The same points again: stored once.
    assert.equal(store.recordOtelMetrics([point({ time_ns: '100', value: 10 })]), 0);
    const r = costReport(store, PRICE);
    assert.deepEqual(r.metrics, { cost_usd: 0.25, input: 15, output: 15, cacheRead: 0, cacheCreation: 0 });
    assert.equal(r.rows.find((x) => x.key === 'S1')?.metrics?.input, 15);
    assert.equal(r.rows.find((x) => x.key === 'S2')?.metrics, undefined);
    const byModel = costReport(store, PRICE, { by: 'model' });
    assert.equal(byModel.rows.find((x) => x.key === 'test-model')?.metrics?.output, 15);
  });

  test('points decoded from a request land in the same sums', () => {
    const req = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'claude_code.cost.usage',
                  sum: {
                    aggregationTemporality: 1,
                    dataPoints: [
                      {
                        attributes: [{ key: 'session.id', value: { stringValue: 'S9' } }],
                        startTimeUnixNano: '1795255200000000000',
                        timeUnixNano: '1795255201000000000',
                        asDouble: 1.5,
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    store.recordOtelMetrics(usageMetricsOf(req).rows);
    assert.equal(costReport(store, PRICE, { session: 'S9' }).metrics?.cost_usd, 1.5);
  });
});
