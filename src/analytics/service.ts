/**
 * Behavioural analytics inside the collector: starts the analytics thread (worker.ts) beside ingestion.
 * Ingestion never waits on it: the thread reads the store through its own read-only connection, writes only
 * its own scores file, and the collector's thread only receives its log lines. If the thread fails it is
 * started again after a pause (at most a few times); ingestion goes on either way.
 *
 * A thread with nothing to do for `idleExitMs` (no new events, nothing left to score) ends, and gives back its
 * heap, its store connection and the feature state of the sessions it followed (a third of an idle
 * collector's JavaScript memory after a burst). The collector's thread then only looks at the store file's
 * size and time every `pollMs` and starts the thread again once the store changed (or a step is asked for):
 * it resumes from the position saved in its scores file and reads each session that gets events again from
 * the store, as after a quiet hour.
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import type { LiveOptions, StepResult } from './live.ts';

export interface WorkerInit {
  home: string;
  storeFile: string;
  pollMs: number;
  /** The thread ends after this long without work (ms); never when absent. */
  idleExitMs?: number;
  options: Omit<LiveOptions, 'alertConfig' | 'channels' | 'log' | 'now'>;
}

export type ToWorker = { type: 'stop' } | { type: 'step'; id: number };
export type FromWorker =
  | { type: 'log'; msg: string }
  /** `answers`: the latest step request (id) this step started after, 0 for a step of its own. */
  | { type: 'step'; result: StepResult; pending: number; answers: number }
  /** The thread is ending for want of work; `store` is the store's signature (storeSignature) it had seen. */
  | { type: 'idle'; store: string }
  | { type: 'stopped' };

/**
 * Size and modification time of the store file and of its write-ahead log: a commit changes the latter, a
 * checkpoint the former.
 */
export function storeSignature(storeFile: string): string {
  const sig = (f: string) => {
    try {
      const st = statSync(f);
      return `${st.size}@${st.mtimeMs}`;
    } catch {
      return '-';
    }
  };
  return `${sig(storeFile)} ${sig(`${storeFile}-wal`)}`;
}

export interface AnalyticsStats {
  steps: number;
  scored: number;
  alerts: number;
  retrains: number;
  lastRetrainMs?: number;
  /** Scoring time per session (store read included), the latest 10,000. */
  scoreMs: number[];
  /** Sessions waiting to be scored after the latest step. */
  pending: number;
  /** Times the thread ended for want of work. */
  idleExits: number;
}

export interface AnalyticsService {
  readonly stats: AnalyticsStats;
  /** Time the analytics thread has been busy (ms) since it started: what it took from the machine. */
  busyMs(): number;
  /** Asks for a step now; resolves with its outcome (a step that started after the request). */
  step(): Promise<StepResult>;
  stop(): Promise<void>;
}

export interface StartOptions {
  paths: Pick<DataPaths, 'home' | 'storeFile'>;
  config: Pick<Config, 'analytics'>;
  log?: (msg: string) => void;
  /** How often the thread looks for new events (ms); default min(1000, rescoreMs). */
  pollMs?: number;
  /** The thread ends after this long without work, and starts again when the store changes (ms). */
  idleExitMs?: number;
}

/** How long the analytics thread waits for work before it ends (see startAnalytics). */
export const IDLE_EXIT_MS = 30_000;

const RESTART_AFTER_MS = 30_000;
const MAX_RESTARTS = 5;
/** The collector is stopped gracefully within 10 s: a thread still busy (a long retrain) after this is ended. */
const STOP_TIMEOUT_MS = 2_000;

/**
 * The thread's young generation (MB): scoring and retraining allocate in bursts (a JSON line parsed per event
 * read), and the default young generation (3 x 16 MB semi-spaces) grown in one stays resident afterwards;
 * 2 MB semi-spaces cost a little more GC time on a thread that runs at the lowest priority anyway.
 */
export const WORKER_YOUNG_GENERATION_MB = 6;

function spawnWorker(init: WorkerInit): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./worker.js', import.meta.url), { workerData: init, resourceLimits });
  const src = new URL('./worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(src)}); });`;
  return new Worker(boot, { eval: true, workerData: init, resourceLimits });
}

