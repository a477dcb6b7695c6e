/**
 * The dashboard in Debian's Chromium (playwright-core), served by a real collector on the demo data: each view
 * shows the numbers the API returns, a hook call reaches Live within 2 s, filters change the panels, export
 * gives the table's rows, and the console stays clean. Screenshots go to test/artifacts/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { CLI, cli, exited, REPO, runHook, tempPaths, waitFor } from '../helpers.ts';
import { CHROMIUM, launchChromium } from './chromium.ts';

const ARTIFACTS = join(REPO, 'test', 'artifacts');
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI)
  throw new Error(`${CHROMIUM} is missing: CI installs it (apt-get install chromium)`);
const skip = missing
  ? `${CHROMIUM} is not installed (apt-get install chromium); browser tests skipped`
  : false;

const paths = tempPaths('dash-browser');
let collector: ChildProcess | undefined;
let base = '';
let ctx: BrowserContext | undefined;
let page: Page;
const consoleErrors: string[] = [];

async function api(path: string, params: Record<string, string>) {
  const res = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
  assert.equal(res.status, 200);
  return (await res.json()) as {
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
}

const instant = (query: string) => api('/loki/api/v1/query', { query, time: `${Date.now()}000000` });

async function shot(name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function statValue(id: string): Promise<number> {
  const text = await page.locator(`[data-stat="${id}"] .stat-value`).innerText();
  return Number(text.replaceAll(',', ''));
}

before(async () => {
  if (skip) return;
  assert.equal(cli(paths, ['demo']).status, 0);
  writeFileSync(paths.config, 'server:\n  port: 0\ndashboard:\n  port: 0\n');
  collector = spawn(process.execPath, [CLI, 'start', '--foreground'], {
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const runFile = join(paths.run, 'dashboard.json');
  assert.ok(await waitFor(() => existsSync(runFile), 20_000), 'the dashboard started');
  base = (JSON.parse(readFileSync(runFile, 'utf8')) as { url: string }).url;
  ctx = await launchChromium({ acceptDownloads: true });
  page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
});

after(async () => {
  await ctx?.close();
  if (collector && collector.exitCode === null) {
    collector.kill('SIGTERM');
    await exited(collector);
  }
  rmSync(paths.home, { recursive: true, force: true });
});

test('Overview shows the numbers the API returns', { skip }, async () => {
  await page.goto(`${base}/?view=overview&range=24h`);
  const total = await instant('sum(count_over_time({service="claude-telemetry"}[1d]))');
  const expected = Number(total.data.result[0]?.value[1]);
  assert.ok(expected > 0);
  await page
    .locator('[data-stat="events"] .stat-value')
    .filter({ hasText: String(expected) })
    .waitFor();
  assert.equal(await statValue('events'), expected);
  const tools = await instant(
    'sum by (tool) (count_over_time({service="claude-telemetry", hook_event="PreToolUse"}[1d]))',
  );
  await page.locator('[data-bars="tools"] li').first().waitFor();
  const shown = await page
    .locator('[data-bars="tools"] li')
    .evaluateAll((lis) =>
      lis.map((li) => [
        li.querySelector('.bar-label')?.textContent ?? '',
        Number(li.querySelector('.bar-value')?.getAttribute('data-value')),
      ]),
    );
  assert.deepEqual(
    new Map(shown as [string, number][]),
    new Map(tools.data.result.map((r) => [r.metric['tool'] ?? '', Number(r.value[1])])),
  );
  await page.locator('[data-chart="activity"] canvas').waitFor();
  await shot('overview');
});

test('a filter changes the panels and lands in the URL', { skip }, async () => {
  await page.goto(`${base}/?view=overview&range=24h`);
  await page
    .locator('[data-stat="events"] .stat-value')
    .filter({ hasText: /^[1-9]/ })
    .waitFor();
  const all = await statValue('events');
  await page.locator('[data-control="session"]').fill('no-such-session');
  await page.locator('[data-control="session"]').press('Enter');
  await page.locator('[data-stat="events"] .stat-value').filter({ hasText: /^0$/ }).waitFor();
  assert.ok(all > 0);
  assert.match(page.url(), /session=no-such-session/);
  await page.locator('[data-control="theme"]').click();
  assert.match(page.url(), /theme=light/);
  await shot('overview-filtered-light');
});

test('Sessions lists the store, opens a paired timeline and exports its rows', { skip }, async () => {
  await page.goto(`${base}/?view=sessions&range=24h`);
  const list = (await (await fetch(`${base}/api/dashboard/sessions?start=0`)).json()) as {
    sessions: { session_id: string; events: number }[];
  };
  const rows = page.locator('[data-table="sessions"] tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), list.sessions.length);
  await rows.first().click();
  await page.locator('[data-table="timeline"] tbody tr').first().waitFor();
  const paired = await page.locator('[data-table="timeline"] tbody tr', { hasText: 'tool call' }).count();
  const pre = await instant(
    'sum(count_over_time({service="claude-telemetry", hook_event="PreToolUse"}[30d]))',
  );
  assert.equal(paired, Number(pre.data.result[0]?.value[1]), 'one row per tool call, Pre and Post paired');
  assert.match(await page.locator('[data-logql="session"]').innerText(), /session_id="/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-table="sessions"] [data-export="json"]').click(),
  ]);
  const file = join(mkdtempSync(join(tmpdir(), 'ct-dl-')), 'sessions.json');
  await download.saveAs(file);
  const exported = JSON.parse(readFileSync(file, 'utf8')) as { session_id: string; events: number }[];
  assert.deepEqual(
    exported.map((r) => [r.session_id, r.events]),
    list.sessions.map((s) => [s.session_id, s.events]),
  );
  await page.locator('[data-table="timeline"] tbody tr').first().click();
  await page.locator('[data-drawer="event"] pre').waitFor();
  await shot('sessions');
});

test('Security shows rule hits by severity and the outside-scope actions', { skip }, async () => {
  await page.goto(`${base}/?view=security&range=24h`);
  const outside = await instant(
    'sum(count_over_time({service="claude-telemetry", outside_project_scope="true"}[1d]))',
  );
  const n = Number(outside.data.result[0]?.value[1]);
  await page.locator(`[data-table="outside-scope"] [data-rows="${n}"]`).waitFor();
  await page.locator('[data-bars="severity"] li').first().waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-table="outside-scope"] [data-export="csv"]').click(),
  ]);
  const file = join(mkdtempSync(join(tmpdir(), 'ct-dl-')), 'outside.csv');
  await download.saveAs(file);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'time,hook,tool,details,project,session');
  assert.equal(lines.length - 1, n);
  await shot('security');
});

test('System shows the collector and store state', { skip }, async () => {
  await page.goto(`${base}/?view=system`);
  const sys = (await (await fetch(`${base}/api/dashboard/system`)).json()) as { store: { events: number } };
  await page
    .locator('[data-stat="store-events"] .stat-value')
    .filter({ hasText: /^[1-9]/ })
    .waitFor();
  assert.equal(await statValue('store-events'), sys.store.events);
  assert.match(await page.locator('[data-stat="running"]').innerText(), /running/);
  await page.goto(`${base}/?view=analytics`);
  await page.locator('[data-panel="analytics"] .empty').waitFor();
  await shot('system');
});

test('a hook call shows up in Live within 2 s, and the event type filter applies', { skip }, async () => {
  await page.goto(`${base}/?view=live`);
  await page.locator('[data-conn="open"]').waitFor();
  const marker = `live-${randomUUID()}`;
  const payload = {
    session_id: randomUUID(),
    transcript_path: '/home/dev/.claude/projects/x.jsonl',
    cwd: '/home/dev/project',
    hook_event_name: 'PreToolUse',
    tool_name: 'Bash',
    tool_input: { command: `echo ${marker}` },
    tool_use_id: `toolu_${randomUUID()}`,
  };
  const t0 = Date.now();
  assert.equal(runHook(paths, JSON.stringify(payload)).status, 0);
  await page.locator('[data-feed="live"] li', { hasText: marker }).waitFor({ timeout: 2000 });
  assert.ok(Date.now() - t0 <= 2000);
  await shot('live');
  await page.locator('[data-filter="event_type"]').selectOption('session_start');
  await page.locator('[data-feed="live"] li', { hasText: 'session_start' }).first().waitFor();
  assert.equal(await page.locator('[data-feed="live"] li', { hasText: marker }).count(), 0);
});

test('no console errors in any view', { skip }, () => {
  assert.deepEqual(consoleErrors, []);
});
