import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataPaths } from '../config/paths.ts';

/** Mode of the data home and every directory under it: only the owner may look inside. */
const DIR_MODE = 0o700;
const HOOK_MODE = 0o755;

/**
 * Where the shipped hook script lives. Next to this module both in src/ (run through tsx) and in dist/
 * (the build copies it there); the package also ships src/capture/hook.sh, used as a fallback.
 */
export function hookSource(): string {
  const candidates = [
    fileURLToPath(new URL('./hook.sh', import.meta.url)),
    fileURLToPath(new URL('../../src/capture/hook.sh', import.meta.url)),
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`capture hook script not found (looked at ${candidates.join(', ')})`);
}

export interface InstallResult {
  /** Installed hook path (paths.hook). */
  hook: string;
  /** True when the hook file was created or its content or mode changed. */
  changed: boolean;
  /** Directories that did not exist before. */
  created: string[];
}

/** The directories of the data home, parents first. */
export function dataDirs(paths: DataPaths): string[] {
  return [
    paths.home,
    paths.spool,
    paths.spoolTmp,
    paths.spoolNew,
    paths.quarantine,
    paths.audit,
    paths.store,
    paths.keys,
    paths.logs,
    paths.run,
    paths.bin,
  ];
}

/**
 * Create the data dir tree and install the capture hook at `paths.hook`.
 * Idempotent: the hook file is rewritten (temp file + rename, so a hook starting concurrently sees either
 * the old or the new script, never a partial one) only when its content differs; a wrong mode is fixed in place.
 */
export function installHook(paths: DataPaths, source: string = hookSource()): InstallResult {
  const created: string[] = [];
  for (const dir of dataDirs(paths)) {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
      created.push(dir);
    }
  }
  // mkdir honours the umask and leaves existing directories alone: enforce 0700 on the home itself.
  if ((statSync(paths.home).mode & 0o777) !== DIR_MODE) chmodSync(paths.home, DIR_MODE);

  const content = readFileSync(source);
  let current: Buffer | null = null;
  try {
    current = readFileSync(paths.hook);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (current?.equals(content)) {
    if ((statSync(paths.hook).mode & 0o777) === HOOK_MODE)
      return { hook: paths.hook, changed: false, created };
    chmodSync(paths.hook, HOOK_MODE);
    return { hook: paths.hook, changed: true, created };
  }
  const tmp = `${paths.hook}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, content, { mode: HOOK_MODE, flag: 'wx' });
    chmodSync(tmp, HOOK_MODE); // the umask may have masked bits off at creation
    renameSync(tmp, paths.hook);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
  return { hook: paths.hook, changed: true, created };
}
