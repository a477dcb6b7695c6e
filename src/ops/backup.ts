/**
 * Backup and restore of a data dir as one .tar.gz:
 *
 *   store/events.db            SQLite online backup: a consistent snapshot while the collector keeps writing
 *   audit/checkpoints.jsonl    signed checkpoints (copied before the entries, so none covers a missing entry)
 *   audit/YYYY-MM-DD.jsonl     the hash-chained log, each file cut after its last complete line
 *   audit/archive/...          archived (compressed, signed) segments, see src/audit/archive.ts
 *   keys/                      the checkpoint key pair: the archive holds the private signing key
 *   config.yaml, projects.json, sinks/   settings, connected projects, forwarding cursors (when present)
 *   manifest.json              last: sha256 and size of every member, versions and counts
 *
 * The store is copied first and the audit log after it, so the log in the archive holds at least every
 * event the store snapshot has; the collector moves the difference into the store at its next start.
 *
 * Restore extracts into a staging dir inside the data dir, checks every member against the manifest,
 * verifies the audit chain and its signed checkpoints and the SQLite file, and only then moves the files
 * into place; what it replaces is kept under `replaced-<time>/`.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createReadStream,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { listDayFiles, verifyAudit } from '../audit/index.ts';
import { installHook } from '../capture/install.ts';
import { runningPid } from '../collector/control.ts';
import { TELEMETRY_VERSION } from '../collector/pipeline.ts';
import type { DataPaths } from '../config/paths.ts';
import { SCHEMA_VERSION, Store } from '../store/index.ts';
import { acquireMaintenanceLock } from './lock.ts';
import { extractTarGz, TarError, TarGzWriter, type TarMember } from './tar.ts';

export const MANIFEST_NAME = 'manifest.json';
export const BACKUP_FORMAT = 'claude-telemetry-backup';
export const BACKUP_FORMAT_VERSION = 1;
export const SIGNING_KEY_MEMBER = 'keys/audit-ed25519.key';

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  created_at: string;
  host: string;
  telemetry_version: string;
  node_version: string;
  store_schema_version: number;
  counts: { events: number; sessions: number; audit_entries: number; checkpoints: number; files: number };
  /** seq and hash of the last audit entry in the archive (seq 0 when the log is empty). */
  audit_head: { seq: number; hash: string };
  files: ManifestFile[];
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** Bytes up to and including the last '\n' of a file (an append in flight is left out), and that line. */
export function completePrefix(file: string): { bytes: number; lastLine: string | null } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let end = size;
    let tail = Buffer.alloc(0);
    while (end > 0) {
      const len = Math.min(end, 64 * 1024);
      const buf = Buffer.allocUnsafe(len);
      readSync(fd, buf, 0, len, end - len);
      tail = Buffer.concat([buf, tail]);
      end -= len;
      const nl = tail.lastIndexOf(0x0a);
      if (nl < 0) continue;
      const prev = nl === 0 ? -1 : tail.lastIndexOf(0x0a, nl - 1);
      if (prev < 0 && end > 0) continue; // the last line starts further back
      return { bytes: end + nl + 1, lastLine: tail.toString('utf8', prev + 1, nl) };
    }
    return { bytes: 0, lastLine: null };
  } finally {
    closeSync(fd);
  }
}

/** Regular files under `dir`, as paths relative to `base` with '/' separators, in a stable order. */
function filesUnder(dir: string, base: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p, base));
    else if (st.isFile()) out.push(relative(base, p).split(sep).join('/'));
  }
  return out;
}

export interface BackupPlanItem {
  path: string;
  bytes: number;
}

export interface BackupResult {
  file: string;
  manifest: BackupManifest;
  /** Bytes of the archive. */
  archiveBytes: number;
  ms: number;
}

/** What a backup would hold now (for --dry-run), with sizes as they are on disk. */
export function planBackup(paths: DataPaths): BackupPlanItem[] {
  const items: BackupPlanItem[] = [];
  const add = (rel: string) => {
    const p = join(paths.home, rel);
    if (existsSync(p)) items.push({ path: rel, bytes: statSync(p).size });
  };
  add('store/events.db');
  for (const rel of [...filesUnder(paths.audit, paths.home), ...filesUnder(paths.keys, paths.home)]) add(rel);
  add('config.yaml');
  add('projects.json');
  for (const rel of filesUnder(join(paths.home, 'sinks'), paths.home)) add(rel);
  return items;
}

