/**
 * The dashboard's HTTP server on the demo data: same-origin Loki routes, its own routes (the Overview's index
 * against a scan of the store and LogQL), and its safety checks.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config/config.ts';
import { portOwner } from '../../src/ops/health.ts';
import { QueryEngine } from '../../src/query/index.ts';
import {
  CONTENT_SECURITY_POLICY,
  type DashboardServer,
  startDashboardServer,
} from '../../src/server/dashboard.ts';
import { EventIndex, overviewFromStore, quantile, RuleHitIndex } from '../../src/server/dashboard-api.ts';
import { Store } from '../../src/store/index.ts';
import { cli, tempPaths } from '../helpers.ts';

const paths = tempPaths('dash-server');
let store: Store;
let dash: DashboardServer;

function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: dash.port, path, method, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

before(async () => {
  assert.equal(cli(paths, ['demo']).status, 0);
  store = Store.open(paths.storeFile);
  dash = await startDashboardServer({ store, engine: new QueryEngine(store), paths, port: 0 });
});

after(async () => {
  await dash.close();
  store.close();
});

test('serves the front end with a strict CSP and no CORS header', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.match(r.body, /<div id="app">/);
  assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.equal(r.headers['access-control-allow-origin'], undefined);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(r.body)?.[1];
  assert.ok(script, 'index.html names its script');
  const js = await get(script);
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
});

test('refuses a Host header that is not its own (DNS rebinding)', async () => {
  for (const host of ['evil.example', `evil.example:${dash.port}`, '127.0.0.1:1']) {
    const r = await get('/loki/api/v1/labels', { Host: host });
    assert.equal(r.status, 421, host);
  }
  assert.equal((await get('/', { Host: `localhost:${dash.port}` })).status, 200);
});

test('answers LogQL on the same origin with the numbers of the store', async () => {
  const now = Date.now();
  const q = encodeURIComponent('sum(count_over_time({service="claude-telemetry"}[1d]))');
  const r = await get(`/loki/api/v1/query?query=${q}&time=${now}000000`);
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body) as { data: { result: { value: [number, string] }[] } };
  assert.equal(Number(body.data.result[0]?.value[1]), store.stats().events);
});

test('health recognises it as ours', async () => {
  assert.equal(await portOwner('127.0.0.1', dash.port), 'ours');
});

test('is read-only: no push and no guard route', async () => {
  assert.equal((await get('/loki/api/v1/push', { 'Content-Type': 'application/json' }, 'POST')).status, 404);
  assert.equal((await get('/loki/api/v1/query_range?query=x', {}, 'POST')).status, 405);
});

test('system and sessions report the store', async () => {
  const sys = JSON.parse((await get('/api/dashboard/system')).body) as {
    store: { events: number; sessions: number; bytes: number };
    audit: { entries: number };
  };
  const stats = store.stats();
  assert.equal(sys.store.events, stats.events);
  assert.equal(sys.store.sessions, stats.sessions);
  assert.ok(sys.store.bytes > 0);
  assert.equal(sys.audit.entries, stats.maxAuditSeq);
  const s = JSON.parse((await get(`/api/dashboard/sessions?start=0&end=${Date.now()}`)).body) as {
    sessions: { session_id: string; events: number }[];
  };
  assert.deepEqual(
    s.sessions.map((x) => [x.session_id, x.events]),
    store.sessions().map((x) => [x.session_id, x.events]),
  );
  assert.equal((await get('/api/dashboard/sessions?start=abc')).status, 400);
});

function upgrade(origin: string | undefined): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(
      `ws://127.0.0.1:${dash.port}/loki/api/v1/tail?query=${encodeURIComponent('{service="claude-telemetry"}')}`,
      origin ? { origin } : {},
    );
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
}

test('the tail accepts only its own origin', async () => {
  assert.equal(await upgrade(`http://127.0.0.1:${dash.port}`), 'open');
  assert.equal(await upgrade('http://evil.example'), 403);
  assert.equal(await upgrade(undefined), 403);
});

test('a token is required beyond loopback, and checked when set', async () => {
  await assert.rejects(
    startDashboardServer({ store, engine: new QueryEngine(store), paths, host: '0.0.0.0', port: 0 }),
    /dashboard.token/,
  );
  const guarded = await startDashboardServer({
    store,
    engine: new QueryEngine(store),
    paths,
    port: 0,
    token: 'a-token-of-enough-length',
  });
  try {
    const ask = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; cookie: unknown }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: guarded.port, path, headers }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, cookie: res.headers['set-cookie'] });
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal((await ask('/')).status, 401);
    assert.equal((await ask('/?token=wrong-token-of-enough-len')).status, 401);
    const ok = await ask('/?token=a-token-of-enough-length');
    assert.equal(ok.status, 200);
    assert.match(String(ok.cookie), /HttpOnly; SameSite=Strict/);
    assert.equal((await ask('/', { Cookie: 'ct_dashboard=a-token-of-enough-length' })).status, 200);
  } finally {
    await guarded.close();
  }
});

test('config: the dashboard section has defaults and names a bad key', () => {
  assert.deepEqual(parseConfig({}).dashboard, { enabled: true, host: '127.0.0.1', port: 3000 });
  assert.deepEqual(parseConfig({ dashboard: { port: 0, token: 'x'.repeat(16) } }).dashboard, {
    enabled: true,
    host: '127.0.0.1',
    port: 0,
    token: 'x'.repeat(16),
  });
  assert.throws(() => parseConfig({ dashboard: { port: 70000 } }), /dashboard\.port must be an integer/);
  assert.throws(
    () => parseConfig({ dashboard: { token: 'short' } }),
    /dashboard\.token must be a string of at least 16/,
  );
  assert.throws(() => parseConfig({ dashboard: { bogus: 1 } }), /known here: enabled, host, port, token/);
});

/** An instant LogQL query over the whole demo day, as {labels -> value}. */
function logql(query: string, at: number): Map<string, number> {
  const r = new QueryEngine(store).instantQuery({
    query,
    time: BigInt(at) * 1_000_000n,
    limit: 100,
    direction: 'backward',
    categorizeLabels: false,
  } as never) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return new Map(r.data.result.map((s) => [Object.values(s.metric).join(','), Number(s.value[1])]));
}

