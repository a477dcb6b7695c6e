import { type FSWatcher, renameSync, watch, writeFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AuditLog } from '../audit/index.ts';
import { installHook } from '../capture/install.ts';
import * as spool from '../capture/spool.ts';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { openStoreChecked } from '../ops/store-repair.ts';
import { type RunningSinks, type SinkStatus, startSinks } from '../sinks/index.ts';
import type { Store } from '../store/index.ts';
import { CollectorIO } from './io.ts';
import { Pipeline, type PipelineCounters, type RowSink, TELEMETRY_VERSION } from './pipeline.ts';

const WATCH_DEBOUNCE_MS = 5;
const ORPHAN_SCAN_MS = 30_000;
const STATUS_EVERY_MS = 1_000;
const IDLE_CHECKPOINT_MS = 2_000;
/**
 * Batches per pass over one spool listing. Within a pass the I/O worker's reads and inserts overlap this
 * thread's work, and a pass ends by waiting for its inserts, so short passes leave both threads idle in
 * turn (8 a pass ingested a burst about a tenth slower). The event loop runs between batches all the same.
 */
const BATCHES_PER_TICK = 64;

export interface CollectorStatusFile extends PipelineCounters {
  pid: number;
  version: string;
  startedAt: string;
  updatedAt: string;
  recovered: number;
  /** The Loki-compatible API, once it listens. */
  api?: { url: string; port: number };
  /** Forwarding to remote engines: one entry per configured sink. */
  sinks?: SinkStatus[];
}

/**
 * The long-running ingest loop: watches spool/new (fs.watch for latency, a periodic rescan because
 * watchers can miss events), drains it in batches through the pipeline, checkpoints the audit log when
 * idle, and publishes a small status file for `claude-telemetry status`.
 */
export class Collector {
  private watcher: FSWatcher | undefined;
  private timers: NodeJS.Timeout[] = [];
  private pending: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private lastAppendAt = 0;
  private checkpointedSize = -1;
  private recovered = 0;
  private readonly startedAt = new Date().toISOString();
  private idleWaiters: (() => void)[] = [];
  private io: CollectorIO | undefined;
  private inflight: Promise<void> | undefined;
  private sinks: RunningSinks | undefined;
  /** Where the HTTP API listens, when the process serving this collector runs one (for `status`). */
  api: { url: string; port: number } | undefined;
  private sinksStarting: Promise<void> | undefined;

  private constructor(
    readonly paths: DataPaths,
    readonly config: Config,
    readonly store: Store,
    readonly pipeline: Pipeline,
    private readonly log: (msg: string) => void,
    /** Undefined: CollectorIO decides from the CPUs available. */
    private readonly ioThread: boolean | undefined,
  ) {}

  get audit(): AuditLog {
    return this.pipeline.audit;
  }

  /** `opts.ioThread`: whether spool and store I/O get a worker thread; by default when more than one CPU is available. */
  static async open(
    paths: DataPaths,
    config: Config,
    log: (msg: string) => void = () => {},
    opts: { ioThread?: boolean } = {},
  ): Promise<Collector> {
    installHook(paths);
    const audit = openAudit(paths, config);
    // A damaged store is moved aside and rebuilt from the audit log by the recovery below.
    const { store } = openStoreChecked(paths, log);
    const pipeline = new Pipeline(paths, config, audit, store, log);
    const c = new Collector(paths, config, store, pipeline, log, opts.ioThread);
    c.recovered = await pipeline.recover();
    return c;
  }

  /** Starts watching and ingesting. Returns at once; work happens on the event loop. */
  start(): void {
    spool.recoverOrphans(this.paths, this.config.ingest.orphanAfterMs);
    try {
      this.watcher = watch(this.paths.spoolNew, () => this.schedule(WATCH_DEBOUNCE_MS));
      this.watcher.on('error', (err) => this.log(`spool watcher error: ${err.message}; relying on rescans`));
    } catch (err) {
      this.log(`cannot watch spool (${(err as Error).message}); relying on rescans`);
    }
    // The rescan timer is the one that keeps the process alive, even where the watcher could not start.
    this.every(this.config.ingest.rescanMs, () => this.schedule(0), true);
    this.every(ORPHAN_SCAN_MS, () => spool.recoverOrphans(this.paths, this.config.ingest.orphanAfterMs));
    this.every(STATUS_EVERY_MS, () => {
      this.writeStatus();
      this.maybeCheckpoint();
    });
    this.writeStatus();
    this.schedule(0);
    this.startForwarding();
  }

