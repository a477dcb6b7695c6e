import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { DataPaths } from '../../src/config/paths.ts';
import { cli, tempPaths } from '../helpers.ts';

/** Three real collectors on loopback, each with its own demo data; the third is stopped before the queries. */
const a = tempPaths('fed-a');
const b = tempPaths('fed-b');
const c = tempPaths('fed-c');
const front = tempPaths('fed-front');
const started: DataPaths[] = [];
const urls: Record<string, string> = {};

function statusOf(p: DataPaths) {
  const r = cli(p, ['status', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { api?: string; eventsStored: number };
}

function startCollector(p: DataPaths, extraConfig = ''): string {
  writeFileSync(p.config, `server:\n  port: 0\n${extraConfig}`);
  const r = cli(p, ['start']);
  assert.equal(r.status, 0, r.stderr);
  started.push(p);
  for (let i = 0; i < 100; i++) {
    const api = statusOf(p).api;
    if (api) return api;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  throw new Error('the collector did not report its API address');
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

before(async () => {
  for (const [name, p] of [
    ['a', a],
    ['b', b],
    ['c', c],
  ] as const) {
    assert.equal(cli(p, ['demo']).status, 0);
    urls[name] = startCollector(p);
  }
  // c stops: a fleet member that is down must be reported, not silently dropped.
  assert.equal(cli(c, ['stop']).status, 0);
  const dead = urls.c ?? `http://127.0.0.1:${await freePort()}`;
  const fed = `federation:\n  timeout_ms: 3000\n  instances:\n    - { name: a, url: "${urls.a}" }\n    - { name: b, url: "${urls.b}" }\n    - { name: c, url: "${dead}" }\n`;
  urls.front = startCollector(front, fed);
});

after(() => {
  for (const p of started) cli(p, ['stop']);
});

const SELECTOR = '{service="claude-telemetry", event="file_read"}';

function linesIn(data: { result: { stream: Record<string, string>; values: unknown[] }[] }) {
  return data.result.flatMap((s) => s.values.map(() => s.stream.instance));
}

test('query --federated merges the live instances and names the one that is down', () => {
  const one = JSON.parse(cli(a, ['query', SELECTOR, '--since', '1d', '--json']).stdout);
  const perInstance = linesIn(one.data).length;
  assert.ok(perInstance > 0);
  const r = cli(front, ['query', SELECTOR, '--since', '1d', '--federated', '--json']);
  assert.equal(r.status, 1, 'an instance failed, so the exit code says so');
  const body = JSON.parse(r.stdout);
  const origins = linesIn(body.data);
  assert.equal(origins.length, 2 * perInstance);
  assert.equal(origins.filter((o) => o === 'a').length, perInstance);
  assert.equal(origins.filter((o) => o === 'b').length, perInstance);
  const report = Object.fromEntries(body.instances.map((i: { name: string; ok: boolean }) => [i.name, i.ok]));
  assert.deepEqual(report, { a: true, b: true, c: false });
});

test('the /federated API routes fan out the same way, with the instance report in the response', async () => {
  const now = BigInt(Date.now()) * 1_000_000n;
  const qs = new URLSearchParams({
    query: 'sum(count_over_time({service="claude-telemetry", event="file_read"}[1d]))',
    time: now.toString(),
  });
  const res = await fetch(`${urls.front}/federated/loki/api/v1/query?${qs}`, {
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    data: { resultType: string; result: { value: [number, string] }[] };
    instances: { name: string; ok: boolean; error?: string }[];
  };
  assert.equal(body.data.resultType, 'vector');
  const local = await fetch(`${urls.a}/loki/api/v1/query?${qs}`, { signal: AbortSignal.timeout(10_000) });
  const one = (await local.json()) as { data: { result: { value: [number, string] }[] } };
  assert.equal(Number(body.data.result[0]?.value[1]), 2 * Number(one.data.result[0]?.value[1]));
  const down = body.instances.find((i) => i.name === 'c');
  assert.equal(down?.ok, false);
  assert.ok(down?.error);
});

test('status of the front collector shows each instance: two ready, one not answering', () => {
  const r = cli(front, ['status']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /instance a: ready/);
  assert.match(r.stdout, /instance b: ready/);
  assert.match(r.stdout, /instance c: not answering/);
});
