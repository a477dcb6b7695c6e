/**
 * Worker thread for the collector's I/O. Reading a spool file costs four system calls and removing it one
 * more, and a SQLite insert touches the events table and its indexes; done here, on another core, they
 * overlap with the collector's parse -> detect -> audit work on the next batch instead of adding to it.
 * The worker only reads, inserts what it is given and unlinks: every decision (quarantine, dedupe, the
 * audit append, what to delete and when) stays on the collector's thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remove } from '../capture/spool.ts';
import type { DataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { QuarantineError } from '../types.ts';
import { type IORequest, type IOResponse, readSync, StagedRows, type WireRecord } from './io.ts';

const paths = (workerData as { paths: DataPaths }).paths;

/**
 * The same read as on the main thread (readSync), in the shape that crosses to it: the bodies copied into one
 * buffer that is handed over whole (transferred, not copied), instead of a thousand small ones cloned apart.
 */
function read(names: string[], maxBytes: number): { records: WireRecord[]; bodies: ArrayBuffer } {
  const { records, failures } = readSync(paths, names, maxBytes);
  let total = 0;
  for (const r of records) total += r.body.length;
  const bodies = new Uint8Array(new ArrayBuffer(total));
  let at = 0;
  const out: WireRecord[] = records.map((r) => {
    const start = at;
    bodies.set(r.body, start);
    at += r.body.length;
    return {
      name: r.name,
      mtimeMs: r.mtimeMs,
      projectDir: r.projectDir,
      start,
      end: at,
      ...(r.fleet ? { fleet: r.fleet } : {}),
    };
  });
  for (const { name, err } of failures) {
    if (err instanceof QuarantineError) out.push({ name, quarantine: err.reason });
    else out.push({ name, error: err?.message ?? String(err) });
  }
  return { records: out, bodies: bodies.buffer };
}

// Opened on the first insert: a worker that only reads (tests, tools) never touches the store.
let store: Store | undefined;
/** Rows handed over part by part, by batch, until the collector commits or drops the batch. */
const staged = new StagedRows();

/**
 * Removals wait behind reads and inserts: the collector's thread waits for those, while a removal only has
 * to happen before the spool is listed again (the collector skips names whose removal is under way). They
 * run in slices between other requests, each request answered once all its files are gone.
 */
const removals: { id: number; names: string[]; at: number; removed: number }[] = [];
const REMOVE_SLICE = 50;
let removing = false;

function removeSome(): void {
  const job = removals[0];
  if (job === undefined) {
    removing = false;
    return;
  }
  try {
    const slice = job.names.slice(job.at, job.at + REMOVE_SLICE);
    job.removed += remove(paths, slice);
    job.at += slice.length;
    if (job.at >= job.names.length) {
      removals.shift();
      parentPort?.postMessage({ id: job.id, removed: job.removed } satisfies IOResponse);
    }
  } catch (err) {
    removals.shift();
    parentPort?.postMessage({
      id: job.id,
      error: (err as Error)?.message ?? String(err),
    } satisfies IOResponse);
  }
  // setImmediate runs after the messages that arrived meanwhile have been handled.
  setImmediate(removeSome);
}

function handle(req: IORequest): IOResponse | undefined {
  switch (req.op) {
    case 'read':
      return { id: req.id, ...read(req.names, req.maxBytes) };
    case 'remove':
      removals.push({ id: req.id, names: req.names, at: 0, removed: 0 });
      if (!removing) {
        removing = true;
        setImmediate(removeSome);
      }
      return undefined;
    case 'stage':
      staged.add(req.batch, req.rows);
      return undefined;
    case 'commit': {
      const rows = staged.take(req.batch);
      // It only appends: the hot ends of the indexes fit in a small page cache.
      store ??= Store.open(paths.storeFile, { cacheKiB: 4096 });
      return { id: req.id, inserted: store.insertValues(rows) };
    }
    case 'drop':
      staged.drop(req.batch);
      return undefined;
    case 'close':
      store?.close();
      store = undefined;
      return { id: req.id, closed: true };
  }
}

parentPort?.on('message', (req: IORequest) => {
  let res: IOResponse | undefined;
  try {
    res = handle(req);
  } catch (err) {
    res = { id: req.id, error: (err as Error)?.message ?? String(err) };
  }
  if (res !== undefined) parentPort?.postMessage(res, 'bodies' in res ? [res.bodies] : []);
});
