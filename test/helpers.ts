import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installHook } from '../src/capture/install.ts';
import { hookCommand } from '../src/capture/settings.ts';
import { type DataPaths, dataPaths } from '../src/config/paths.ts';
import type { TelemetryEvent } from '../src/types.ts';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(REPO, 'dist', 'cli', 'main.js');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'claude-code');

export function tempPaths(tag: string): DataPaths {
  const p = dataPaths(mkdtempSync(join(tmpdir(), `ct-${tag}-`)));
  installHook(p);
  return p;
}

export function fixturePayloads(file = 'hook-payloads.full.2.1.329.jsonl'): Record<string, unknown>[] {
  return readFileSync(join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs the installed hook exactly as Claude Code does (`sh -c <registered command>`). */
export function runHook(paths: DataPaths, payload: string | Buffer, projectDir = '/home/dev/project') {
  return spawnSync('sh', ['-c', hookCommand(paths.hook, 'project')], {
    input: payload,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLAUDE_PROJECT_DIR: projectDir },
  });
}

/** Writes n ready spool files directly (as the hook would), each a distinct session-tagged payload. */
export function writeSpoolFiles(paths: DataPaths, n: number, perSession = 40): void {
  const templates = fixturePayloads();
  let session = randomUUID();
  for (let i = 0; i < n; i++) {
    if (i % perSession === 0) session = randomUUID();
    const t = templates[i % templates.length] as Record<string, unknown>;
    const body = JSON.stringify({ ...t, session_id: session });
    writeFileSync(
      join(paths.spoolNew, `${10_000 + i}.${randomUUID()}.project`),
      `CT1 /home/dev/project\n${body}`,
    );
  }
}

export function spoolCount(paths: DataPaths): number {
  return existsSync(paths.spoolNew) ? readdirSync(paths.spoolNew).length : 0;
}

/** The CLI (compiled), with its own data dir. */
export function cli(paths: DataPaths, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, ...opts.env, CLAUDE_TELEMETRY_HOME: paths.home },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A collector in the foreground as a child process (so a test can SIGKILL it). */
export function spawnCollector(paths: DataPaths): ChildProcess {
  return spawn(process.execPath, [CLI, 'start', '--foreground'], {
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true or the deadline; returns whether it became true. */
export async function waitFor(cond: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** A minimal stored-shape event (a Notification of one session), for tests that write the store directly. */
export function notificationEvent(id: string, session: string, timeMs: number): TelemetryEvent {
  return {
    id,
    timestamp: new Date(timeMs).toISOString(),
    level: 'INFO',
    event_type: 'notification',
    hook_event: 'Notification',
    session_id: session,
    project_path: '/home/dev/project',
    project_name: 'project',
    tool_name: null,
    action_details: {},
    metadata: { telemetry_version: '0', user_id: 'u', host: 'h', scope: 'project' },
    raw_input: {},
  };
}
