import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { DataPaths } from '../config/paths.ts';
import type { CollectorStatusFile } from './collector.ts';

/** Reads the pid file; returns the pid only when that process is alive. */
export function runningPid(paths: DataPaths): number | undefined {
  const pid = readPidFile(paths.pidFile);
  return pid !== undefined && isAlive(pid) && looksLikeCollector(pid) ? pid : undefined;
}

/** The pid a pid file names, whether or not that process lives. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A pid file left by a collector that was killed can name a pid the system has since given to another
 * program; signalling that program would be a disaster. The process must be a `start --foreground` of ours.
 */
function looksLikeCollector(pid: number): boolean {
  const argv = commandLineOf(pid);
  // Unknown (no /proc and no ps): the liveness check is all there is. Gone meanwhile: not ours.
  if (argv === undefined) return true;
  if (argv === null) return false;
  return argv.includes('start') && argv.includes('--foreground');
}

/**
 * The command line of a process: from /proc/<pid>/cmdline on Linux, else from `ps -o command= -p <pid>`
 * (macOS and BSDs; split on whitespace, enough to find our arguments). null when the process is gone,
 * undefined when neither source is available.
 */
export function commandLineOf(pid: number, procDir = '/proc'): string[] | null | undefined {
  try {
    return readFileSync(`${procDir}/${pid}/cmdline`, 'utf8').split('\0');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(`${procDir}/self`)) return null;
  }
  const r = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000 });
  if (r.error || r.status === null) return undefined;
  const text = r.stdout.trim();
  return r.status === 0 && text !== '' ? text.split(/\s+/) : null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims the pid file for this process; fails when another live collector holds it. */
export function claimPidFile(paths: DataPaths): void {
  const other = runningPid(paths);
  if (other !== undefined && other !== process.pid) {
    throw new Error(`a collector is already running (pid ${other}); stop it with: claude-telemetry stop`);
  }
  writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
}

export function releasePidFile(paths: DataPaths): void {
  try {
    if (readFileSync(paths.pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(paths.pidFile);
  } catch {
    // already gone
  }
}

export function readStatusFile(paths: DataPaths): CollectorStatusFile | undefined {
  try {
    return JSON.parse(readFileSync(paths.statusFile, 'utf8')) as CollectorStatusFile;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `claude-telemetry start --foreground` as a detached background process with its output in
 * the log file, and waits until it has written its pid file (or died, in which case the log tail is
 * part of the error).
 */
export async function startBackground(
  paths: DataPaths,
  cliEntry: string,
  timeoutMs = 15_000,
): Promise<number> {
  const existing = runningPid(paths);
  if (existing !== undefined) return existing;
  const out = openSync(paths.logFile, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, cliEntry, 'start', '--foreground'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
  });
  closeSync(out);
  const pid = child.pid;
  child.unref();
  if (pid === undefined) throw new Error('could not start the collector process');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const st = readStatusFile(paths);
    if (runningPid(paths) === pid && st?.pid === pid) return pid;
    if (!isAlive(pid)) break;
    await sleep(50);
  }
  const tail = existsSync(paths.logFile)
    ? readFileSync(paths.logFile, 'utf8').split('\n').slice(-15).join('\n')
    : '';
  if (isAlive(pid)) {
    throw new Error(`the collector (pid ${pid}) did not become ready within ${timeoutMs} ms; log:\n${tail}`);
  }
  throw new Error(`the collector exited during start-up; log (${paths.logFile}):\n${tail}`);
}

/** SIGTERM, wait up to graceMs for a clean exit, then SIGKILL. Returns how it ended. */
export async function stopCollector(
  paths: DataPaths,
  graceMs = 10_000,
): Promise<'not-running' | 'stopped' | 'killed'> {
  const pid = runningPid(paths);
  if (pid === undefined) return 'not-running';
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited just now
  }
  for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(25);
  try {
    unlinkSync(paths.pidFile);
  } catch {
    // the process removed it
  }
  return 'killed';
}
