/**
 * The collector's I/O off its main thread (see io-worker.ts for why): spool reads and removals, and the
 * store inserts of batches already in the audit log. If the worker cannot start or dies, every call falls
 * back to doing the same work synchronously on the calling thread: slower, never wrong.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { readRecord, remove, scopeOf } from '../capture/spool.ts';
import type { DataPaths } from '../config/paths.ts';
import type { EventRowValues, InsertResult, Store } from '../store/index.ts';
import { type FleetEnv, QuarantineError, type SpoolRecord } from '../types.ts';

export type IORequest =
  | { id: number; op: 'read'; names: string[]; maxBytes: number }
  | { id: number; op: 'remove'; names: string[] }
  | { id: number; op: 'stage'; batch: number; rows: EventRowValues[] }
  | { id: number; op: 'commit'; batch: number }
  | { id: number; op: 'drop'; batch: number }
  | { id: number; op: 'close' };

/** A record as it crosses from the worker: its body is bytes [start, end) of the batch's one `bodies` buffer. */
export type WireRecord =
  | { name: string; mtimeMs: number; projectDir: string | null; start: number; end: number; fleet?: FleetEnv }
  | { name: string; quarantine: string }
  | { name: string; error: string };

export type IOResponse =
  | { id: number; records: WireRecord[]; bodies: ArrayBuffer }
  | { id: number; removed: number }
  | { id: number; inserted: InsertResult }
  | { id: number; closed: true }
  | { id: number; error: string };

export interface ReadResult {
  records: SpoolRecord[];
  /** Files that could not be read: QuarantineError for bad input, Error for anything else. */
  failures: { name: string; err: Error }[];
}

interface Waiter {
  resolve: (r: IOResponse) => void;
  reject: (e: Error) => void;
}

export class CollectorIO {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private readonly removing = new Set<string>();
  private readonly removals = new Set<Promise<unknown>>();
  private nextBatch = 1;
  /** Batches with rows staged in the worker. */
  private readonly viaWorker = new Set<number>();
  /** Rows staged on this thread (no worker). */
  private readonly local = new StagedRows();

  /**
   * `store` is the collector's own connection: the fallback for inserts when the worker is gone. The worker
   * opens a second connection to the same file (WAL: one writer at a time, readers never blocked).
   * `threaded: false` does all the work on the calling thread from the start (see useWorkerThread).
   */
  constructor(
    private readonly paths: DataPaths,
    private readonly log: (msg: string) => void = () => {},
    private readonly store?: Store,
    threaded = useWorkerThread(),
  ) {
    if (!threaded) {
      this.log(
        `spool and store I/O run on the collector thread, without a worker (CPUs available: ${availableParallelism()})`,
      );
      return;
    }
    try {
      const w = startWorker(paths);
      w.on('message', (res: IOResponse) => {
        const waiter = this.waiters.get(res.id);
        this.waiters.delete(res.id);
        if (this.waiters.size === 0) w.unref();
        waiter?.resolve(res);
      });
      w.on('error', (err) => this.lose(`collector I/O worker failed: ${err.message}`));
      w.on('exit', (code) => this.lose(`collector I/O worker exited (${code})`));
      // Referenced only while a call is in flight: an idle worker never keeps the process alive.
      w.unref();
      this.worker = w;
    } catch (err) {
      this.log(
        `collector I/O worker unavailable (${(err as Error).message}); doing its work on the main thread`,
      );
    }
  }

  /**
   * Whether the work goes to the worker. When it does not, every call does its work before it returns, so a
   * caller that loops over batches must yield to the event loop between them itself.
   */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** Names whose removal is under way: listed files to leave alone until it completes. */
  get pendingRemoval(): ReadonlySet<string> {
    return this.removing;
  }

  async read(names: string[], maxBytes: number): Promise<ReadResult> {
    if (this.worker) {
      try {
        const res = await this.call({ id: 0, op: 'read', names, maxBytes });
        if ('records' in res) return this.fromWire(res.records, Buffer.from(res.bodies));
      } catch {
        // fall through to the synchronous path
      }
    }
    return readSync(this.paths, names, maxBytes);
  }

  /** Removes committed files in the background; `flush()` waits for every removal started so far. */
  remove(names: string[]): void {
    if (names.length === 0) return;
    for (const n of names) this.removing.add(n);
    const done = (async () => {
      try {
        if (this.worker) {
          const res = await this.call({ id: 0, op: 'remove', names }).catch(() => undefined);
          if (res && 'removed' in res) return;
        }
        remove(this.paths, names);
      } catch (err) {
        this.log(`cannot remove spool files: ${(err as Error).message}`);
      } finally {
        for (const n of names) this.removing.delete(n);
      }
    })();
    this.removals.add(done);
    void done.finally(() => this.removals.delete(done));
  }

  /** A number for a new batch of store rows (see stage). */
  newBatch(): number {
    return this.nextBatch++;
  }

  /**
   * Hands over rows of `batch` as soon as they are built, so this thread need not hold them until the batch
   * is committed: the worker keeps them (copied) until commit or drop. Without a worker they wait here.
   */
  stage(batch: number, rows: EventRowValues[]): void {
    if (this.worker) {
      this.viaWorker.add(batch);
      this.worker.postMessage({ id: 0, op: 'stage', batch, rows } satisfies IORequest);
      return;
    }
    this.local.add(batch, rows);
  }

