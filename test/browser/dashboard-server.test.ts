/** The dashboard's HTTP server on the demo data: same-origin Loki routes, its two views, and its safety checks. */
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