test('the Overview route answers from its index what a scan of the store and LogQL give', async () => {
  const end = Math.ceil(Date.now() / 60_000) * 60_000;
  const w = { start: end - 86_400_000, end };
  const index = new EventIndex(store, 31 * 86_400_000, 7);
  await index.update();
  assert.ok(index.size > 0);
  const session = store.sessions({ limit: 1 })[0]?.session_id as string;
  for (const f of [{}, { project: 'acme-webapp' }, { session }, { agent: 'Explore' }, { project: 'none' }])
    for (const step of [60_000, 900_000])
      assert.deepEqual(
        { ...index.overviewOf({ ...w, ...f }, step), source: '' },
        { ...overviewFromStore(store, { ...w, ...f }, step), source: '' },
        JSON.stringify(f),
      );
  const o = index.overviewOf(w, 900_000);
  const sel = '{service="claude-telemetry"}';
  assert.equal(o.total, logql(`sum(count_over_time(${sel}[1d]))`, end).get(''));
  assert.equal(
    o.activeSessions,
    logql(`count(sum by (session_id) (count_over_time(${sel}[1d])))`, end).get(''),
  );
  assert.deepEqual(
    new Map(o.byTool.map((t) => [t.label, t.value])),
    logql(`sum by (tool) (count_over_time({service="claude-telemetry", hook_event="PreToolUse"}[1d]))`, end),
  );
  const q = (p: number) =>
    logql(
      `quantile_over_time(${p}, {service="claude-telemetry", hook_event="PostToolUse"} | json | duration_ms != "" | unwrap duration_ms | __error__="" [1d]) by (tool)`,
      end,
    );
  assert.ok(o.durations.length > 0);
  assert.deepEqual(new Map(o.durations.map((d) => [d.tool, d.p50_ms])), q(0.5));
  assert.deepEqual(new Map(o.durations.map((d) => [d.tool, d.p95_ms])), q(0.95));
  assert.deepEqual(
    new Map(o.topCommands.map((c) => [c.value, c.count])),
    logql(
      `topk(10, sum by (action_details_command) (count_over_time({service="claude-telemetry", hook_event="PreToolUse"} | json | action_details_command != "" [1d])))`,
      end,
    ),
  );
  // Counts per step, as a LogQL range query evaluates them.
  const activity = new Map(
    o.activity.map((s) => [s.metric['event_type'] ?? '', s.values.reduce((a, v) => a + Number(v[1]), 0)]),
  );
  const range = new QueryEngine(store).rangeQuery({
    query: `sum by (event_type) (count_over_time(${sel}[15m]))`,
    start: BigInt(w.start) * 1_000_000n,
    end: BigInt(w.end) * 1_000_000n,
    stepMs: 900_000,
    limit: 100,
    direction: 'backward',
    categorizeLabels: false,
  } as never) as { data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
  assert.deepEqual(
    activity,
    new Map(
      range.data.result.map((s) => [
        s.metric['event_type'] ?? '',
        s.values.reduce((a, v) => a + Number(v[1]), 0),
      ]),
    ),
  );
});

test('the dashboard routes: security hits equal the stored detections, choices equal the label values, bad input is refused', async () => {
  const sec = JSON.parse((await get(`/api/dashboard/security?start=0&end=${Date.now() + 60_000}`)).body) as {
    total: number;
    bySeverity: Record<string, number>;
    sessions: { hits: number }[];
  };
  const stored = store
    .query({ limit: 100_000 })
    .reduce((n, e) => n + ((e as { detections?: unknown[] }).detections?.length ?? 0), 0);
  assert.ok(stored > 0, 'the demo has rule hits');
  assert.equal(sec.total, stored);
  assert.equal(
    Object.values(sec.bySeverity).reduce((a, b) => a + b, 0),
    stored,
  );
  assert.equal(
    sec.sessions.reduce((a, s) => a + s.hits, 0),
    stored,
  );
  const day = { start: Date.now() - 86_400_000, end: Date.now() + 60_000 };
  const choices = JSON.parse(
    (await get(`/api/dashboard/choices?start=${day.start}&end=${day.end}`)).body,
  ) as Record<string, string[]>;
  for (const label of ['project', 'agent_type', 'event_type']) {
    const loki = JSON.parse(
      (await get(`/loki/api/v1/label/${label}/values?start=${day.start}000000&end=${day.end}000000`)).body,
    ) as { data: string[] };
    assert.deepEqual(choices[label], [...loki.data].sort(), label);
  }
  assert.equal((await get('/api/dashboard/session-tree')).status, 400);
  assert.equal((await get('/api/dashboard/session-tree?session=ffffffff-none')).status, 404);
  assert.equal((await get('/api/dashboard/overview?start=10&end=5')).status, 400);
  assert.equal((await get('/api/dashboard/overview?start=0&end=86400000000&step=1000')).status, 400);
  assert.equal((await get('/api/dashboard/analytics/session')).status, 400);
  const a = JSON.parse((await get('/api/dashboard/analytics?start=0')).body) as {
    status: { message: string };
  };
  assert.ok(a.status.message.length > 0, 'the analytics status says why it is empty');
});

test('quantile by selection equals the sorted interpolation LogQL uses', () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let n = 1; n < 300; n += 7) {
    const xs = Float64Array.from({ length: n }, () => Math.floor(rand() * 50) * (rand() < 0.5 ? 1 : 1.5));
    const sorted = Float64Array.from(xs).sort();
    for (const q of [0, 0.25, 0.5, 0.95, 1]) {
      const rank = q * (n - 1);
      const lo = Math.floor(rank);
      const hi = Math.min(n - 1, lo + 1);
      const expected = (sorted[lo] as number) * (1 - (rank - lo)) + (sorted[hi] as number) * (rank - lo);
      assert.equal(quantile(Float64Array.from(xs), q), expected, `n=${n} q=${q}`);
    }
  }
});

test('the indexes follow deletions: the oldest events removed by retention leave both', async () => {
  const index = new EventIndex(store, 31 * 86_400_000, 11);
  const hits = new RuleHitIndex(store);
  await Promise.all([index.update(), hits.update()]);
  const all = { start: 0, end: Date.now() + 60_000 };
  const times = store
    .query({ limit: 100_000 })
    .map((e) => Date.parse(e.timestamp))
    .sort((a, b) => a - b);
  const cut = times[Math.floor(times.length / 2)] as number;
  assert.ok(store.deleteEventsBefore(cut, 1_000_000) > 0);
  await Promise.all([index.update(), hits.update()]);
  const w = { start: cut - 60_000, end: all.end };
  assert.deepEqual(
    { ...index.overviewOf(w, 60_000), source: '' },
    { ...overviewFromStore(store, w, 60_000), source: '' },
  );
  assert.equal(index.size, store.stats().events);
  const stored = store
    .query({ limit: 100_000 })
    .reduce((n, e) => n + ((e as { detections?: unknown[] }).detections?.length ?? 0), 0);
  assert.equal(hits.in(all).length, stored);
});
