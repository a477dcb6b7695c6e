/**
 * Dashboard figures in Debian's Chromium against a real collector on a data dir of 1M realistic events over
 * 30 days (bench/dashboard-data.ts; built once, then re-used): the front end's size (gzip); the indexes'
 * warm-up after the collector starts; the Overview's first render (navigation until every panel holds data and
 * the activity chart is drawn) and each panel's refresh (Reload until the panel holds the new data) over the
 * last 24 h and the last 30 days; the Analytics, Security, Fleet, Sessions and System views' load and refresh; hook call
 * -> visible in Live. Targets: bundle <= 500 KB gzip, first render <= 1.5 s, panel refresh <= 300 ms,
 * Analytics load <= 1 s, Live p95 <= 1 s. Screenshots of each view at this size go to test/artifacts/.
 *
 * BENCH_DASHBOARD_EVENTS sets the store size (default 1,000,000); the collector runs with its analytics
 * scorer off (the scores were written when the data dir was built) so that it does not compete for the CPU.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../test/browser/chromium.ts';
import { panelsSettled, refreshTimes } from '../test/browser/panels.ts';
import { CLI, exited, REPO, runHook, waitFor } from '../test/helpers.ts';
import { dashboardData } from './dashboard-data.ts';
import { percentile } from './util.ts';

function bundle() {
  const dir = join(REPO, 'dist', 'web');
  const files = [
    join(dir, 'index.html'),
    ...readdirSync(join(dir, 'assets')).map((f) => join(dir, 'assets', f)),
  ];
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const b = readFileSync(f);
    raw += b.length;
    gzip += gzipSync(b, { level: 9 }).length;
  }
  return { files: files.length, rawKB: Math.round(raw / 102.4) / 10, gzipKB: Math.round(gzip / 102.4) / 10 };
}

function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(s, 50)),
    p95: Math.round(percentile(s, 95)),
    max: Math.round(s.at(-1) ?? Number.NaN),
    n: s.length,
  };
}

/** Navigations to a view until `ready` holds; ms each. */
async function loads(page: Page, url: string, runs: number, ready: () => Promise<void>) {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    await page.goto('about:blank');
    const t = performance.now();
    await page.goto(url);
    await ready();
    ms.push(performance.now() - t);
  }
  return summary(ms);
}

/** Reloads of the open view: per panel, ms until it held the new data. */
async function refreshes(page: Page, runs: number) {
  const per = new Map<string, number[]>();
  for (let i = 0; i < runs; i++) {
    for (const [panel, ms] of Object.entries(await refreshTimes(page)))
      per.set(panel, [...(per.get(panel) ?? []), ms]);
    await panelsSettled(page);
  }
  return Object.fromEntries([...per].map(([panel, ms]) => [panel, summary(ms)]));
}

/** A full-page screenshot into test/artifacts/. */
async function shot(page: Page, name: string) {
  const dir = join(REPO, 'test', 'artifacts');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

async function liveLatency(page: Page, base: string, paths: Parameters<typeof runHook>[0], calls: number) {
  await page.goto(`${base}/?view=live`);
  await page.locator('[data-conn="open"]').waitFor();
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const marker = `bench-${randomUUID()}`;
    const t = performance.now();
    runHook(
      paths,
      JSON.stringify({
        session_id: randomUUID(),
        cwd: '/home/dev/project',
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_input: { command: `echo ${marker}` },
        tool_use_id: `toolu_${randomUUID()}`,
      }),
    );
    await page.locator('[data-feed="live"] li', { hasText: marker }).waitFor({ timeout: 10_000 });
    ms.push(performance.now() - t);
  }
  return summary(ms);
}

export async function runDashboardBench(
  opts: { events?: number; renders?: number; refreshes?: number; hooks?: number } = {},
) {
  const size = bundle();
  if (!existsSync(CHROMIUM)) return { bundle: size, skipped: `${CHROMIUM} is not installed` };
  const data = await dashboardData(opts.events ?? Number(process.env.BENCH_DASHBOARD_EVENTS ?? 1_000_000));
  const { paths } = data;
  writeFileSync(paths.config, 'server:\n  port: 0\ndashboard:\n  port: 0\nanalytics:\n  enabled: false\n');
  const runFile = join(paths.run, 'dashboard.json');
  rmSync(runFile, { force: true });
  const t0 = performance.now();
  const collector: ChildProcess = spawn(process.execPath, [CLI, 'start', '--foreground'], {
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const ctx = await launchChromium();
  try {
    if (!(await waitFor(() => existsSync(runFile), 120_000))) throw new Error('the dashboard did not start');
    const base = (JSON.parse(readFileSync(runFile, 'utf8')) as { url: string }).url;
    // The Overview's index is read at the first request for a window too big for the store to answer (here
    // the last 30 days), the rule hits after start; the warm-up waits for both.
    const warm = await fetch(
      `${base}/api/dashboard/overview?start=${Date.now() - 30 * 86_400_000}&end=${Date.now()}&step=3600000`,
    );
    if (!warm.ok) throw new Error(`overview: ${warm.status}`);
    await (await fetch(`${base}/api/dashboard/security?start=0`)).arrayBuffer();
    const warmupMs = Math.round(performance.now() - t0);
    const rssMB = () =>
      Math.round(
        Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${collector.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
      );
    const rssAfterWarmupMB = rssMB();
    const stored = (
      (await (await fetch(`${base}/api/dashboard/system`)).json()) as { store: { events: number } }
    ).store.events;
    const page = await ctx.newPage();
    const renders = opts.renders ?? 5;
    const runs = opts.refreshes ?? 10;
    const overviewDrawn = async () => {
      await panelsSettled(page);
      await page.locator('[data-chart="activity"] canvas').waitFor();
    };
    const out: Record<string, unknown> = {};
    for (const range of ['24h', '30d']) {
      const url = `${base}/?view=overview&range=${range}`;
      out[`overview${range}`] = {
        firstRenderMs: await loads(page, url, renders, overviewDrawn),
        panelRefreshMs: await refreshes(page, runs),
      };
      await shot(page, `dashboard-1m-overview-${range}`);
    }
    for (const view of ['analytics', 'security', 'fleet', 'sessions', 'system']) {
      const url = `${base}/?view=${view}&range=24h`;
      out[view] = {
        loadMs: await loads(page, url, renders, () => panelsSettled(page)),
        panelRefreshMs: await refreshes(page, Math.ceil(runs / 2)),
      };
      await shot(page, `dashboard-1m-${view}`);
    }
    out['analytics30d'] = {
      loadMs: await loads(page, `${base}/?view=analytics&range=30d`, renders, () => panelsSettled(page)),
    };
    return {
      bundle: size,
      store: {
        events: stored,
        sessions: data.sessions,
        days: 30,
        built: data.reused ? 're-used' : `built in ${Math.round(data.buildSec)} s`,
      },
      warmupAfterStartMs: warmupMs,
      collectorRssMB: { afterWarmup: rssAfterWarmupMB, atEnd: rssMB() },
      ...out,
      hookToLiveMs: await liveLatency(page, base, paths, opts.hooks ?? 20),
    };
  } finally {
    await ctx.close();
    collector.kill('SIGTERM');
    await exited(collector);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await runDashboardBench(), null, 2)}\n`);
}