  /** Sinks read the audit log on their own schedule; a failing remote never slows ingestion. */
  private startForwarding(): void {
    if (this.config.sinks.length === 0) return;
    this.sinksStarting = startSinks(this.paths, this.config, () => this.audit, this.log).then(
      async (s) => {
        if (this.stopped) await s.stop();
        else this.sinks = s;
      },
      (err: unknown) => this.log(`forwarding not started: ${(err as Error).message}`),
    );
  }

  /** Processes everything in the spool now (used at shutdown and by tests and `ingest`). */
  drain(): number {
    let total = 0;
    let before = Number.POSITIVE_INFINITY;
    for (;;) {
      const names = spool.listReady(this.paths);
      // Stop when a pass made no progress (e.g. a file that cannot even be quarantined on a full disk).
      if (names.length === 0 || names.length >= before) return total;
      before = names.length;
      for (let i = 0; i < names.length; i += this.config.ingest.batchSize) {
        const res = this.pipeline.runBatch(names.slice(i, i + this.config.ingest.batchSize));
        total += res.stored;
        if (res.stored > 0) this.lastAppendAt = Date.now();
      }
    }
  }

  /** Resolves once the spool is empty and no batch is running. */
  whenIdle(): Promise<void> {
    if (!this.running && spool.listReady(this.paths).length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.schedule(0);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    for (const t of this.timers) clearInterval(t);
    if (this.pending) clearTimeout(this.pending);
    // A pass awaiting the worker sees `stopped` and returns; wait for it before draining here.
    await this.inflight;
    await this.io?.close();
    try {
      this.drain();
    } catch (err) {
      this.log(`final drain failed: ${(err as Error).message}`);
    }
    // Sinks get a short deadline to send what the final drain added; their cursors keep the rest.
    await this.sinksStarting;
    this.sinks?.notify();
    await this.sinks
      ?.stop()
      .catch((err: unknown) => this.log(`stopping forwarding: ${(err as Error).message}`));
    this.checkpoint();
    this.writeStatus();
    this.audit.close();
    this.store.close();
  }

  private every(ms: number, fn: () => void, keepAlive = false): void {
    const t = setInterval(fn, ms);
    if (!keepAlive) t.unref();
    this.timers.push(t);
  }

  private schedule(delay: number): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.tick();
    }, delay);
  }

  /** One slice of work: a few batches, then yield so timers, signals and API requests keep running. */
  private tick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const work = this.work();
    this.inflight = work;
    void work.finally(() => {
      if (this.inflight === work) this.inflight = undefined;
    });
  }

  private async work(): Promise<void> {
    let more = false;
    try {
      more = await this.ingestSome(BATCHES_PER_TICK);
    } catch (err) {
      if (this.stopped) return;
      this.log(`ingest batch failed (will retry): ${(err as Error).stack ?? err}`);
      // Stay "running" while healing so no batch starts before the store has caught up with the log.
      try {
        await this.pipeline.heal(() => openAudit(this.paths, this.config));
        this.running = false;
        this.schedule(500);
      } catch (healErr) {
        this.log(`recovery after the failed batch failed (will retry): ${(healErr as Error).message}`);
        this.running = false;
        this.schedule(2_000);
      }
      return;
    }
    if (more && !this.stopped) {
      this.running = false;
      setImmediate(() => this.tick());
      return;
    }
    await this.io?.flush();
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Ingests up to `maxBatches` batches of ready files. Three stages overlap: the I/O worker reads batch k+1
   * and inserts batch k-1 into the store while this thread normalizes, judges and audits batch k. Files are
   * removed (in the background) only once their batch is in the store. At most two batches wait for their
   * insert, and every insert has settled when this returns. Returns true when files remain and the pass made
   * progress.
   */
  private async ingestSome(maxBatches: number): Promise<boolean> {
    const io = this.io ?? this.startIO();
    const size = this.config.ingest.batchSize;
    const names = spool.listReady(this.paths).filter((n) => !io.pendingRemoval.has(n));
    if (names.length === 0) return false;
    const slices: string[][] = [];
    for (let i = 0; i < names.length && slices.length < maxBatches; i += size) {
      slices.push(names.slice(i, i + size));
    }
    let progress = false;
    const inserting: Promise<void>[] = [];
    // Inserts are chained: a batch goes to the store only after the one before it got there, so a failed
    // insert leaves no later batch in the store and recovery (from the store's highest audit seq) has no gap.
    let chain: Promise<unknown> = Promise.resolve();
    const sink = (): RowSink => {
      const b = io.newBatch();
      return {
        stage: (rows) => io.stage(b, rows),
        commit: () => {
          const p = chain.then(
            () => io.commit(b),
            (err: unknown) => {
              io.drop(b);
              throw err;
            },
          );
          chain = p;
          return p;
        },
        drop: () => io.drop(b),
      };
    };
    let readError: unknown;
    try {
      let next = io.read(slices[0] as string[], this.pipeline.maxBytes);
      for (let k = 0; k < slices.length; k++) {
        const read = await next;
        if (this.stopped) break;
        const following = slices[k + 1];
        if (following) next = io.read(following, this.pipeline.maxBytes);
        const batch = this.pipeline
          .ingestReadVia((slices[k] as string[]).length, read, sink())
          .then(({ res, done }) => {
            io.remove(done);
            if (res.stored > 0) {
              this.lastAppendAt = Date.now();
              this.sinks?.notify();
            }
            if (done.length > 0 || res.quarantined > 0) progress = true;
          });
        // Handled here at once (a rejection surfaces below); an unobserved one would end the process.
        batch.catch(() => {});
        inserting.push(batch);
        if (inserting.length >= 2) await inserting[inserting.length - 2];
        // Without the worker nothing above waited for anything: timers, signals and API requests get their
        // turn here, between batches, instead of after the whole pass.
        if (!io.threaded) await nextTurn();
      }
    } catch (err) {
      readError = err;
    }
    // Nothing is left in flight, also when a batch failed: the caller heals from the audit log next.
    const settled = await Promise.allSettled(inserting);
    const failed = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (readError !== undefined) throw readError;
    if (failed) throw failed.reason;
    return !this.stopped && progress && names.length > slices.length * size;
  }

  /** Ingests everything in the spool through the worker (benchmarks, tests); resolves with events stored. */
  async drainAsync(): Promise<number> {
    const before = this.pipeline.counters.stored;
    while (await this.ingestSome(Number.POSITIVE_INFINITY)) {}
    await this.io?.flush();
    return this.pipeline.counters.stored - before;
  }

  private startIO(): CollectorIO {
    this.io = new CollectorIO(this.paths, this.log, this.store, this.ioThread);
    return this.io;
  }

  private maybeCheckpoint(): void {
    if (this.running || Date.now() - this.lastAppendAt < IDLE_CHECKPOINT_MS) return;
    this.checkpoint();
  }

  private checkpoint(): void {
    const size = this.audit.size;
    if (size === this.checkpointedSize || size === 0) return;
    try {
      this.audit.checkpoint();
      this.checkpointedSize = size;
    } catch (err) {
      this.log(`checkpoint failed: ${(err as Error).message}`);
    }
  }

  private writeStatus(): void {
    const c = this.pipeline.counters;
    const body: CollectorStatusFile = {
      pid: process.pid,
      version: TELEMETRY_VERSION,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      stored: c.stored,
      duplicates: c.duplicates,
      quarantined: c.quarantined,
      optedOut: c.optedOut,
      batches: c.batches,
      recovered: this.recovered,
      ...(this.api ? { api: this.api } : {}),
      ...(this.sinks ? { sinks: this.sinks.status() } : {}),
      ...(c.lastEventTs !== undefined ? { lastEventTs: c.lastEventTs } : {}),
    };
    try {
      const tmp = `${this.paths.statusFile}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
      renameSync(tmp, this.paths.statusFile);
    } catch (err) {
      this.log(`cannot write status file: ${(err as Error).message}`);
    }
  }
}

function openAudit(paths: DataPaths, config: Config): AuditLog {
  return AuditLog.open(paths.audit, { keysDir: paths.keys, checkpointEvery: config.audit.checkpointEvery });
}
