/**
 * The collector's side of the spool. The capture hook writes each hook call to spool/tmp/<name> and renames
 * it into spool/new/<name> once complete; names are `<pid>.<uuid>.<scope>`. A file in new/ is therefore
 * whole; it is removed only after its event is committed, or moved to quarantine/ with a reason.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { DataPaths } from '../config/paths.ts';
import { type FleetEnv, QuarantineError, type SpoolRecord } from '../types.ts';

/** Largest payload readRecord accepts unless told otherwise. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/**
 * Header written by the hook before the payload: `CT1 <CLAUDE_PROJECT_DIR>\n`, or, when the agent was given
 * a fleet identity, `CT2 <agent id>\t<group>\t<role>\t<workflow id>\t<CLAUDE_PROJECT_DIR>\n`.
 */
const HEADER = Buffer.from('CT1 ');
const HEADER2 = Buffer.from('CT2 ');
const FLEET_KEYS = ['agent_id', 'agent_group', 'agent_role', 'workflow_id'] as const;
/** Longest fleet value kept (longer ones are cut). */
const FLEET_CHARS = 256;
const SCOPES = new Set(['project', 'local', 'global', 'demo']);
const REASON_SUFFIX = '.reason.json';
/** A writer still alive keeps its tmp/ file out of orphan recovery, but not longer than this. */
const ORPHAN_HARD_LIMIT_MS = 60 * 60_000;

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Names of the complete spool files waiting in spool/new (unordered). */
export function listReady(paths: DataPaths): string[] {
  return listDir(paths.spoolNew);
}

/** Connection scope encoded in a spool file name (its last dot-separated part). */
export function scopeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  const s = dot < 0 ? '' : name.slice(dot + 1);
  return SCOPES.has(s) ? s : 'unknown';
}

/** Writer pid encoded in a spool file name (its first part), or null. */
export function pidOf(name: string): number | null {
  const dot = name.indexOf('.');
  const head = dot < 0 ? name : name.slice(0, dot);
  if (!/^[0-9]{1,10}$/.test(head)) return null;
  return Number(head);
}

/**
 * Read one spool file from new/. Throws QuarantineError when the file is larger than `maxBytes` (nothing
 * is read then). A file without a `CT1`/`CT2` header line is taken whole as the payload, with no project dir.
 */
export function readRecord(
  paths: DataPaths,
  name: string,
  maxBytes: number = DEFAULT_MAX_PAYLOAD_BYTES,
): SpoolRecord {
  const path = join(paths.spoolNew, name);
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new QuarantineError('not a regular file');
    const size = Number(st.size);
    if (size > maxBytes) throw new QuarantineError(`payload too large: ${size} bytes > ${maxBytes}`);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const data = got === size ? buf : buf.subarray(0, got);
    let projectDir: string | null = null;
    let body = data;
    let fleet: FleetEnv | undefined;
    const ct1 = startsWith(data, HEADER);
    if (ct1 || startsWith(data, HEADER2)) {
      const nl = data.indexOf(10, HEADER.length);
      if (nl >= 0) {
        let dir = data.toString('utf8', HEADER.length, nl);
        if (!ct1) {
          const parsed = parseFleet(dir);
          dir = parsed.rest;
          fleet = parsed.fleet;
        }
        projectDir = dir === '' ? null : dir;
        body = data.subarray(nl + 1);
      }
    }
    return {
      name,
      path,
      // A double holds ms since the epoch to a fraction of a microsecond: enough to order hook calls.
      mtimeMs: st.mtimeMs,
      scope: scopeOf(name),
      projectDir,
      body,
      ...(fleet !== undefined ? { fleet } : {}),
    };
  } finally {
    closeSync(fd);
  }
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/**
 * The CT2 header after `CT2 `: four tab-ended values, then the project dir (which may itself hold tabs).
 * A header cut short keeps what it has; the rest is the project dir.
 */
export function parseFleet(line: string): { fleet: FleetEnv | undefined; rest: string } {
  const fleet: FleetEnv = {};
  let at = 0;
  let any = false;
  for (const key of FLEET_KEYS) {
    const tab = line.indexOf('\t', at);
    if (tab < 0) break;
    const v = line.slice(at, tab);
    at = tab + 1;
    if (v === '') continue;
    fleet[key] = v.length > FLEET_CHARS ? v.slice(0, FLEET_CHARS) : v;
    any = true;
  }
  return { fleet: any ? fleet : undefined, rest: line.slice(at) };
}

let pidMaxCache: number | undefined;

/** The kernel's pid limit (pids wrap around to small numbers after it). */
export function pidMax(): number {
  if (pidMaxCache === undefined) {
    try {
      const v = Number.parseInt(readFileSync('/proc/sys/kernel/pid_max', 'utf8'), 10);
      pidMaxCache = Number.isFinite(v) && v > 0 ? v : 99_999;
    } catch {
      pidMaxCache = 99_999; // macOS and BSDs
    }
  }
  return pidMaxCache;
}

/**
 * Order records as the hooks ran: by mtime, then (for files sharing one timestamp tick) by writer pid.
 * Pids grow with process creation and wrap around at pid_max; when one tick holds pids from both ends of
 * the range, the small ones came after the wrap and sort last. Sorts in place and returns the array.
 */
