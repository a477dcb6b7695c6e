/**
 * The collector's start-up check of the store. The audit log is the source of truth, so a store that is
 * damaged (SQLite cannot open it, or its quick_check finds problems) is moved aside with a note saying why,
 * and a new one is opened empty: the collector's recovery then copies every audit entry into it, which is
 * the same rebuild `claude-telemetry reindex` does.
 *
 * A store file that was deleted while its -wal/-shm files stayed is handled too: those would be replayed
 * into the new, empty database, so they are moved aside as well.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';

const SIDE_FILES = ['-wal', '-shm', '-journal'];

export interface StoreOpenResult {
  store: Store;
  /** Set when the store on disk was unusable and a fresh one was opened in its place. */
  movedAside?: { dir: string; reason: string };
}

/** Moves the store file and its side files into `store/damaged-<time>/` with a reason.txt. */
export function moveStoreAside(paths: DataPaths, reason: string, now = new Date()): string {
  const dir = join(paths.store, `damaged-${now.toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const suffix of ['', ...SIDE_FILES]) {
    const f = `${paths.storeFile}${suffix}`;
    if (existsSync(f)) renameSync(f, join(dir, `events.db${suffix}`));
  }
  writeFileSync(
    join(dir, 'reason.txt'),
    `${now.toISOString()} the store was moved here and rebuilt from the audit log: ${reason}\n`,
    { mode: 0o600 },
  );
  return dir;
}

/** Why the store cannot be used, or null when it opens and passes quick_check. */
function problemWith(paths: DataPaths): string | null {
  if (!existsSync(paths.storeFile)) {
    const left = SIDE_FILES.filter((s) => existsSync(`${paths.storeFile}${s}`));
    return left.length > 0
      ? `events.db is missing but ${left.map((s) => `events.db${s}`).join(', ')} remain`
      : null;
  }
  let store: Store;
  try {
    store = Store.open(paths.storeFile, { readonly: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    // A store of another schema version is not damage: the writable open below migrates or refuses it.
    if (e.code === undefined || !/^SQLITE_(CORRUPT|NOTADB|CANTOPEN|IOERR)/.test(e.code)) return null;
    return `SQLite cannot open it (${e.code}: ${e.message})`;
  }
  try {
    const found = store.quickCheck();
    return found.length === 0 ? null : `quick_check: ${found.slice(0, 3).join('; ')}`;
  } catch (err) {
    return `quick_check failed: ${(err as Error).message}`;
  } finally {
    store.close();
  }
}

/**
 * Opens the store for the collector, after checking it. A damaged store is moved aside (logged, with a
 * reason file) and a new empty one is returned; the caller's recovery fills it from the audit log.
 */
export function openStoreChecked(paths: DataPaths, log: (msg: string) => void = () => {}): StoreOpenResult {
  const reason = problemWith(paths);
  if (reason === null) return { store: Store.open(paths.storeFile) };
  const dir = moveStoreAside(paths, reason);
  log(`store damaged (${reason}); moved to ${dir}, rebuilding it from the audit log`);
  return { store: Store.open(paths.storeFile), movedAside: { dir, reason } };
}
