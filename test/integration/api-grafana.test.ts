/**
 * Grafana compatibility over real HTTP on 127.0.0.1 (ephemeral port), with the real pipeline, store and LogQL
 * engine: the requests Grafana's Loki data source sends (pkg/tsdb/loki: health check, logs volume, label
 * browser, Explore with categorize-labels, ns times and step=<N>ms), a live tail over WebSocket, pushes in all
 * three encodings read back verbatim, and Loki's errors. Shapes follow the Loki HTTP API reference.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { AuditLog } from '../../src/audit/index.ts';
import * as spool from '../../src/capture/spool.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { QueryEngine, type StreamResult } from '../../src/query/index.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { encodeSnappyPush } from '../../src/sinks/loki-wire.ts';
import { Store } from '../../src/store/index.ts';
import { tempPaths, writeSpoolFiles } from '../helpers.ts';

let paths: DataPaths;
let audit: AuditLog;
let store: Store;
let pipeline: Pipeline;
let engine: QueryEngine;
let api: ApiServer;
const EVENTS = 40;
let t0Ns: bigint;

before(async () => {
  paths = tempPaths('api-grafana');
  audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  store = Store.open(paths.storeFile);
  pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  t0Ns = (BigInt(Date.now()) - 60_000n) * 1_000_000n;
  // One real session (captured hook payloads) through the real pipeline.
  writeSpoolFiles(paths, EVENTS, EVENTS);
  const r = pipeline.runBatch(spool.listReady(paths));
  assert.equal(r.stored, EVENTS);
  engine = new QueryEngine(store);
  api = await startApiServer({ store, pipeline, engine, host: '127.0.0.1', port: 0, tailPollMs: 50 });
});

after(async () => {
  await api.close();
  audit.close();
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
});

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

async function getJson<T = Record<string, unknown>>(
  path: string,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(`${api.url}${path}`, { headers });
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return JSON.parse(text) as T;
}

async function expectError(path: string, status: number, pattern: RegExp, init?: RequestInit): Promise<void> {
  const res = await fetch(`${api.url}${path}`, init);
  const text = await res.text();
  assert.equal(res.status, status, `${path}: ${text}`);
  assert.match(text, pattern);
  assert.doesNotMatch(text, /\n\s+at /);
}

function qs(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

interface QueryBody<R> {
  status: string;
  data: {
    resultType: string;
    result: R;
    stats: { summary: Record<string, number> };
    encodingFlags?: string[];
  };
}

describe('Grafana data source', () => {
  test('health check: vector(1)+vector(1) as Grafana sends it answers one sample "2"', async () => {
    // healthcheck.go: instant query, time range 1-4 s, step 1s; api.go sends time as ns.
    const body = await getJson<QueryBody<{ metric: object; value: [number, string] }[]>>(
      `/loki/api/v1/query?direction=backward&query=vector(1)%2Bvector(1)&time=4000000000`,
    );
    assert.equal(body.status, 'success');
    assert.equal(body.data.resultType, 'vector');
    assert.equal(body.data.result.length, 1);
    assert.deepEqual(body.data.result[0]?.metric, {});
    assert.equal(body.data.result[0]?.value[1], '2');
    assert.equal(typeof body.data.result[0]?.value[0], 'number');
    assert.equal(typeof body.data.stats.summary.execTime, 'number');
  });

  test('logs volume: sum by (level, detected_level) with X-Query-Tags, ns times, step in ms', async () => {
    const end = nowNs();
    const start = end - 3_600_000_000_000n;
    const body = await getJson<QueryBody<{ metric: Record<string, string>; values: [number, string][] }[]>>(
      `/loki/api/v1/query_range?${qs({
        direction: 'backward',
        query:
          'sum by (level, detected_level) (count_over_time({service="claude-telemetry"} | drop __error__[1m]))',
        start: String(start),
        end: String(end),
        step: '60000ms',
      })}`,
      { 'X-Query-Tags': 'Source=logvolhist' },
    );
    assert.equal(body.data.resultType, 'matrix');
    let total = 0;
    for (const series of body.data.result) {
      assert.ok('level' in series.metric, JSON.stringify(series.metric));
      let prev = -Infinity;
      for (const [t, v] of series.values) {
        assert.ok(t > prev, 'oldest first');
        // Points sit on start + k * step (60000ms).
        assert.equal(
          Math.round((t * 1000 - Number(start / 1_000_000n)) % 60_000),
          0,
          `point ${t} off the step grid`,
        );
        prev = t;
        total += Number(v);
      }
    }
    // Non-overlapping 1m windows on a 1m step count every event exactly once.
    assert.equal(total, EVENTS);
  });

  test('label browser: labels, label values with query=, series by match[] (GET and POST)', async () => {
    const range = `start=${t0Ns}&end=${nowNs()}`;
    const labels = await getJson<{ status: string; data: string[] }>(`/loki/api/v1/labels?${range}`);
    assert.equal(labels.status, 'success');
    for (const l of ['service', 'event_type', 'project', 'session_id']) assert.ok(labels.data.includes(l), l);

    const types = await getJson<{ data: string[] }>(
      `/loki/api/v1/label/event_type/values?${range}&${qs({ query: '{service="claude-telemetry"}' })}`,
    );
    assert.ok(types.data.length > 1);
    const tools = await getJson<{ data: string[] }>(
      `/loki/api/v1/label/tool/values?${range}&${qs({ query: '{event_type="command_execution"}' })}`,
    );
    assert.deepEqual(tools.data, ['Bash']);

    const series = await getJson<{ status: string; data: Record<string, string>[] }>(
      `/loki/api/v1/series?${range}&${qs({ 'match[]': '{event_type="command_execution"}' })}`,
    );
    assert.ok(series.data.length >= 1);
    for (const s of series.data) assert.equal(s.event_type, 'command_execution');

    const posted = await fetch(`${api.url}/loki/api/v1/series`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `${range}&${qs({ 'match[]': '{event_type="command_execution"}' })}`,
    });
    assert.equal(posted.status, 200);
    assert.deepEqual(((await posted.json()) as { data: unknown }).data, series.data);

    const stats = await getJson<Record<string, number>>(
      `/loki/api/v1/index/stats?${range}&${qs({ query: '{service="claude-telemetry"}' })}`,
    );
    assert.deepEqual(Object.keys(stats).sort(), ['bytes', 'chunks', 'entries', 'streams']);
    assert.equal(stats.entries, EVENTS);
  });

  test('Explore: categorize-labels gives 3-tuples with metadata apart; without it metadata is in the stream', async () => {
    const path = `/loki/api/v1/query_range?${qs({
      query: '{service="claude-telemetry"} |= "Bash"',
      start: String(t0Ns),
      end: String(nowNs()),
      limit: '1000',
      direction: 'backward',
      step: '2000ms',
    })}`;
    const cat = await getJson<QueryBody<StreamResult[]>>(path, {
      'X-Loki-Response-Encoding-Flags': 'categorize-labels',
      'X-Query-Tags': 'Source=grafana-explore',
    });
    assert.equal(cat.data.resultType, 'streams');
    assert.deepEqual(cat.data.encodingFlags, ['categorize-labels']);
    assert.ok(cat.data.result.length > 0);
    for (const s of cat.data.result) {
      assert.equal(s.stream.session_id, undefined, 'metadata is not a stream label');
      for (const v of s.values) {
        assert.equal(v.length, 3);
        assert.match(v[0], /^\d{19}$/);
        assert.ok(v[1].includes('Bash'));
        assert.equal(typeof v[2]?.structuredMetadata?.session_id, 'string');
      }
    }
    const plain = await getJson<QueryBody<StreamResult[]>>(path);
    assert.equal(plain.data.encodingFlags, undefined);
    for (const s of plain.data.result) {
      assert.equal(typeof s.stream.session_id, 'string');
      for (const v of s.values) assert.equal(v.length, 2);
    }
    const lines = (r: StreamResult[]) => r.flatMap((s) => s.values.map((v) => v[1])).sort();
    assert.deepEqual(lines(plain.data.result), lines(cat.data.result));
  });

  test('responses are gzip-compressed for clients that accept it', async () => {
    const path = `/loki/api/v1/query_range?${qs({ query: '{service="claude-telemetry"}', start: String(t0Ns), limit: '1000' })}`;
    const res = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(`${api.url}${path}`, { headers: { 'Accept-Encoding': 'gzip' } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ headers: r.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const body = JSON.parse(gunzipSync(res.body).toString('utf8')) as QueryBody<StreamResult[]>;
    assert.equal(body.data.result.flatMap((s) => s.values).length, EVENTS);
  });
});

describe('push then query', () => {
  test('lines pushed as JSON, JSON+gzip and protobuf+snappy come back verbatim with their ns timestamps', async () => {
    const base = nowNs() - 5_000_000_000n;
    const lines = [
      'plain "json" line',
      'gzip line with unicode \u00e9\u{1F600}',
      '{"level":"warn","msg":"proto line"}',
    ];
    const j = (ts: bigint, line: string) =>
      JSON.stringify({
        streams: [
          { stream: { job: 'pushtest', host: 'web-1' }, values: [[String(ts), line, { trace_id: 'tr-1' }]] },
        ],
      });
    const push = (body: Buffer | string, headers: Record<string, string>) =>
      fetch(`${api.url}/loki/api/v1/push`, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
    assert.equal(
      (await push(j(base + 1n, lines[0] as string), { 'Content-Type': 'application/json' })).status,
      204,
    );
    assert.equal(
      (
        await push(gzipSync(j(base + 2n, lines[1] as string)), {
          'Content-Type': 'application/json',
          'Content-Encoding': 'gzip',
        })
      ).status,
      204,
    );
    const proto = encodeSnappyPush([
      {
        labels: { job: 'pushtest', host: 'web-1' },
        entries: [
          { timestampNs: base + 3n, line: lines[2] as string, structuredMetadata: { trace_id: 'tr-1' } },
        ],
      },
    ]);
    assert.equal((await push(proto, { 'Content-Type': 'application/x-protobuf' })).status, 204);

    const body = await getJson<QueryBody<StreamResult[]>>(
      `/loki/api/v1/query_range?${qs({ query: '{job="pushtest"}', start: String(base), end: String(nowNs()), direction: 'forward' })}`,
    );
    const values = body.data.result.flatMap((s) => s.values).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    assert.deepEqual(
      values.map((v) => [v[0], v[1]]),
      lines.map((l, i) => [String(base + BigInt(i + 1)), l]),
    );
    for (const s of body.data.result) {
      assert.equal(s.stream.job, 'pushtest');
      assert.equal(s.stream.host, 'web-1');
      assert.equal(s.stream.trace_id, 'tr-1');
    }
    // A structured-metadata filter finds them too, and a metric over the pushed stream counts them.
    const count = await getJson<QueryBody<{ value: [number, string] }[]>>(
      `/loki/api/v1/query?${qs({ query: 'sum(count_over_time({job="pushtest"} | trace_id="tr-1" [1m]))', time: String(nowNs()) })}`,
    );
    assert.equal(count.data.result[0]?.value[1], '3');
  });
});

describe('errors as Loki gives them', () => {
  test('400 with a message naming the broken part', async () => {
    await expectError(
      `/loki/api/v1/query_range?${qs({ query: '{service=' })}`,
      400,
      /parse error at line 1, col 10/,
    );
    await expectError(
      `/loki/api/v1/query_range?${qs({ query: '{a="b"}', limit: '-1' })}`,
      400,
      /limit must be a positive value/,
    );
    await expectError(
      `/loki/api/v1/query_range?${qs({ query: '{a="b"}', start: 'yesterday' })}`,
      400,
      /'start'/,
    );
    await expectError(
      `/loki/api/v1/query_range?${qs({ query: '{a="b"}', step: '0' })}`,
      400,
      /zero or negative query resolution step/,
    );
    await expectError(
      `/loki/api/v1/query?${qs({ query: '{a="b"}', direction: 'up' })}`,
      400,
      /invalid direction 'up'/,
    );
    await expectError(`/loki/api/v1/labels?${qs({ since: 'ages' })}`, 400, /'since'/);
    await expectError(
      `/loki/api/v1/query_range?${qs({ query: '{a="b"}', start: '1', end: String(nowNs()) })}`,
      400,
      /time range exceeds the limit/,
    );
  });

  test('POST form bodies are read for query and query_range', async () => {
    const res = await fetch(`${api.url}/loki/api/v1/query`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: qs({ query: 'vector(1)+vector(1)', time: '4' }),
    });
    const body = (await res.json()) as QueryBody<{ value: [number, string] }[]>;
    assert.deepEqual(body.data.result[0]?.value, [4, '2']);
  });
});

function openTail(server: ApiServer, params: Record<string, string>) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/loki/api/v1/tail?${qs(params)}`);
  const frames: { streams: StreamResult[]; dropped_entries: unknown[] }[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames, opened };
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('live tail (WebSocket)', () => {
  test('history first, then an event ingested after connecting; closed with 1001 when the server stops', async () => {
    const server = await startApiServer({
      store,
      pipeline,
      engine,
      host: '127.0.0.1',
      port: 0,
      tailPollMs: 50,
    });
    const tail = openTail(server, { query: '{job="tailtest"}', limit: '2', start: String(t0Ns) });
    try {
      const early = nowNs();
      const pushLine = (ts: bigint, line: string) =>
        fetch(`${server.url}/loki/api/v1/push`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ streams: [{ stream: { job: 'tailtest' }, values: [[String(ts), line]] }] }),
        });
      await tail.opened;
      assert.equal(tail.frames.length, 0, 'nothing matched before');
      assert.equal((await pushLine(early, 'first live line')).status, 204);
      assert.ok(await until(() => tail.frames.length > 0), 'a frame arrives');
      const frame = tail.frames[0];
      assert.deepEqual(Object.keys(frame ?? {}).sort(), ['dropped_entries', 'streams']);
      assert.deepEqual(frame?.streams[0]?.values, [[String(early), 'first live line']]);
      assert.equal(frame?.streams[0]?.stream.job, 'tailtest');

      // A second tail starting later gets the history (at most `limit` lines, oldest first).
      assert.equal((await pushLine(early + 1n, 'second')).status, 204);
      assert.equal((await pushLine(early + 2n, 'third')).status, 204);
      const late = openTail(server, { query: '{job="tailtest"}', limit: '2', start: String(t0Ns) });
      await late.opened;
      assert.ok(await until(() => late.frames.length > 0));
      assert.deepEqual(
        late.frames[0]?.streams.flatMap((s) => s.values.map((v) => v[1])),
        ['second', 'third'],
      );

      const closed = (t: ReturnType<typeof openTail>) =>
        new Promise<number>((resolve) => t.ws.once('close', (code) => resolve(code)));
      const codes = Promise.all([closed(tail), closed(late)]);
      await server.close();
      assert.deepEqual(await codes, [1001, 1001]);
    } finally {
      tail.ws.terminate();
      await server.close();
    }
  });

  test('delay_for holds frames back by that many seconds', async () => {
    const tail = openTail(api, { query: '{job="delaytest"}', delay_for: '1' });
    try {
      await tail.opened;
      const res = await fetch(`${api.url}/loki/api/v1/push`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          streams: [{ stream: { job: 'delaytest' }, values: [[String(nowNs()), 'late line']] }],
        }),
      });
      assert.equal(res.status, 204);
      const pushed = Date.now();
      assert.ok(await until(() => tail.frames.length > 0, 4000), 'the frame arrives');
      assert.ok(Date.now() - pushed >= 950, `arrived after ${Date.now() - pushed} ms`);
      assert.equal(tail.frames[0]?.streams[0]?.values[0]?.[1], 'late line');
    } finally {
      tail.ws.terminate();
    }
  });

  test('bad tail parameters are refused before the upgrade, with the reason', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ query: '{job="x"}', delay_for: '6' }, /delay_for can't be greater than 5/],
      [{ query: '{job=' }, /parse error at line 1/],
      [{ query: 'count_over_time({job="x"}[1m])' }, /log query/],
    ];
    for (const [params, pattern] of cases) {
      const ws = new WebSocket(`${api.url.replace('http', 'ws')}/loki/api/v1/tail?${qs(params)}`);
      const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.once('open', () => reject(new Error('upgrade accepted')));
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString('utf8');
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
      });
      // The refused handshake is over; closing the client now reports that as an error, expected here.
      ws.on('error', () => {});
      ws.terminate();
      assert.equal(refused.status, 400);
      assert.match(refused.body, pattern);
    }
  });
});