/** Starts scoring inside this process (unless `analytics.enabled` is false). */
export function startAnalytics(opts: StartOptions): AnalyticsService | undefined {
  const a = opts.config.analytics;
  const log = (msg: string) => opts.log?.(`analytics: ${msg}`);
  if (!a.enabled) {
    log('disabled (analytics.enabled: false in config.yaml)');
    return undefined;
  }
  const init: WorkerInit = {
    home: opts.paths.home,
    storeFile: opts.paths.storeFile,
    pollMs: opts.pollMs ?? Math.min(1_000, a.rescoreMs),
    idleExitMs: opts.idleExitMs ?? IDLE_EXIT_MS,
    options: {
      threshold: a.threshold,
      rescoreMs: a.rescoreMs,
      retrainHours: a.retrainHours,
      retrainGrowth: a.retrainGrowth,
    },
  };
  const stats: AnalyticsStats = {
    steps: 0,
    scored: 0,
    alerts: 0,
    retrains: 0,
    scoreMs: [],
    pending: 0,
    idleExits: 0,
  };
  let waiters: { id: number; resolve: (r: StepResult) => void }[] = [];
  let nextId = 1;
  let worker: Worker | undefined;
  let stopping = false;
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();
  /** Busy time of the threads that ended for want of work (ms). */
  let busyBefore = 0;
  /** Set while no thread runs for want of work: the store's signature when the last one ended. */
  let sleeping: string | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  /** The thread whose busy time is already in busyBefore (it said it was ending). */
  let counted: Worker | undefined;

  const wake = () => {
    if (wakeTimer) clearInterval(wakeTimer);
    wakeTimer = undefined;
    sleeping = undefined;
    if (worker || stopping) return;
    start();
    // A step asked for while the thread was ending is asked of the new one.
    const last = waiters.at(-1);
    if (worker && last) {
      (worker as Worker).ref();
      (worker as Worker).postMessage({ type: 'step', id: last.id } satisfies ToWorker);
    }
  };
  const sleep = (w: Worker, store: string) => {
    busyBefore += w.performance.eventLoopUtilization().active;
    // Counted now: until its exit event the ended thread is still `worker`, and must not count twice.
    counted = w;
    stats.idleExits++;
    sleeping = store;
    wakeTimer = setInterval(() => {
      if (!worker && storeSignature(init.storeFile) !== sleeping) wake();
    }, init.pollMs);
    wakeTimer.unref();
  };

  const onMessage = (w: Worker, m: FromWorker) => {
    if (m.type === 'log') log(m.msg);
    else if (m.type === 'idle') sleep(w, m.store);
    else if (m.type === 'step') {
      const r = m.result;
      stats.steps++;
      stats.scored += r.scored;
      stats.alerts += r.alerts;
      stats.pending = m.pending;
      if (r.retrainMs !== undefined) {
        stats.retrains++;
        stats.lastRetrainMs = r.retrainMs;
      }
      stats.scoreMs.push(...r.scoreMs);
      if (stats.scoreMs.length > 10_000) stats.scoreMs.splice(0, stats.scoreMs.length - 10_000);
      const done = waiters.filter((x) => x.id <= m.answers);
      waiters = waiters.filter((x) => x.id > m.answers);
      if (waiters.length === 0) worker?.unref();
      for (const x of done) x.resolve(r);
    }
  };

  const start = () => {
    let w: Worker;
    try {
      w = spawnWorker(init);
    } catch (err) {
      log(`not started: ${(err as Error).message}`);
      return;
    }
    worker = w;
    w.unref();
    w.on('message', (m: FromWorker) => onMessage(w, m));
    w.on('error', (err) => log(`thread failed: ${err.stack ?? err.message}`));
    exited = new Promise((resolve) =>
      w.on('exit', (code) => {
        if (worker === w) worker = undefined;
        resolve();
        // Ended for want of work: started again when the store changes (or asked for a step meanwhile).
        if (sleeping !== undefined) {
          if (waiters.length > 0) wake();
          return;
        }
        if (stopping || restarts >= MAX_RESTARTS) return;
        restarts++;
        log(`thread exited (${code}); starting it again in ${RESTART_AFTER_MS / 1000} s`);
        restartTimer = setTimeout(start, RESTART_AFTER_MS);
        restartTimer.unref();
      }),
    );
  };
  start();
  log(`scoring sessions as they progress (alert at anomaly risk ${a.threshold})`);

  return {
    stats,
    busyMs() {
      return (
        busyBefore + (worker && worker !== counted ? worker.performance.eventLoopUtilization().active : 0)
      );
    },
    step() {
      if (sleeping !== undefined && !worker) wake();
      const w = worker;
      if (!w) return Promise.reject(new Error('the analytics thread is not running'));
      // Referenced while a caller waits, so that the wait itself keeps the process alive.
      w.ref();
      const id = nextId++;
      return new Promise((resolve) => {
        waiters.push({ id, resolve });
        w.postMessage({ type: 'step', id } satisfies ToWorker);
      });
    },
    async stop() {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      if (wakeTimer) clearInterval(wakeTimer);
      const w = worker;
      if (!w) return;
      w.ref();
      w.postMessage({ type: 'stop' } satisfies ToWorker);
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref());
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        log('thread did not stop in time (a long retrain?); terminating it');
        await w.terminate();
      }
    },
  };
}
