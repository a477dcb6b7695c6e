/**
 * Spool reads and removals off the collector's thread (see spool-io-worker.ts for why). If the worker
 * cannot start or dies, every call falls back to doing the same work synchronously on the calling thread:
 * slower, never wrong.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DataPaths } from '../config/paths.ts';
import { type FleetEnv, QuarantineError, type SpoolRecord } from '../types.ts';
import { readRecord, remove, scopeOf } from './spool.ts';

export type SpoolIORequest =
  | { id: number; op: 'read'; names: string[]; maxBytes: number }
  | { id: number; op: 'remove'; names: string[] };

export type WireRecord =
  | { name: string; mtimeMs: number; projectDir: string | null; body: Uint8Array; fleet?: FleetEnv }
  | { name: string; quarantine: string }
  | { name: string; error: string };

export type SpoolIOResponse =
  | { id: number; records: WireRecord[] }
  | { id: number; removed: number }
  | { id: number; error: string };

export interface ReadResult {
  records: SpoolRecord[];
  /** Files that could not be read: QuarantineError for bad input, Error for anything else. */
  failures: { name: string; err: Error }[];
}

interface Waiter {
  resolve: (r: SpoolIOResponse) => void;
  reject: (e: Error) => void;
}

export class SpoolIO {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private readonly removing = new Set<string>();
  private readonly removals = new Set<Promise<unknown>>();

  constructor(
    private readonly paths: DataPaths,
    private readonly log: (msg: string) => void = () => {},
  ) {
    try {
      const w = startWorker(paths);
      w.on('message', (res: SpoolIOResponse) => {
        const waiter = this.waiters.get(res.id);
        this.waiters.delete(res.id);
        if (this.waiters.size === 0) w.unref();
        waiter?.resolve(res);
      });
      w.on('error', (err) => this.lose(`spool I/O worker failed: ${err.message}`));
      w.on('exit', (code) => this.lose(`spool I/O worker exited (${code})`));
      // Referenced only while a call is in flight: an idle worker never keeps the process alive.
      w.unref();
      this.worker = w;
    } catch (err) {
      this.log(`spool I/O worker unavailable (${(err as Error).message}); reading on the main thread`);
    }
  }

  /** Names whose removal is under way: listed files to leave alone until it completes. */
  get pendingRemoval(): ReadonlySet<string> {
    return this.removing;
  }

  async read(names: string[], maxBytes: number): Promise<ReadResult> {
    if (this.worker) {
      try {
        const res = await this.call({ id: 0, op: 'read', names, maxBytes });
        if ('records' in res) return this.fromWire(res.records);
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

  async flush(): Promise<void> {
    while (this.removals.size > 0) await Promise.all([...this.removals]);
  }

  async close(): Promise<void> {
    await this.flush();
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private call(req: SpoolIORequest): Promise<SpoolIOResponse> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error('no worker'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...req, id });
    }).then((res) => {
      const r = res as SpoolIOResponse;
      if ('error' in r) throw new Error(r.error);
      return r;
    });
  }

  private lose(reason: string): void {
    if (!this.worker) return;
    this.worker = undefined;
    this.log(`${reason}; reading on the main thread`);
    const err = new Error(reason);
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }

  private fromWire(wire: WireRecord[]): ReadResult {
    const out: ReadResult = { records: [], failures: [] };
    for (const r of wire) {
      if ('body' in r) {
        out.records.push({
          name: r.name,
          path: join(this.paths.spoolNew, r.name),
          mtimeMs: r.mtimeMs,
          scope: scopeOf(r.name),
          projectDir: r.projectDir,
          body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength),
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
 * Built, the worker is the .js file next to this one. Run from source (tests, benchmarks under tsx), a worker
 * does not inherit the TypeScript loader on Node 20, so it registers tsx itself before importing the .ts file.
 */
function startWorker(paths: DataPaths): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./spool-io-worker.js', import.meta.url), { workerData: { paths } });
  }
  const src = new URL('./spool-io-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(src)}); });`;
  return new Worker(boot, { eval: true, workerData: { paths } });
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