  /**
   * Inserts every row staged for `batch` in one transaction. Batches are applied in call order (the worker
   * handles one message at a time). An error from SQLite (disk full, I/O) rejects, and so does a worker lost
   * while it held the batch's rows: the caller heals from the audit log, as after any failed batch.
   */
  async commit(batch: number): Promise<InsertResult> {
    if (this.viaWorker.delete(batch)) {
      if (!this.worker) throw new Error('the collector I/O worker ended while holding a batch');
      const res = await this.call({ id: 0, op: 'commit', batch });
      if ('inserted' in res) return res.inserted;
      throw new Error('unexpected answer to a commit');
    }
    const rows = this.local.take(batch);
    if (!this.store) throw new Error('no store to insert into');
    return this.store.insertValues(rows);
  }

  /** Forgets the rows staged for `batch` (its audit append failed, or an earlier batch's insert did). */
  drop(batch: number): void {
    this.local.drop(batch);
    if (this.viaWorker.delete(batch))
      this.worker?.postMessage({ id: 0, op: 'drop', batch } satisfies IORequest);
  }

  async flush(): Promise<void> {
    while (this.removals.size > 0) await Promise.all([...this.removals]);
  }

  async close(): Promise<void> {
    await this.flush();
    // Let the worker close its store connection (a clean WAL handover) before it is stopped.
    if (this.worker) await this.call({ id: 0, op: 'close' }).catch(() => undefined);
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private call(req: IORequest): Promise<IOResponse> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error('no worker'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...req, id });
    }).then((res) => {
      const r = res as IOResponse;
      if ('error' in r) throw new Error(r.error);
      return r;
    });
  }

  private lose(reason: string): void {
    if (!this.worker) return;
    this.worker = undefined;
    this.log(`${reason}; doing its work on the main thread`);
    const err = new Error(reason);
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }

  private fromWire(wire: WireRecord[], bodies: Buffer): ReadResult {
    const out: ReadResult = { records: [], failures: [] };
    for (const r of wire) {
      if ('start' in r) {
        out.records.push({
          name: r.name,
          path: join(this.paths.spoolNew, r.name),
          mtimeMs: r.mtimeMs,
          scope: scopeOf(r.name),
          projectDir: r.projectDir,
          body: bodies.subarray(r.start, r.end),
          ...(r.fleet ? { fleet: r.fleet } : {}),
        });
      } else if ('quarantine' in r) {
        out.failures.push({ name: r.name, err: new QuarantineError(r.quarantine) });
      } else {
        out.failures.push({ name: r.name, err: new Error(r.error) });
      }
    }
    return out;
  }
}

/**
 * The worker pays off by running beside the collector's thread. With one CPU to run on (`taskset`, a container
 * given one CPU by cpuset), the two threads only take turns, and handing records and rows across costs more
 * than it saves: pinned to one CPU, 20,000-event bursts ingested about a tenth faster without the worker.
 */
export function useWorkerThread(cpus = availableParallelism()): boolean {
  return cpus > 1;
}

/**
 * Built, the worker is the .js file next to this one. Run from source (tests, benchmarks under tsx), a worker
 * does not inherit the TypeScript loader on Node 20, so it registers tsx itself before importing the .ts file.
 */
function startWorker(paths: DataPaths): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./io-worker.js', import.meta.url), {
      workerData: { paths },
      ...WORKER_LIMITS,
    });
  }
  const src = new URL('./io-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(src)}); });`;
  return new Worker(boot, { eval: true, workerData: { paths }, ...WORKER_LIMITS });
}

/**
 * The worker's young generation is kept small: what it allocates (a batch's rows, its read buffers) is short
 * lived, and a grown young generation stays resident after a burst. No measurable CPU cost per event.
 */
const WORKER_LIMITS = { resourceLimits: { maxYoungGenerationSizeMb: 6 } };

/** Store rows staged part by part, by batch, until the batch is taken (to insert) or dropped. */
export class StagedRows {
  private readonly batches = new Map<number, EventRowValues[][]>();

  add(batch: number, rows: EventRowValues[]): void {
    const parts = this.batches.get(batch);
    if (parts) parts.push(rows);
    else this.batches.set(batch, [rows]);
  }

  /** The batch's rows in order as one list (a single part is used as it is), forgotten here. */
  take(batch: number): EventRowValues[] {
    const parts = this.batches.get(batch) ?? [];
    this.batches.delete(batch);
    return parts.length === 1 ? (parts[0] as EventRowValues[]) : parts.flat();
  }

  drop(batch: number): void {
    this.batches.delete(batch);
  }
}

/** The same read on the calling thread. */
export function readSync(paths: DataPaths, names: string[], maxBytes: number): ReadResult {
  const out: ReadResult = { records: [], failures: [] };
  for (const name of names) {
    try {
      out.records.push(readRecord(paths, name, maxBytes));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      out.failures.push({ name, err: err as Error });
    }
  }
  return out;
}