export function sortRecords<T extends Pick<SpoolRecord, 'name' | 'mtimeMs'>>(
  records: T[],
  max: number = pidMax(),
): T[] {
  const half = max / 2;
  const byTick = new Map<number, T[]>();
  for (const r of records) {
    const group = byTick.get(r.mtimeMs);
    if (group) group.push(r);
    else byTick.set(r.mtimeMs, [r]);
  }
  const key = new Map<T, number>();
  for (const group of byTick.values()) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const r of group) {
      const p = pidOf(r.name) ?? 0;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    const wrapped = hi - lo > half;
    for (const r of group) {
      const p = pidOf(r.name) ?? 0;
      key.set(r, wrapped && p < half ? p + max : p);
    }
  }
  return records.sort((a, b) => {
    if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
    const d = key.get(a)! - key.get(b)!;
    if (d !== 0) return d;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Delete spool files from new/ once their events are committed. Missing files are fine. Returns the count deleted. */
export function remove(paths: DataPaths, names: Iterable<string>): number {
  let n = 0;
  for (const name of names) {
    try {
      unlinkSync(join(paths.spoolNew, name));
      n++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return n;
}

/** Free name in `dir` for `name` (name itself, else name~1, name~2, ...). */
function freeName(dir: string, name: string): string {
  for (let i = 0; ; i++) {
    const candidate = i === 0 ? name : `${name}~${i}`;
    try {
      lstatSync(join(dir, candidate));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return candidate;
      throw e;
    }
  }
}

export interface QuarantineReason {
  reason: string;
  /** ISO-8601 time of the quarantine. */
  at: string;
  /** File size in bytes. */
  size: number;
}

/**
 * Move a spool file from new/ into quarantine/ and write `<name>.reason.json` next to it. The reason is
 * written first, so a crash in between leaves the file in new/ to be quarantined again, never a file in
 * quarantine/ without its reason. Returns the quarantined file's path.
 */
export function quarantine(paths: DataPaths, name: string, reason: string, now: Date = new Date()): string {
  mkdirSync(paths.quarantine, { recursive: true, mode: 0o700 });
  const src = join(paths.spoolNew, name);
  const size = statSync(src).size;
  const target = freeName(paths.quarantine, name);
  const dest = join(paths.quarantine, target);
  const info: QuarantineReason = { reason, at: now.toISOString(), size };
  const reasonFile = `${dest}${REASON_SUFFIX}`;
  const tmp = join(paths.quarantine, `.${target}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  renameSync(tmp, reasonFile);
  renameSync(src, dest);
  return dest;
}

/** Number of quarantined spool files (reason files not counted). */
export function quarantineCount(paths: DataPaths): number {
  return listDir(paths.quarantine).filter((n) => !n.endsWith(REASON_SUFFIX)).length;
}

function alive(pid: number | null): boolean {
  if (pid === null || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A name in new/ for a recovered file: the name itself, or with `-r<n>` added to its middle part. */
function recoveredName(name: string, i: number): string {
  if (i === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot < 0 ? `${name}-r${i}` : `${name.slice(0, dot)}-r${i}${name.slice(dot)}`;
}

/**
 * Move files stranded in spool/tmp (their writer died before the rename, or the rename failed) into new/,
 * so they are ingested, or quarantined by the parser when incomplete: nothing is dropped silently. Only
 * files older than `olderThanMs` are touched, and not while their writer (the pid in the name) still runs,
 * up to an hour. An existing file in new/ is never overwritten. Returns the names now in new/.
 */
export function recoverOrphans(paths: DataPaths, olderThanMs: number, now: number = Date.now()): string[] {
  const moved: string[] = [];
  for (const name of listDir(paths.spoolTmp)) {
    const src = join(paths.spoolTmp, name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(src);
    } catch {
      continue; // renamed by its writer meanwhile
    }
    if (!st.isFile()) continue;
    const age = now - st.mtimeMs;
    if (age < olderThanMs) continue;
    if (age < ORPHAN_HARD_LIMIT_MS && alive(pidOf(name))) continue;
    mkdirSync(paths.spoolNew, { recursive: true, mode: 0o700 });
    for (let i = 0; ; i++) {
      const target = recoveredName(name, i);
      try {
        // link + unlink: unlike rename, link never replaces an existing file.
        linkSync(src, join(paths.spoolNew, target));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') continue;
        if (code === 'ENOENT') break; // the writer renamed it after all
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
        // No hard links on this file system: rename, after checking the name is free.
        if (exists(join(paths.spoolNew, target))) continue;
        renameSync(src, join(paths.spoolNew, target));
        moved.push(target);
        break;
      }
      unlinkSync(src);
      moved.push(target);
      break;
    }
  }
  return moved;
}

export interface Backlog {
  /** Complete files in new/, waiting for the collector. */
  ready: number;
  /** Files in tmp/: being written right now, or orphans awaiting recovery. */
  inFlight: number;
}

export function backlogDetail(paths: DataPaths): Backlog {
  return { ready: listDir(paths.spoolNew).length, inFlight: listDir(paths.spoolTmp).length };
}

/** Files not yet ingested: new/ plus tmp/. */
export function backlog(paths: DataPaths): number {
  const b = backlogDetail(paths);
  return b.ready + b.inFlight;
}