interface Source {
  rel: string;
  src: string;
  /** Bytes to take from the start of `src`. */
  bytes: number;
  mode: number;
  mtimeMs: number;
  sha256: string;
}

async function hashPrefix(file: string, bytes: number): Promise<string> {
  const h = createHash('sha256');
  if (bytes > 0) {
    for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 })) {
      h.update(chunk as Buffer);
    }
  }
  return h.digest('hex');
}

async function source(rel: string, src: string, bytes?: number): Promise<Source> {
  const st = statSync(src);
  const n = bytes ?? st.size;
  return { rel, src, bytes: n, mode: st.mode & 0o777, mtimeMs: st.mtimeMs, sha256: await hashPrefix(src, n) };
}

/**
 * Writes a backup of the data dir to `dest` (via `dest.partial`, renamed when complete). Safe while the
 * collector runs. Every member is hashed before the archive is written so that the manifest can come
 * first: a restore then checks each member the moment it is read and names the first damaged one.
 */
export async function createBackup(paths: DataPaths, dest: string): Promise<BackupResult> {
  const started = Date.now();
  const release = acquireMaintenanceLock(paths, 'backup');
  const partial = `${dest}.partial`;
  const scratch = join(paths.run, `backup-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  let tar: TarGzWriter | undefined;
  try {
    const sources: Source[] = [];

    // 1. the store snapshot
    let events = 0;
    let sessions = 0;
    if (existsSync(paths.storeFile)) {
      const snapshot = join(scratch, 'events.db');
      const store = Store.open(paths.storeFile, { readonly: true });
      try {
        await store.backupTo(snapshot);
      } finally {
        store.close();
      }
      const copy = Store.open(snapshot, { readonly: true });
      try {
        ({ events, sessions } = copy.stats());
      } finally {
        copy.close();
      }
      chmodSync(snapshot, 0o600);
      sources.push(await source('store/events.db', snapshot));
    }

    // 2. checkpoints, then the entries they cover, then archived segments
    const cpFile = join(paths.audit, 'checkpoints.jsonl');
    let checkpoints = 0;
    if (existsSync(cpFile)) {
      const text = readFileSync(cpFile).subarray(0, completePrefix(cpFile).bytes);
      checkpoints = text.toString('utf8').split('\n').length - 1;
      const copy = join(scratch, 'checkpoints.jsonl');
      writeFileSync(copy, text, { mode: 0o600 });
      sources.push(await source('audit/checkpoints.jsonl', copy));
    }
    let head = { seq: 0, hash: '0'.repeat(64) };
    for (const name of listDayFiles(paths.audit)) {
      const src = join(paths.audit, name);
      const { bytes, lastLine } = completePrefix(src);
      if (lastLine) {
        const e = JSON.parse(lastLine) as { seq: number; hash: string };
        head = { seq: e.seq, hash: e.hash };
      }
      sources.push(await source(`audit/${name}`, src, bytes));
    }
    for (const rel of filesUnder(join(paths.audit, 'archive'), paths.home)) {
      sources.push(await source(rel, join(paths.home, rel)));
    }

    // 3. keys, settings, forwarding cursors
    const rest = [
      ...filesUnder(paths.keys, paths.home).filter((rel) => !rel.includes('/.')),
      ...['config.yaml', 'projects.json'].filter((rel) => existsSync(join(paths.home, rel))),
      ...filesUnder(join(paths.home, 'sinks'), paths.home),
    ];
    for (const rel of rest) sources.push(await source(rel, join(paths.home, rel)));

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      format_version: BACKUP_FORMAT_VERSION,
      created_at: new Date().toISOString(),
      host: hostname(),
      telemetry_version: TELEMETRY_VERSION,
      node_version: process.version,
      store_schema_version: SCHEMA_VERSION,
      counts: { events, sessions, audit_entries: head.seq, checkpoints, files: sources.length },
      audit_head: head,
      files: sources.map((x) => ({ path: x.rel, size: x.bytes, sha256: x.sha256, mode: x.mode })),
    };
    tar = new TarGzWriter(partial);
    await tar.addBuffer(MANIFEST_NAME, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 0o600);
    for (const x of sources) {
      const m = await tar.addFile(x.rel, x.src, { bytes: x.bytes, mode: x.mode, mtimeMs: x.mtimeMs });
      if (m.sha256 !== x.sha256)
        throw new BackupError(`${x.rel} changed while the backup was written; run it again`);
    }
    await tar.close();
    renameSync(partial, dest);
    return { file: dest, manifest, archiveBytes: statSync(dest).size, ms: Date.now() - started };
  } catch (err) {
    await tar?.abort();
    rmSync(partial, { force: true });
    throw err;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Verify and restore

export interface ArchiveCheck {
  manifest: BackupManifest;
  /** Audit entries and checkpoints verified. */
  auditEntries: number;
  checkpoints: number;
}

function readManifest(staging: string, archive: string): BackupManifest {
  const file = join(staging, MANIFEST_NAME);
  if (!existsSync(file))
    throw new BackupError(`${archive} has no ${MANIFEST_NAME}: not a backup of this program`);
  let m: BackupManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as BackupManifest;
  } catch (err) {
    throw new BackupError(`${MANIFEST_NAME} in ${archive} is not valid JSON: ${(err as Error).message}`);
  }
  if (m.format !== BACKUP_FORMAT || !Array.isArray(m.files)) {
    throw new BackupError(`${MANIFEST_NAME} in ${archive} is not a ${BACKUP_FORMAT} manifest`);
  }
  if (m.format_version > BACKUP_FORMAT_VERSION) {
    throw new BackupError(
      `${archive} is backup format ${m.format_version}; this program (${TELEMETRY_VERSION}) reads up to ${BACKUP_FORMAT_VERSION}: upgrade it first`,
    );
  }
  return m;
}

/** Checks each member against the manifest (the archive's first member) as it is extracted. */
class MemberChecker {
  manifest: BackupManifest | undefined;
  private readonly expected = new Map<string, ManifestFile>();

  constructor(
    private readonly staging: string,
    private readonly archive: string,
  ) {}

  onMember(m: TarMember): void {
    if (!this.manifest) {
      if (m.name !== MANIFEST_NAME) {
        throw new BackupError(
          `${this.archive} does not start with ${MANIFEST_NAME}: not a backup of this program`,
        );
      }
      this.manifest = readManifest(this.staging, this.archive);
      for (const f of this.manifest.files) this.expected.set(f.path, f);
      return;
    }
    const f = this.expected.get(m.name);
    if (!f) throw new BackupError(`${this.archive}: ${m.name} is in the archive but not in the manifest`);
    if (m.size !== f.size || m.sha256 !== f.sha256) {
      throw new BackupError(
        `${this.archive} is damaged: ${m.name} does not match its sha256 in the manifest` +
          (m.size !== f.size ? ` (${m.size} bytes, the manifest says ${f.size})` : ''),
      );
    }
    this.expected.delete(m.name);
  }

  /** Members the manifest lists that the archive did not hold. */
  missing(): string[] {
    return [...this.expected.keys()];
  }
}

/**
 * Extracts `archive` into `staging` (created, must not exist) and checks it: every member against the
 * manifest, the audit chain and signed checkpoints, and the SQLite file. Throws BackupError naming what is
 * damaged; on success the staging dir holds the verified files.
 */
export async function checkArchive(archive: string, staging: string): Promise<ArchiveCheck> {
  if (!existsSync(archive)) throw new BackupError(`${archive} does not exist`);
  mkdirSync(staging, { mode: 0o700 });
  const checker = new MemberChecker(staging, archive);
  try {
    await extractTarGz(archive, staging, (m) => checker.onMember(m));
  } catch (err) {
    if (err instanceof TarError) throw new BackupError(`${archive} is damaged: ${err.message}`);
    throw err;
  }
  const manifest = checker.manifest;
  if (!manifest) throw new BackupError(`${archive} holds no ${MANIFEST_NAME}: not a backup of this program`);
  const missing = checker.missing();
  if (missing.length > 0) throw new BackupError(`${archive} is incomplete: ${missing.join(', ')} missing`);

  const audit = await verifyAudit(join(staging, 'audit'), { keysDir: join(staging, 'keys') });
  if (!audit.ok) {
    const e = audit.firstError;
    throw new BackupError(
      `${archive}: the audit log in it does not verify: ${e?.message ?? 'unknown problem'}${e?.file ? ` (audit/${e.file}${e.line ? ` line ${e.line}` : ''})` : ''}`,
    );
  }
  if (audit.head.seq !== manifest.audit_head.seq || audit.head.hash !== manifest.audit_head.hash) {
    throw new BackupError(
      `${archive}: the audit log ends at seq ${audit.head.seq}, the manifest says ${manifest.audit_head.seq}`,
    );
  }
  const dbFile = join(staging, 'store', 'events.db');
  if (existsSync(dbFile)) {
    if (manifest.store_schema_version > SCHEMA_VERSION) {
      throw new BackupError(
        `${archive}: its store has schema ${manifest.store_schema_version}, this program reads up to ${SCHEMA_VERSION}: upgrade first`,
      );
    }
    let store: Store;
    try {
      store = Store.open(dbFile);
    } catch (err) {
      throw new BackupError(`${archive}: store/events.db cannot be opened: ${(err as Error).message}`);
    }
    try {
      const found = store.quickCheck();
      if (found.length > 0)
        throw new BackupError(`${archive}: store/events.db fails its integrity check: ${found[0]}`);
      if (store.stats().events !== manifest.counts.events) {
        throw new BackupError(
          `${archive}: store/events.db holds ${store.stats().events} events, the manifest says ${manifest.counts.events}`,
        );
      }
    } finally {
      store.close();
    }
    for (const suffix of ['-wal', '-shm']) rmSync(`${dbFile}${suffix}`, { force: true });
  }
  return { manifest, auditEntries: audit.entries, checkpoints: audit.checkpoints };
}

/** Whether a data dir holds data a restore would replace: audit entries or stored events. */
export function dataDirHasData(paths: DataPaths): { has: boolean; what: string[] } {
  const what: string[] = [];
  const days = listDayFiles(paths.audit);
  if (days.length > 0) what.push(`${days.length} audit log file(s)`);
  if (existsSync(paths.storeFile)) {
    try {
      const store = Store.open(paths.storeFile, { readonly: true });
      try {
        const n = store.stats().events;
        if (n > 0) what.push(`${n} stored events`);
      } finally {
        store.close();
      }
    } catch {
      what.push('a store file');
    }
  }
  return { has: what.length > 0, what };
}

/** The data dir entries a restore replaces (relative to the data dir). */
const RESTORED_ENTRIES = ['store', 'audit', 'keys', 'config.yaml', 'projects.json', 'sinks'];

export interface RestoreOptions {
  force?: boolean;
  /** Check the archive and report, change nothing. */
  dryRun?: boolean;
}

export interface RestoreResult {
  check: ArchiveCheck;
  /** Where the replaced files were moved (absent when nothing was replaced or on a dry run). */
  replacedDir?: string;
  restored: string[];
  dryRun: boolean;
  ms: number;
}

export async function restoreBackup(
  paths: DataPaths,
  archive: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  const pid = runningPid(paths);
  if (pid !== undefined && !opts.dryRun) {
    throw new BackupError(`the collector is running (pid ${pid}); stop it first: claude-telemetry stop`);
  }
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  installHook(paths);
  const release = acquireMaintenanceLock(paths, 'restore');
  const staging = join(paths.home, `.restore-${process.pid}-${Date.now()}`);
  try {
    const check = await checkArchive(archive, staging);
    const existing = dataDirHasData(paths);
    if (existing.has && !opts.force && !opts.dryRun) {
      throw new BackupError(
        `${paths.home} already holds ${existing.what.join(' and ')}; restore with --force to replace them (they are kept under replaced-<time>/)`,
      );
    }
    const restored = RESTORED_ENTRIES.filter((e) => existsSync(join(staging, e)));
    if (opts.dryRun) return { check, restored, dryRun: true, ms: Date.now() - started };

    let replacedDir: string | undefined;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const entry of RESTORED_ENTRIES) {
      const p = join(paths.home, entry);
      if (!existsSync(p)) continue;
      replacedDir ??= join(paths.home, `replaced-${stamp}`);
      mkdirSync(replacedDir, { recursive: true, mode: 0o700 });
      renameSync(p, join(replacedDir, entry));
    }
    for (const entry of restored) renameSync(join(staging, entry), join(paths.home, entry));
    installHook(paths); // recreates directories the archive had no files for (store/, keys/...)
    return {
      check,
      ...(replacedDir ? { replacedDir } : {}),
      restored,
      dryRun: false,
      ms: Date.now() - started,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    release();
  }
}
