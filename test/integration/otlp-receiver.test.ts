/**
 * The OTLP/HTTP receiver over real HTTP on 127.0.0.1 with the real pipeline and store: Claude Code's own
 * protobuf and JSON exports stored once, gzip bodies, OTLP's response messages (partial_success for refused
 * entries, google.rpc.Status on errors), the limits (413, 415, 403 for browsers) and the throughput.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AuditLog } from '../../src/audit/index.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { Store } from '../../src/store/index.ts';
import { decodeOtlpResponse, encodeOtlpRequest } from '../../src/usage/otel.ts';
import { costReport, Pricing } from '../../src/usage/report.ts';
import { REPO, tempPaths } from '../helpers.ts';
import { apiRequestRecord, logsRequest } from '../unit/otlp-requests.ts';

const FIX = join(REPO, 'test', 'fixtures', 'otlp');
const MAX_BODY = 256 * 1024;
const PB = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

let paths: DataPaths;
let audit: AuditLog;
let store: Store;
let api: ApiServer;

before(async () => {
  paths = tempPaths('otlp-receiver');
  audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  store = Store.open(paths.storeFile);
  const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  api = await startApiServer({
    store,
    pipeline,
    otel: store,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: MAX_BODY,
  });
});

after(async () => {
  await api.close();
  audit.close();
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
});

function post(path: string, body: Buffer | string, headers: Record<string, string>) {
  return fetch(`${api.url}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}

const count = (sql: string, ...args: unknown[]) => (store.select(sql).get(...args) as { n: number }).n;

describe('OTLP receiver: Claude Code exports', () => {
  test('protobuf logs: 200, an empty ExportLogsServiceResponse, each api_request stored once', async () => {
    for (const round of [1, 2]) {
      for (const f of ['cc-2.1.329-logs-1.pb', 'cc-2.1.329-logs-2.pb']) {
        const res = await post('/v1/logs', readFileSync(join(FIX, f)), { 'content-type': PB });
        assert.equal(res.status, 200, `round ${round}`);
        assert.equal(res.headers.get('content-type'), PB);
        assert.equal((await res.arrayBuffer()).byteLength, 0);
      }
    }
    assert.equal(count('SELECT count(*) AS n FROM otel_requests'), 5);
    assert.equal(count("SELECT count(*) AS n FROM otel_requests WHERE agent_id <> ''"), 2);
  });

  test('gzip JSON metrics: 200 {} and the points stored', async () => {
    const body = gzipSync(readFileSync(join(FIX, 'cc-2.1.329-metrics.json')));
    const res = await post('/v1/metrics', body, { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.equal(count("SELECT count(*) AS n FROM otel_metrics WHERE metric = 'claude_code.token.usage'"), 4);
    const session = (
      store.select('SELECT session_id FROM otel_metrics LIMIT 1').get() as { session_id: string }
    ).session_id;
    assert.equal(costReport(store, new Pricing(), { session }).metrics?.output, 37);
  });

  test('protobuf metrics from Claude Code', async () => {
    const res = await post('/v1/metrics', readFileSync(join(FIX, 'cc-2.1.329-metrics.pb')), {
      'content-type': PB,
    });
    assert.equal(res.status, 200);
    assert.equal(count("SELECT count(*) AS n FROM otel_metrics WHERE query_source = 'subagent'"), 5);
  });

  test('refused records: partial_success in the request encoding', async () => {
    const req = logsRequest([
      apiRequestRecord({ session: '' }),
      apiRequestRecord({ requestId: 'req_partial' }),
    ]);
    const pb = await post('/v1/logs', encodeOtlpRequest('logs', req), { 'content-type': PB });
    assert.equal(pb.status, 200);
    const decoded = decodeOtlpResponse('logs', Buffer.from(await pb.arrayBuffer()));
    assert.equal((decoded.partialSuccess as { rejectedLogRecords: string }).rejectedLogRecords, '1');
    const js = await post('/v1/logs', JSON.stringify(req), { 'content-type': JSON_TYPE });
    const body = (await js.json()) as {
      partialSuccess: { rejectedLogRecords: string; errorMessage: string };
    };
    assert.equal(body.partialSuccess.rejectedLogRecords, '1');
    assert.match(body.partialSuccess.errorMessage, /session\.id/);
    assert.equal(count("SELECT count(*) AS n FROM otel_requests WHERE request_id = 'req_partial'"), 1);
  });
});

describe('OTLP receiver: errors and limits', () => {
  test('a body that is not a request: 400 with a Status in the request encoding', async () => {
    const js = await post('/v1/logs', '{nope', { 'content-type': JSON_TYPE });
    assert.equal(js.status, 400);
    const status = (await js.json()) as { code: number; message: string };
    assert.equal(status.code, 3);
    assert.match(status.message, /JSON/);
    const pb = await post('/v1/metrics', Buffer.from([0x0a, 0xff, 0xff, 0xff]), { 'content-type': PB });
    assert.equal(pb.status, 400);
    assert.equal(pb.headers.get('content-type'), PB);
  });

  test('415 for other media types, 405 for GET, 413 above the limit (also once decoded)', async () => {
    assert.equal((await post('/v1/logs', '{}', { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await fetch(`${api.url}/v1/logs`)).status, 405);
    const big = Buffer.alloc(MAX_BODY + 1, 0x20);
    assert.equal((await post('/v1/logs', big, { 'content-type': JSON_TYPE })).status, 413);
    const bomb = gzipSync(Buffer.alloc(MAX_BODY * 4, 0x20));
    const res = await post('/v1/logs', bomb, { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' });
    assert.equal(res.status, 413);
  });

  test('a browser request (Origin header) is refused and stores nothing', async () => {
    const before = count('SELECT count(*) AS n FROM otel_requests');
    const req = logsRequest([apiRequestRecord({ requestId: 'req_browser' })]);
    const res = await post('/v1/logs', JSON.stringify(req), {
      'content-type': JSON_TYPE,
      origin: 'http://evil.example',
    });
    assert.equal(res.status, 403);
    assert.equal(count('SELECT count(*) AS n FROM otel_requests'), before);
  });
});

describe('OTLP receiver: throughput', () => {
  test('protobuf logs requests of 50 api_request events each', async (t) => {
    const requests = 200;
    const bodies = Array.from({ length: requests }, (_, r) =>
      encodeOtlpRequest(
        'logs',
        logsRequest(
          Array.from({ length: 50 }, (_, i) =>
            apiRequestRecord({ requestId: `req_tp_${r}_${i}`, session: `tp-${r % 10}` }),
          ),
        ),
      ),
    );
    const started = performance.now();
    for (let i = 0; i < requests; i += 4) {
      const batch = bodies.slice(i, i + 4).map((b) => post('/v1/logs', b, { 'content-type': PB }));
      for (const res of await Promise.all(batch)) {
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
    }
    const secs = (performance.now() - started) / 1000;
    assert.equal(
      count("SELECT count(*) AS n FROM otel_requests WHERE request_id LIKE 'req_tp_%'"),
      requests * 50,
    );
    t.diagnostic(
      `${requests} requests, ${requests * 50} api_request events in ${secs.toFixed(2)} s: ${Math.round(requests / secs)} requests/s, ${Math.round((requests * 50) / secs)} events/s`,
    );
  });
});
