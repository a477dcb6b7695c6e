/**
 * The CLI as a user runs it (compiled), against its own data dir.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { TelemetryEvent } from '../../src/types.ts';
import { CLI, cli, exited, runHook, sleep, tempPaths, waitFor } from '../helpers.ts';

const paths = tempPaths('cli');
const work = mkdtempSync(join(tmpdir(), 'ct-cli-project-'));
after(() => {
  cli(paths, ['stop']);
  rmSync(paths.home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const COMMANDS = [
  'setup',
  'start',
  'stop',
  'restart',
  'status',
  'connect',
  'disconnect',
  'projects',
  'logs',
  'query',
  'sessions',
  'verify',
  'reindex',
  'demo',
];

test('the built CLI runs as a program, as `npx claude-telemetry` in this folder runs it', () => {
  const r = spawnSync(CLI, ['--help'], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /claude-telemetry/);
});

describe('cli', () => {
  test('--help for every command; unknown commands and flags fail with exit 2', () => {
    const top = cli(paths, ['--help']);
    assert.equal(top.status, 0);
    for (const c of COMMANDS) {
      assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
      const r = cli(paths, [c, '--help']);
      assert.equal(r.status, 0, c);
      assert.match(r.stdout, new RegExp(`Usage: claude-telemetry ${c}`));
    }
    assert.equal(cli(paths, ['frobnicate']).status, 2);
    const bad = cli(paths, ['query', '--nope']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--help/);
    assert.equal(cli(paths, ['query', '--since', 'yesterday-ish']).status, 2);
  });

  test('connect merges into settings.json, keeps other settings, refuses invalid JSON', () => {
    const project = join(work, 'app');
    mkdirSync(join(project, '.claude'), { recursive: true });
    const settings = join(project, '.claude', 'settings.json');
    writeFileSync(
      settings,
      JSON.stringify({
        permissions: { allow: ['Bash(ls:*)'] },
        hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'other-tool' }] }] },
      }),
    );
    const dry = cli(paths, ['connect', project, '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /capture-hook\.sh/);
    assert.doesNotMatch(readFileSync(settings, 'utf8'), /capture-hook/);

    const r = cli(paths, ['connect', project, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(readFileSync(settings, 'utf8'));
    assert.deepEqual(doc.permissions, { allow: ['Bash(ls:*)'] });
    assert.equal(doc.hooks.PreToolUse.length, 2);
    assert.ok(Object.keys(doc.hooks).length >= 30);
    const again = cli(paths, ['connect', project, '--json']);
    assert.equal(JSON.parse(again.stdout).changed, false);

    const projects = JSON.parse(cli(paths, ['projects', '--json']).stdout);
    assert.ok(projects.connected.some((p: { path: string }) => p.path === project));

    const off = cli(paths, ['disconnect', project]);
    assert.equal(off.status, 0);
    const after = JSON.parse(readFileSync(settings, 'utf8'));
    assert.deepEqual(after.hooks, {
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'other-tool' }] }],
    });

    const broken = join(work, 'broken');
    mkdirSync(join(broken, '.claude'), { recursive: true });
    writeFileSync(join(broken, '.claude', 'settings.json'), '{ "hooks": { ');
    const bad = cli(paths, ['connect', broken]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /settings\.json/);
    assert.equal(readFileSync(join(broken, '.claude', 'settings.json'), 'utf8'), '{ "hooks": { ');
  });

  test('start, hook events visible in query/logs/sessions, status, stop', async () => {
    const start = cli(paths, ['start', '--json']);
    assert.equal(start.status, 0, start.stderr);
    const pid = JSON.parse(start.stdout).pid as number;
    assert.ok(pid > 0);
    const st = JSON.parse(cli(paths, ['status', '--json']).stdout);
    assert.equal(st.running, true);
    assert.equal(st.pid, pid);

    const session = 'cli-session-0001';
    const base = { session_id: session, cwd: '/home/dev/project', transcript_path: '/nonexistent.jsonl' };
    runHook(paths, JSON.stringify({ ...base, hook_event_name: 'SessionStart', source: 'startup' }));
    runHook(
      paths,
      JSON.stringify({
        ...base,
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_use_id: 't1',
        tool_input: { command: 'cat /etc/hostname' },
      }),
    );
    runHook(
      paths,
      JSON.stringify({
        ...base,
        hook_event_name: 'PreToolUse',
        tool_name: 'Read',
        tool_use_id: 't2',
        tool_input: { file_path: '/home/dev/project/src/a.ts' },
      }),
    );
    const seen = await waitFor(() => {
      const q = cli(paths, ['query', '--session', session, '--json']);
      return q.status === 0 && (JSON.parse(q.stdout) as unknown[]).length === 3;
    }, 15_000);
    assert.ok(seen, 'events visible while the collector runs');

    const outside = JSON.parse(cli(paths, ['query', '--outside-scope', '--json']).stdout) as TelemetryEvent[];
    assert.deepEqual(
      outside.map((e) => e.action_details.command),
      ['cat /etc/hostname'],
    );
    const reads = JSON.parse(cli(paths, ['query', '--tool', 'Read', '--json']).stdout) as TelemetryEvent[];
    assert.equal(reads[0]?.action_details.file_path, '/home/dev/project/src/a.ts');
    assert.equal(reads[0]?.action_details.outside_project_scope, false);
    const byEvent = JSON.parse(
      cli(paths, ['query', '--event', 'session_start', '--json']).stdout,
    ) as unknown[];
    assert.equal(byEvent.length, 1);

    const table = cli(paths, ['query', '--session', session]);
    assert.match(table.stdout, /command_execution/);
    const logs = cli(paths, ['logs', '-n', '2']);
    assert.match(logs.stdout, /file_read/);
    const sessions = JSON.parse(cli(paths, ['sessions', '--json']).stdout) as {
      session_id: string;
      events: number;
    }[];
    assert.equal(sessions.find((s) => s.session_id === session)?.events, 3);

    const stop = cli(paths, ['stop', '--json']);
    assert.equal(JSON.parse(stop.stdout).result, 'stopped');
    assert.equal(JSON.parse(cli(paths, ['status', '--json']).stdout).running, false);
    assert.equal(cli(paths, ['verify']).status, 0);

    const re = cli(paths, ['reindex', '--json']);
    assert.equal(re.status, 0, re.stderr);
    assert.equal(JSON.parse(re.stdout).events, 3);
  });
});

test('logs -f --json follows new events as they are ingested', async () => {
  const p = tempPaths('follow');
  try {
    assert.equal(cli(p, ['start']).status, 0);
    const child = spawn(process.execPath, [CLI, 'logs', '-f', '--json', '-n', '5'], {
      env: { ...process.env, CLAUDE_TELEMETRY_HOME: p.home },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await sleep(400);
    for (let i = 0; i < 3; i++) {
      runHook(
        p,
        JSON.stringify({ session_id: 'follow-1', hook_event_name: 'Notification', message: `m${i}` }),
      );
    }
    const got = await waitFor(
      () => out.split('\n').filter((l) => l.includes('follow-1')).length === 3,
      10_000,
    );
    child.kill('SIGINT');
    await exited(child);
    assert.ok(got, `followed output: ${out}`);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TelemetryEvent);
    assert.deepEqual(
      lines.filter((e) => e.session_id === 'follow-1').map((e) => e.event_type),
      ['notification', 'notification', 'notification'],
    );
  } finally {
    cli(p, ['stop']);
    rmSync(p.home, { recursive: true, force: true });
  }
});

test('a stale pid file naming an unrelated live process is ignored, and stop does not signal it', () => {
  const p = tempPaths('stale');
  const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(p.pidFile, `${bystander.pid}\n`);
    const st = JSON.parse(cli(p, ['status', '--json']).stdout);
    assert.equal(st.running, false);
    const stop = JSON.parse(cli(p, ['stop', '--json']).stdout);
    assert.equal(stop.result, 'not-running');
    assert.equal(bystander.exitCode, null);
    assert.equal(bystander.signalCode, null);
  } finally {
    bystander.kill('SIGKILL');
    rmSync(p.home, { recursive: true, force: true });
  }
});
