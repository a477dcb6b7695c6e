/**
 * Federated queries over three Loki-shaped instances on loopback serving answers built from real events, one of
 * them stopped: results from the other two, merged, plus a report of the third's failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MatrixResult, QueryData, RangeQueryRequest, StreamResult } from '../../src/query/api.ts';
import { QueryError } from '../../src/query/api.ts';
import { Federation } from '../../src/query/federation.ts';
import type { FederationConfig } from '../../src/sinks/config.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { startReceiver } from '../http-receiver.ts';
import { countByDocument, type LokiInstance, startLokiInstance, streamsDocument } from '../loki-documents.ts';
import { fixtureEvents } from '../telemetry-events.ts';

const LOGS = '{service="claude-telemetry"} |= "session"';
const LOGS_FORWARD = '{service="claude-telemetry"}';
const COUNT = 'sum by (event_type) (count_over_time({service="claude-telemetry"}[1m]))';
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const STEP = 60;

const byHost: Record<string, TelemetryEvent[]> = {
  a: fixtureEvents(40, { host: 'host-a', startMs: T0 }),
  b: fixtureEvents(40, { host: 'host-b', startMs: T0 + 500 }),
  c: fixtureEvents(40, { host: 'host-c', startMs: T0 + 250 }),
};
const instances: Record<string, LokiInstance> = {};
const extra: { close(): Promise<void> }[] = [];

function docs(events: TelemetryEvent[]): Map<string, QueryData> {
  return new Map([
    [LOGS, streamsDocument(events, 'backward', 25)],
    [LOGS_FORWARD, streamsDocument(events, 'forward', 25)],
    [COUNT, countByDocument(events, 'event_type', T0 / 1000, STEP)],
  ]);
}

before(async () => {
  for (const name of ['a', 'b', 'c'])
    instances[name] = await startLokiInstance(byHost[name]!, docs(byHost[name]!));
  await instances.c!.close(); // the stopped one
});
after(async () => {
  for (const i of [instances.a, instances.b]) await i?.close();
  for (const x of extra) await x.close();
});

function federation(over: Partial<FederationConfig> = {}, names = ['a', 'b', 'c']): Federation {
  return new Federation({
    instances: names.map((n) => ({ name: n, url: instances[n]!.url, auth: { type: 'none' }, headers: {} })),
    timeoutMs: 2_000,
    instanceLabel: 'instance',
    ...over,
  });
}

function rangeRequest(query: string, over: Partial<RangeQueryRequest> = {}): RangeQueryRequest {
  return {
    query,
    start: BigInt(T0) * 1_000_000n,
    end: BigInt(T0 + 3_600_000) * 1_000_000n,
    limit: 30,
    direction: 'backward',
    stepMs: STEP * 1000,
    categorizeLabels: false,
    ...over,
  };
}

const entries = (result: StreamResult[]) =>
  result.flatMap((s) =>
    s.values.map((v) => ({ ns: BigInt(v[0]), instance: s.stream.instance, host: s.stream.host })),
  );

describe('federated log query', () => {
  it('merges the two live instances by time, cuts at limit, and reports the stopped one', async () => {
    const { data, instances: report } = await federation().queryRange(rangeRequest(LOGS));
    assert.equal(data.resultType, 'streams');
    const got = entries((data as { result: StreamResult[] }).result);
    assert.equal(got.length, 30, 'cut at the limit over all instances');
    const all = [...byHost.a!, ...byHost.b!]
      .map((e) => BigInt(Date.parse(e.timestamp)) * 1_000_000n)
      .sort((x, y) => (x < y ? 1 : x > y ? -1 : 0));
    assert.deepEqual(
      got.map((e) => e.ns).sort((x, y) => (x < y ? 1 : x > y ? -1 : 0)),
      all.slice(0, 30),
      'the newest 30 entries of a and b together',
    );
    for (const s of (data as { result: StreamResult[] }).result) {
      assert.ok(['a', 'b'].includes(s.stream.instance!), 'origin visible');
      assert.equal(s.stream.host, `host-${s.stream.instance}`);
      const ns = s.values.map((v) => BigInt(v[0]));
      assert.deepEqual(
        ns,
        [...ns].sort((x, y) => (x < y ? 1 : x > y ? -1 : 0)),
        'backward within a stream',
      );
    }
    assert.deepEqual(
      report.map((r) => [r.name, r.ok]),
      [
        ['a', true],
        ['b', true],
        ['c', false],
      ],
    );
    assert.match(report[2]!.error!, /ECONNREFUSED/);
    assert.ok(report.every((r) => r.ms >= 0));
  });

  it('forward direction orders oldest first; without the instance label equal label sets are joined', async () => {
    const { data } = await federation({ instanceLabel: null }, ['a', 'b']).queryRange(
      rangeRequest(LOGS_FORWARD, { direction: 'forward', limit: 1000 }),
    );
    const result = (data as { result: StreamResult[] }).result;
    assert.equal(entries(result).length, 50, 'all 25 + 25 entries');
    for (const s of result) {
      assert.equal(s.stream.instance, undefined);
      const ns = s.values.map((v) => BigInt(v[0]));
      assert.deepEqual(
        ns,
        [...ns].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
      );
    }
  });

  it('passes tenant, auth and categorize-labels to the instances', async () => {
    const r = await startReceiver(() => ({
      status: 200,
      body: JSON.stringify({
        status: 'success',
        data: { resultType: 'streams', result: [], encodingFlags: ['categorize-labels'] },
      }),
    }));
    extra.push(r);
    const fed = new Federation({
      instances: [
        {
          name: 'x',
          url: r.url,
          tenant: 't1',
          auth: { type: 'bearer', token: 'tok' },
          headers: { 'x-extra': '1' },
        },
      ],
      timeoutMs: 1_000,
      instanceLabel: 'instance',
    });
    const { data } = await fed.queryRange(rangeRequest(LOGS, { categorizeLabels: true }));
    const req = r.requests[0]!;
    assert.equal(req.headers['x-scope-orgid'], 't1');
    assert.equal(req.headers.authorization, 'Bearer tok');
    assert.equal(req.headers['x-extra'], '1');
    assert.equal(req.headers['x-loki-response-encoding-flags'], 'categorize-labels');
    const url = new URL(req.url, 'http://x');
    assert.equal(url.pathname, '/loki/api/v1/query_range');
    assert.equal(url.searchParams.get('start'), (BigInt(T0) * 1_000_000n).toString());
    assert.equal(url.searchParams.get('step'), '60000ms');
    assert.deepEqual((data as { encodingFlags?: string[] }).encodingFlags, ['categorize-labels']);
  });
});

describe('federated metric query', () => {
  it('sums series with the same label set point by point', async () => {
    const { data, instances: report } = await federation().queryRange(rangeRequest(COUNT));
    assert.equal(data.resultType, 'matrix');
    const result = (data as { result: MatrixResult[] }).result;
    const expected = new Map<string, number>();
    for (const e of [...byHost.a!, ...byHost.b!])
      expected.set(e.event_type, (expected.get(e.event_type) ?? 0) + 1);
    const totals = new Map(
      result.map((m) => [m.metric.event_type!, m.values.reduce((n, [, v]) => n + Number(v), 0)]),
    );
    assert.deepEqual(totals, expected);
    for (const m of result)
      assert.equal(m.metric.instance, undefined, 'summed series carry no instance label');
    assert.equal(report.filter((r) => !r.ok).length, 1);
  });

  it('keeps one series per instance when asked', async () => {
    const { data } = await federation().queryRange(rangeRequest(COUNT), 'keep');
    const result = (data as { result: MatrixResult[] }).result;
    assert.deepEqual(new Set(result.map((m) => m.metric.instance)), new Set(['a', 'b']));
  });

  it('refuses aggregations that summing would get wrong, before asking anyone', async () => {
    const before = instances.a!.requests.length;
    for (const q of [
      'avg by (tool) (rate({service="claude-telemetry"}[1m]))',
      'topk(3, sum by (tool) (rate({service="claude-telemetry"}[1m])))',
      'sum(rate({service="claude-telemetry"} |= "x" [1m])) / sum(rate({service="claude-telemetry"}[1m]))',
      'quantile_over_time(0.9, {service="claude-telemetry"} | json | unwrap duration_ms [1m])',
    ]) {
      await assert.rejects(federation().queryRange(rangeRequest(q)), (err: unknown) => {
        return (
          err instanceof QueryError && /cannot be merged/.test(err.message) && /merge=keep/.test(err.message)
        );
      });
    }
    await assert.rejects(federation().queryRange(rangeRequest('sum(')), QueryError);
    assert.equal(instances.a!.requests.length, before);
  });
});

describe('federated metadata and health', () => {
  it('unions labels, label values and series (series keep their instance)', async () => {
    const fed = federation();
    const labels = await fed.labels();
    assert.deepEqual(labels.data, ['event_type', 'host', 'level', 'project', 'service']);
    assert.equal(labels.instances[2]!.ok, false);
    const hosts = await fed.labelValues('host');
    assert.deepEqual(hosts.data, ['host-a', 'host-b']);
    const series = await fed.series({ match: ['{service="claude-telemetry"}'] });
    assert.ok(series.data.length > 2);
    assert.ok(series.data.every((s) => s.instance === s.host!.slice(5)));
    const url = new URL(instances.a!.requests.at(-1)!.url, 'http://x');
    assert.deepEqual(url.searchParams.getAll('match[]'), ['{service="claude-telemetry"}']);
  });

  it('reports /ready per instance', async () => {
    const health = await federation().health();
    assert.deepEqual(
      health.map((h) => [h.name, h.ok]),
      [
        ['a', true],
        ['b', true],
        ['c', false],
      ],
    );
  });

  it('reports a slow instance as timed out and an erroring one with its message, within the time limit', async () => {
    const slow = await startLokiInstance(byHost.a!, docs(byHost.a!), { delayMs: 3_000 });
    const broken = await startReceiver(() => ({ status: 200, body: '<html>not loki</html>' }));
    const failing = await startReceiver(() => ({
      status: 500,
      body: '{"message":"too many outstanding requests"}',
    }));
    extra.push(slow, broken, failing);
    const fed = new Federation({
      instances: [
        { name: 'a', url: instances.a!.url, auth: { type: 'none' }, headers: {} },
        { name: 'slow', url: slow.url, auth: { type: 'none' }, headers: {} },
        { name: 'broken', url: broken.url, auth: { type: 'none' }, headers: {} },
        { name: 'failing', url: failing.url, auth: { type: 'none' }, headers: {} },
      ],
      timeoutMs: 300,
      instanceLabel: 'instance',
    });
    const t = performance.now();
    const { data, instances: report } = await fed.queryRange(rangeRequest(LOGS));
    assert.ok(performance.now() - t < 1_500, 'bounded by the per-instance time limit');
    assert.equal(
      entries((data as { result: StreamResult[] }).result).length,
      25,
      'the live instance answered',
    );
    const byName = Object.fromEntries(report.map((r) => [r.name, r]));
    assert.equal(byName.a!.ok, true);
    assert.match(byName.slow!.error!, /timed out after 300 ms/);
    assert.match(byName.broken!.error!, /unexpected response/);
    assert.equal(byName.failing!.status, 500);
    assert.match(byName.failing!.error!, /HTTP 500: too many outstanding requests/);
  });
});
