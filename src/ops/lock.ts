/**
 * One maintenance job at a time per data dir (backup, restore, cleanup): they move and copy the same files.
 * The lock is a file created exclusively, naming its holder's pid; a lock whose holder is gone is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../collector/control.ts';
import type { DataPaths } from '../config/paths.ts';

export class MaintenanceBusyError extends Error {
  override name = 'MaintenanceBusyError';
}

export function lockFile(paths: DataPaths): string {
  return join(paths.run, 'maintenance.lock');
}

/** Takes the lock for `job` or throws MaintenanceBusyError naming the job that holds it. Returns the release. */
export function acquireMaintenanceLock(paths: DataPaths, job: string): () => void {
  const file = lockFile(paths);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid} ${job}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8').startsWith(`${process.pid} `)) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(file, 'utf8').trim();
    } catch {
      continue; // released meanwhile
    }
    const [pidText, other] = holder.split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new MaintenanceBusyError(
        `another maintenance job (${other ?? 'unknown'}, pid ${pid}) is running on this data dir; try again when it ends`,
      );
    }
    unlinkSync(file); // its holder died: stale
  }
  throw new MaintenanceBusyError(`cannot take ${file}; remove it if no maintenance job is running`);
}

/** Runs `fn` under the lock. */
export async function withMaintenanceLock<T>(
  paths: DataPaths,
  job: string,
  fn: () => Promise<T>,
): Promise<T> {
  const release = acquireMaintenanceLock(paths, job);
  try {
    return await fn();
  } finally {
    release();
  }
}
