/**
 * The collector's analytics thread: a LiveScorer (live.ts) stepped every `pollMs` on a read-only connection
 * to the store and its own scores file. Messages: `stop` (finish the step under way, close, exit) and `step`
 * (step now). It posts its log lines and the outcome of each step that did something, and ends by itself
 * (posting `idle`) after `idleExitMs` without work.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { loadAlertConfig } from '../detect/alerts.ts';
import { Store } from '../store/index.ts';
import { LiveScorer, type StepResult } from './live.ts';
import { ScoreDb } from './scores.ts';
import { type FromWorker, storeSignature, type ToWorker, type WorkerInit } from './service.ts';

const init = workerData as WorkerInit;

/**
 * The lowest CPU priority for this thread (Linux: a thread id is accepted where a process id is; best effort
 * elsewhere), so that on a busy machine ingestion gets the CPU first and scoring takes what is left.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // not Linux, or not allowed: scoring runs at the collector's priority
  }
}
lowerPriority();
const post = (m: FromWorker) => parentPort?.postMessage(m);
const log = (msg: string) => post({ type: 'log', msg });

let store: Store | undefined;
let db: ScoreDb | undefined;
let scorer: LiveScorer | undefined;
let timer: NodeJS.Timeout | undefined;
let busy = false;
let stopping = false;
/** The latest step asked for (by id): the outcome of the next step is posted even when it did nothing. */
let asked = 0;
let again = false;
/** When the thread last had work: events noticed, sessions scored or waiting, a retrain, a step asked for. */
let worked = Date.now();

function ready(): LiveScorer | undefined {
  if (scorer) return scorer;
  try {
    store = Store.open(init.storeFile, { readonly: true });
  } catch {
    return undefined; // no store yet: the collector creates it
  }
  db = ScoreDb.open(init.home);
  scorer = new LiveScorer(store, init.home, db, {
    ...init.options,
    alertConfig: loadAlertConfig(init.home),
    log,
  });
  return scorer;
}

async function step(): Promise<void> {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  const answer = asked;
  asked = 0;
  if (timer) clearTimeout(timer);
  // Taken before the step looks at the store: a change after it wakes the next thread (see service.ts).
  const seen = storeSignature(init.storeFile);
  let result: StepResult | undefined;
  try {
    result = await ready()?.step();
  } catch (err) {
    log(`step failed (will retry): ${(err as Error).stack ?? err}`);
  }
  busy = false;
  const did = result && (result.noticed > 0 || result.scored > 0 || result.retrainMs !== undefined);
  if (result && (did || answer > 0))
    post({ type: 'step', result, pending: scorer?.pending ?? 0, answers: answer });
  const now = Date.now();
  if (did || answer > 0 || (scorer?.pending ?? 0) > 0) worked = now;
  if (stopping) finish();
  else if (init.idleExitMs !== undefined && !again && now - worked >= init.idleExitMs) {
    post({ type: 'idle', store: seen });
    finish(false);
  } else if (again) {
    again = false;
    setImmediate(() => void step());
  } else timer = setTimeout(() => void step(), init.pollMs);
}

function finish(stopped = true): void {
  if (timer) clearTimeout(timer);
  db?.close();
  store?.close();
  if (stopped) post({ type: 'stopped' });
  parentPort?.close();
}

parentPort?.on('message', (m: ToWorker) => {
  if (m.type === 'stop') {
    stopping = true;
    if (!busy) finish();
  } else if (m.type === 'step') {
    asked = Math.max(asked, m.id);
    void step();
  }
});

void step();
