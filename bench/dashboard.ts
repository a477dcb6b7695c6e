/**
 * Dashboard figures: the front end's size (gzip), the Overview's first render (navigation until the summary
 * and the tool distribution show data) and hook call -> visible in Live (p50/p95), in Debian's Chromium
 * against a collector on the demo data. Targets: bundle <= 500 KB gzip, Live p95 <= 1 s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CHROMIUM, launchChromium } from '../test/browser/chromium.ts';
import { CLI, cli, exited, REPO, runHook, tempPaths, waitFor } from '../test/helpers.ts';
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

const pct = (xs: number[], p: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );

export async function runDashboardBench(opts: { renders?: number; hooks?: number } = {}) {
  const size = bundle();
  if (!existsSync(CHROMIUM)) return { bundle: size, skipped: `${CHROMIUM} is not installed` };
  const paths = tempPaths('bench-dash');
  cli(paths, ['demo']);
  writeFileSync(paths.config, 'server:\n  port: 0\ndashboard:\n  port: 0\n');
  const collector: ChildProcess = spawn(process.execPath, [CLI, 'start', '--foreground'], {
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    stdio: 'ignore',
  });
  const runFile = join(paths.run, 'dashboard.json');
  const ctx = await (async () => {
    await waitFor(() => existsSync(runFile), 20_000);
    return launchChromium();
  })();
  try {
    const base = (JSON.parse(readFileSync(runFile, 'utf8')) as { url: string }).url;
    const page = await ctx.newPage();
    const renders: number[] = [];
    for (let i = 0; i < (opts.renders ?? 5); i++) {
      const t = performance.now();
      await page.goto(`${base}/?view=overview&range=24h`);
      await page
        .locator('[data-stat="events"] .stat-value')
        .filter({ hasText: /^[1-9]/ })
        .waitFor();
      await page.locator('[data-bars="tools"] li').first().waitFor();
      await page.locator('[data-chart="activity"] canvas').waitFor();
      renders.push(performance.now() - t);
    }
    await page.goto(`${base}/?view=live`);
    await page.locator('[data-conn="open"]').waitFor();
    const live: number[] = [];
    for (let i = 0; i < (opts.hooks ?? 20); i++) {
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
      live.push(performance.now() - t);
    }
    const r = (x: number) => Math.round(x);
    return {
      bundle: size,
      overviewFirstRenderMs: {
        median: r(pct(renders, 50)),
        max: r(Math.max(...renders)),
        runs: renders.length,
      },
      hookToLiveMs: {
        p50: r(pct(live, 50)),
        p95: r(pct(live, 95)),
        max: r(Math.max(...live)),
        calls: live.length,
      },
      events: 'demo data (one recorded session)',
    };
  } finally {
    await ctx.close();
    collector.kill('SIGTERM');
    await exited(collector);
    rmSync(paths.home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await runDashboardBench(), null, 2)}\n`);
}
