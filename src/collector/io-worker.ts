/**
 * Worker thread for spool file I/O. Reading a spool file costs four system calls and removing it one more;
 * done here, on another core, they overlap with the collector's parse -> audit -> store work instead of
 * adding to it. The worker only reads and unlinks: every decision (quarantine, commit, what to delete and
 * when) stays on the collector's thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DataPaths } from '../config/paths.ts';
import { QuarantineError } from '../types.ts';
import { readRecord, remove } from './spool.ts';
import type { SpoolIORequest, SpoolIOResponse, WireRecord } from './spool-io.ts';

const paths = (workerData as { paths: DataPaths }).paths;

function read(names: string[], maxBytes: number): WireRecord[] {
  const out: WireRecord[] = [];
  for (const name of names) {
    try {
      const r = readRecord(paths, name, maxBytes);
      out.push({
        name,
        mtimeMs: r.mtimeMs,
        projectDir: r.projectDir,
        body: r.body,
        ...(r.fleet ? { fleet: r.fleet } : {}),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Gone since it was listed (removed by an earlier pass): nothing to do.
      if (code === 'ENOENT') continue;
      if (err instanceof QuarantineError) out.push({ name, quarantine: err.reason });
      else out.push({ name, error: (err as Error)?.message ?? String(err) });
    }
  }
  return out;
}

parentPort?.on('message', (req: SpoolIORequest) => {
  let res: SpoolIOResponse;
  try {
    res =
      req.op === 'read'
        ? { id: req.id, records: read(req.names, req.maxBytes) }
        : { id: req.id, removed: remove(paths, req.names) };
  } catch (err) {
    res = { id: req.id, error: (err as Error)?.message ?? String(err) };
  }
  parentPort?.postMessage(res);
});
