/**
 * Every panel query of the shipped Grafana dashboards runs against our API on the demo data and returns data,
 * with Grafana's variables as Grafana fills them; no query hard-codes a window; `grafana export` writes them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GRAFANA_DIR } from '../../src/cli/grafana.ts';
import { QueryEngine } from '../../src/query/index.ts';
import { type DashboardServer, startDashboardServer } from '../../src/server/dashboard.ts';
import { Store } from '../../src/store/index.ts';
import { cli, tempPaths } from '../helpers.ts';

interface Target {
  expr: string;
  queryType: 'range' | 'instant';
}
interface Panel {
  title: string;
  type: string;
  targets: Target[];
}

const dashboards = readdirSync(join(GRAFANA_DIR, 'dashboards'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(GRAFANA_DIR, 'dashboards', f), 'utf8')) }));

const paths = tempPaths('grafana');
let store: Store;
let api: DashboardServer;

before(async () => {
  assert.equal(cli(paths, ['demo']).status, 0);
  store = Store.open(paths.storeFile);
  api = await startDashboardServer({ store, engine: new QueryEngine(store), paths, port: 0 });
});
after(async () => {
  await api.close();
  store.close();
});

/** The query as Grafana sends it for "last 24 hours", project "All". */
function fill(expr: string): string {
  return expr.replaceAll('$__range', '1d').replaceAll('$__auto', '1m').replaceAll('$project', '.*');
}

test('the four dashboards are there, each on the Loki datasource with the project variable', () => {
  assert.deepEqual(dashboards.map((d) => d.file).sort(), [
    'analytics.json',
    'performance.json',
    'security.json',
    'system.json',
  ]);
  const ds = readFileSync(join(GRAFANA_DIR, 'provisioning/datasources/claude-telemetry.yaml'), 'utf8');
  assert.match(ds, /type: loki/);
  for (const { json } of dashboards) {
    assert.ok(json.panels.length >= 4, json.title);
    assert.equal(json.templating.list[0].name, 'project');
    for (const p of json.panels as Panel[])
      assert.equal((p as unknown as { datasource: { type: string } }).datasource.type, 'loki');
  }
});

test('no panel query hard-codes a window: ranges are $__range or $__auto', () => {
  for (const { json } of dashboards)
    for (const p of json.panels as Panel[])
      for (const t of p.targets) {
        for (const m of t.expr.matchAll(/\[([^\]]*)\]/g))
          assert.ok(
            ['$__range', '$__auto'].includes(m[1] as string),
            `${json.title} / ${p.title}: [${m[1]}]`,
          );
        assert.match(t.expr, /project=~"\$project"/, `${p.title} follows the project variable`);
      }
});

test('every panel query returns data from our API on the demo data', async () => {
  const end = Date.now();
  const start = end - 86_400_000;
  let checked = 0;
  for (const { json } of dashboards)
    for (const p of json.panels as Panel[])
      for (const t of p.targets) {
        const params = new URLSearchParams({ query: fill(t.expr) });
        if (t.queryType === 'instant') params.set('time', `${end}000000`);
        else {
          params.set('start', `${start}000000`);
          params.set('end', `${end}000000`);
          params.set('step', '60s');
        }
        const path = t.queryType === 'instant' ? 'query' : 'query_range';
        const res = await fetch(`${api.url}/loki/api/v1/${path}?${params}`);
        const body = await res.text();
        assert.equal(res.status, 200, `${json.title} / ${p.title}: ${body}`);
        const r = JSON.parse(body) as {
          data: { result: { values?: unknown[]; value?: [number, string] }[] };
        };
        assert.ok(r.data.result.length > 0, `${json.title} / ${p.title}: no data for ${fill(t.expr)}`);
        if (p.type === 'stat')
          assert.ok(Number(r.data.result[0]?.value?.[1]) > 0, `${p.title} counts something`);
        checked++;
      }
  assert.ok(checked >= 25, `${checked} queries checked`);
});

test('grafana export writes the provisioning files and dashboards', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ct-grafana-')), 'out');
  const r = cli(paths, ['grafana', 'export', '--dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of [
    'provisioning/datasources/claude-telemetry.yaml',
    'provisioning/dashboards/claude-telemetry.yaml',
    'dashboards/performance.json',
    'dashboards/security.json',
    'dashboards/analytics.json',
    'dashboards/system.json',
  ])
    assert.ok(existsSync(join(dir, f)), f);
  assert.equal(cli(paths, ['grafana', 'bogus']).status, 2);
});
