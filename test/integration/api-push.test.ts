/**
 * The API server over real HTTP on 127.0.0.1 (ephemeral port) with the real pipeline and store: push in its
 * three encodings, status routes, and the errors Loki gives (400 naming the problem, 404, 405, 413).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { AuditLog } from '../../src/audit/index.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { encodeSnappyPush, snappyCompress } from '../../src/sinks/loki-wire.ts';
import { Store } from '../../src/store/index.ts';
import { tempPaths } from '../helpers.ts';

let paths: DataPaths;
let audit: AuditLog;
let store: Store;
let api: ApiServer;
const MAX_BODY = 64 * 1024;
const NOW_NS = BigInt(Date.now()) * 1_000_000n;

before(async () => {
  paths = tempPaths('api-push');
  audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  store = Store.open(paths.storeFile);
  const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  api = await startApiServer({ store, pipeline, host: '127.0.0.1', port: 0, maxBodyBytes: MAX_BODY });
});

after(async () => {
  await api.close();
  audit.close();
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
});

function storedLines(): string[] {
  const db = new Database(paths.storeFile, { readonly: true });
  try {
    return (db.prepare('SELECT line FROM events ORDER BY seq').all() as { line: string }[]).map(
      (r) => r.line,
    );
  } finally {
    db.close();
  }
}

function push(body: Buffer | string, headers: Record<string, string>) {
  return fetch(`${api.url}/loki/api/v1/push`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}

const json = (v: unknown) => JSON.stringify(v);

async function expectError(res: Response, status: number, pattern: RegExp): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, `status for: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(text, pattern);
  assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
}

describe('API server: status routes', () => {
  test('ready and buildinfo (a Loki version Grafana accepts, and ours)', async () => {
    const ready = await fetch(`${api.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.text()).trim(), 'ready');
    const info = (await (await fetch(`${api.url}/loki/api/v1/status/buildinfo`)).json()) as Record<
      string,
      string
    >;
    const [major, minor] = (info.version as string).split('.').map(Number) as [number, number];
    assert.ok(major > 2 || (major === 2 && minor >= 9), `Loki version ${info.version}`);
    for (const k of ['revision', 'branch', 'buildUser', 'buildDate', 'goVersion'])
      assert.equal(typeof info[k], 'string');
    assert.match(info.claude_telemetry_version as string, /^\d+\.\d+\.\d+/);
  });

  test('unknown routes are 404, Grafana-only features included; wrong methods 405 with Allow', async () => {
    for (const path of [
      '/nope',
      '/loki/api/v1/detected_fields',
      '/loki/api/v1/patterns',
      '/loki/api/v1/index/volume',
    ]) {
      await expectError(await fetch(`${api.url}${path}`), 404, /404 page not found/);
    }
    const get = await fetch(`${api.url}/loki/api/v1/push`);
    assert.equal(get.headers.get('allow'), 'POST');
    await expectError(get, 405, /method GET not allowed/);
    await expectError(await fetch(`${api.url}/loki/api/v1/query`, { method: 'DELETE' }), 405, /DELETE/);
  });

  test('without an engine the read routes say so (503) and push still works', async () => {
    await expectError(await fetch(`${api.url}/loki/api/v1/labels`), 503, /query engine not available/);
  });
});

describe('API server: push', () => {
  test('JSON, JSON+gzip and protobuf+snappy all land verbatim; a retried push adds nothing', async () => {
    const before = storedLines().length;
    const plain = json({
      streams: [{ stream: { job: 'a' }, values: [[String(NOW_NS), 'plain json line']] }],
    });
    const r1 = await push(plain, { 'Content-Type': 'application/json' });
    assert.equal(r1.status, 204);
    assert.equal(await r1.text(), '');

    const gz = json({
      streams: [{ stream: { job: 'b' }, values: [[String(NOW_NS + 1n), 'gzipped line', { trace_id: 't' }]] }],
    });
    const r2 = await push(gzipSync(gz), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    assert.equal(r2.status, 204);

    const proto = encodeSnappyPush([
      {
        labels: { job: 'c', level: 'error' },
        entries: [{ timestampNs: NOW_NS + 2n, line: 'proto line \u00e9\u{1F600}' }],
      },
    ]);
    const r3 = await push(proto, { 'Content-Type': 'application/x-protobuf' });
    assert.equal(r3.status, 204);

    assert.deepEqual(storedLines().slice(before), [
      'plain json line',
      'gzipped line',
      'proto line \u00e9\u{1F600}',
    ]);
    // Loki assumes protobuf+snappy without a Content-Type.
    const r4 = await push(proto, {});
    assert.equal(r4.status, 204);
    assert.equal((await push(plain, { 'Content-Type': 'application/json' })).status, 204);
    assert.equal(storedLines().length, before + 3);
  });

  test('bad input is a 400 naming the problem, and nothing is stored', async () => {
    const before = storedLines().length;
    const J = { 'Content-Type': 'application/json' };
    const P = { 'Content-Type': 'application/x-protobuf' };
    await expectError(
      await push(json({ streams: [{ stream: { a: 'b' }, values: [[1736000000, 'x']] }] }), J),
      400,
      /streams\[0\]\.values\[0\]\[0\]: timestamp must be a string/,
    );
    await expectError(await push(json({ stream: [] }), J), 400, /streams/);
    await expectError(await push('{"streams": [', J), 400, /not valid JSON/);
    await expectError(
      await push(json({ streams: [{ stream: { 'bad-name': 'x' }, values: [[String(NOW_NS), 'x']] }] }), J),
      400,
      /invalid label name "bad-name"/,
    );
    await expectError(
      await push(json({ streams: [{ stream: {}, values: [[String(NOW_NS), 'x']] }] }), J),
      400,
      /at least one label pair/,
    );
    // StreamAdapter{labels: "job=x"} by hand: the label string has no braces.
    const badLabels = Buffer.from([0x0a, 0x07, 0x0a, 0x05, ...Buffer.from('job=x')]);
    await expectError(await push(snappyCompress(badLabels), P), 400, /stream 0: expected '\{'/);
    await expectError(await push(Buffer.from('definitely not snappy'), P), 400, /snappy/);
    await expectError(await push(snappyCompress(Buffer.from([0xff, 0xff, 0xff])), P), 400, /protobuf/);
    await expectError(
      await push(Buffer.from('x'), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }),
      400,
      /gzip/,
    );
    await expectError(
      await push(Buffer.from('x'), { 'Content-Type': 'application/json', 'Content-Encoding': 'br' }),
      400,
      /Content-Encoding "br" not supported/,
    );
    await expectError(await push('streams=1', { 'Content-Type': 'text/plain' }), 400, /not a push format/);
    assert.equal(storedLines().length, before);
  });

  test('oversized bodies are 413, compressed or once decoded', async () => {
    const big = json({ streams: [{ stream: { a: 'b' }, values: [[String(NOW_NS), 'x'.repeat(MAX_BODY)]] }] });
    await expectError(await push(big, { 'Content-Type': 'application/json' }), 413, /too large/);
    const bomb = gzipSync(big);
    assert.ok(bomb.length < MAX_BODY);
    await expectError(
      await push(bomb, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }),
      413,
      /decoded body too large/,
    );
    // The server is still fine afterwards.
    assert.equal((await fetch(`${api.url}/ready`)).status, 200);
  });
});

describe('API server: failures inside', () => {
  test('a push the pipeline cannot commit is a 500 without details; the stack goes to the log only', async () => {
    const p2 = tempPaths('api-push-fail');
    const a2 = AuditLog.open(p2.audit, { keysDir: p2.keys });
    const s2 = Store.open(p2.storeFile);
    const logged: string[] = [];
    const server = await startApiServer({
      store: s2,
      pipeline: new Pipeline(p2, DEFAULT_CONFIG, a2, s2),
      port: 0,
      log: (m) => logged.push(m),
    });
    try {
      // The audit log is closed underneath the pipeline: appending fails, as on a dead disk.
      a2.close();
      const res = await fetch(`${server.url}/loki/api/v1/push`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: json({ streams: [{ stream: { a: 'b' }, values: [[String(NOW_NS), 'x']] }] }),
      });
      await expectError(res, 500, /^internal server error\n$/);
      assert.equal(logged.length, 1);
      assert.match(logged[0] as string, /\n\s+at /, 'the log has the stack');
    } finally {
      await server.close();
      s2.close();
      rmSync(p2.home, { recursive: true, force: true });
    }
  });
});
