/**
 * The published package works end to end: `npm pack`, a global install into a temp prefix (offline, from
 * the npm cache; the SQLite binding is compiled there), then setup, start, connect, demo, status, health
 * and stop from that install, with its own data dir and project.
 *
 * Outside CI, an install that cannot work offline (a dependency missing from the npm cache) skips the test
 * with the reason; in CI (CI set) it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO } from '../helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'ct-package-'));
after(() => {
  // A collector left running by a failed run is stopped by pid.
  const pidFile = join(root, 'home', 'run', 'collector.pid');
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

const OFFLINE_FAILURE = /ENOTCACHED|EAI_AGAIN|ENOTFOUND|ETIMEDOUT|ECONNREFUSED|network|offline/i;

test('npm pack, global install into a temp prefix, then setup/start/connect/demo/status/health/stop', {
  timeout: 300_000,
}, (t) => {
  const npm = (args: string[], cwd: string, timeout: number) =>
    spawnSync('npm', args, {
      cwd,
      encoding: 'utf8',
      timeout,
      env: { ...process.env, npm_config_fund: 'false' },
    });

  // dist/ is built by the test run; packing without scripts packs exactly that.
  const pack = npm(['pack', '--ignore-scripts', '--pack-destination', root], REPO, 60_000);
  assert.equal(pack.status, 0, pack.stderr);
  const tgz = readdirSync(root).find((n) => n.endsWith('.tgz'));
  assert.ok(tgz, 'a tarball was written');
  const listing = spawnSync('tar', ['-tzf', join(root, tgz)], { encoding: 'utf8' }).stdout;
  assert.match(listing, /package\/dist\/cli\/main\.js/);
  assert.match(listing, /package\/dist\/capture\/hook\.sh/);
  assert.doesNotMatch(listing, /package\/(test|src\/ops)\//, 'tests and sources stay out of the package');

  const prefix = join(root, 'prefix');
  const started = Date.now();
  const install = npm(
    ['install', '-g', '--offline', '--no-audit', '--prefix', prefix, join(root, tgz)],
    root,
    240_000,
  );
  if (install.status !== 0) {
    const why = `${install.stderr}\n${install.stdout}`;
    if (!process.env.CI && (OFFLINE_FAILURE.test(why) || install.error)) {
      t.skip(
        `the package cannot be installed offline here: ${why.split('\n').find((l) => OFFLINE_FAILURE.test(l)) ?? install.error?.message}`,
      );
      return;
    }
    assert.fail(`npm install -g failed:\n${why}`);
  }
  process.stderr.write(`# global install from the tarball: ${Math.round((Date.now() - started) / 1000)} s\n`);
  const bin = join(prefix, 'bin', 'claude-telemetry');
  assert.ok(existsSync(bin), 'the claude-telemetry bin is linked');

  const home = join(root, 'home');
  const project = join(root, 'my-project');
  mkdirSync(project);
  const run = (args: string[], cwd = root) => {
    const r = spawnSync(bin, args, {
      cwd,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, CLAUDE_TELEMETRY_HOME: home },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const ok = (args: string[], cwd?: string) => {
    const r = run(args, cwd);
    assert.equal(r.status, 0, `claude-telemetry ${args.join(' ')}:\n${r.out}`);
    return r.out;
  };

  assert.match(ok(['setup']), /hook:/);
  // Its own port: other suites may hold the default one.
  writeFileSync(join(home, 'config.yaml'), 'server:\n  port: 0\n');
  assert.match(ok(['start']), /collector started/);
  try {
    assert.match(ok(['connect'], project), /connected/);
    assert.ok(existsSync(join(project, '.claude', 'settings.json')));
    ok(['demo']);
    const status = JSON.parse(ok(['status', '--json'])) as { running: boolean; eventsStored: number };
    assert.equal(status.running, true);
    assert.ok(status.eventsStored > 0, `events stored: ${status.eventsStored}`);
    const health = JSON.parse(run(['health', '--json']).out) as {
      checks: { name: string; status: string }[];
    };
    const failed = health.checks.filter((c) => c.status === 'fail');
    assert.deepEqual(failed, [], 'the installed package passes its own health checks');
    assert.equal(run(['verify']).status, 0);
  } finally {
    assert.match(ok(['stop']), /collector stopped/);
  }
});
