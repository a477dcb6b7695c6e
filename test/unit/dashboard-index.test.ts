/**
 * The Overview's column index (EventIndex): read at the first request rather than at start, answers equal to
 * a scan of the store, let go after the dashboard has been unused, and read again with the same answers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateSessions, type LabelledSession } from '../../bench/analytics-data.ts';
import { EventIndex, overviewFromStore, type Window } from '../../src/server/dashboard-api.ts';
import { Store } from '../../src/store/index.ts';

const DAY = 86_400_000;
const homes: string[] = [];
let sessions: LabelledSession[] = [];
let auditSeq = 0;

before(async () => {
  const gen = mkdtempSync(join(tmpdir(), 'ct-dash-index-gen-'));
  homes.push(gen);
  // Sessions every 6 hours over the last week or so.
  sessions = await generateSessions({
    seed: 5,
    normal: 24,
    perMisbehaviour: 0,
    home: gen,
    start: Date.now() - 8 * DAY,
  });
});

after(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

function storeWith(some: readonly LabelledSession[]): Store {
  const home = mkdtempSync(join(tmpdir(), 'ct-dash-index-'));
  homes.push(home);
  const store = Store.open(join(home, 'store.db'));
  insert(store, some);
  return store;
}

/** Inserts the sessions' events in time order, as the hook delivers them. */
function insert(store: Store, some: readonly LabelledSession[]): void {
  const events = some
    .flatMap((s) => s.events)
    .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  store.insertBatch(events.map((event) => ({ event, auditSeq: ++auditSeq })));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Report = ReturnType<typeof overviewFromStore>;
const byLabel = (a: { label: string }, b: { label: string }) => (a.label < b.label ? -1 : 1);
const typeOf = (s: Report['activity'][number]) => s.metric['event_type'] ?? '';

/**
 * A report with `source` left out and its lists in one order: the index and a scan of the store meet the
 * values of a column in a different order (the whole index, or the window), and list them so.
 */
function canon(r: Report) {
  return {
    ...r,
    source: '',
    byType: [...r.byType].sort(byLabel),
    byTool: [...r.byTool].sort(byLabel),
    byProject: [...r.byProject].sort(byLabel),
    activity: [...r.activity].sort((a, b) => (typeOf(a) < typeOf(b) ? -1 : 1)),
    durations: [...r.durations].sort((a, b) => (a.tool < b.tool ? -1 : 1)),
  };
}

/** The Overview over a few windows and filters, each answered by `report`. */
function overviews(store: Store, report: (w: Window, step: number) => Report) {
  const end = Math.ceil(Date.now() / 60_000) * 60_000;
  const project = store.sessions({ limit: 1 })[0]?.project_name ?? undefined;
  const out: unknown[] = [];
  for (const w of [
    { start: end - DAY, end },
    { start: end - 7 * DAY, end },
    { start: end - 30 * DAY, end, ...(project ? { project } : {}) },
  ] as Window[])
    for (const step of [60_000, 3_600_000]) out.push(canon(report(w, step)));
  return out;
}

const answers = (index: EventIndex, store: Store) => overviews(store, (w, step) => index.overviewOf(w, step));
const fromStore = (store: Store) => overviews(store, (w, step) => overviewFromStore(store, w, step));

test('the index is read at the first request, not when it is made, and answers what the store gives', async () => {
  const store = storeWith(sessions);
  const index = new EventIndex(store, 31 * DAY, 13);
  assert.equal(index.isHeld, false);
  assert.equal(index.size, 0);
  await index.update();
  assert.equal(index.isHeld, true);
  assert.equal(index.size, store.stats().events);
  assert.deepEqual(answers(index, store), fromStore(store));
  index.release();
  store.close();
});

test('let go, it holds nothing; read again, it gives the same answers, and follows new events', async () => {
  const store = storeWith(sessions.slice(0, 16));
  const index = new EventIndex(store, 31 * DAY, 17);
  await index.update();
  const before = answers(index, store);
  index.release();
  assert.equal(index.isHeld, false);
  assert.equal(index.size, 0);
  await index.update();
  assert.equal(index.isHeld, true);
  assert.deepEqual(answers(index, store), before);
  insert(store, sessions.slice(16));
  await index.update();
  assert.equal(index.size, store.stats().events);
  assert.deepEqual(answers(index, store), fromStore(store));
  index.release();
  store.close();
});

test('the index is let go once unused for idleMs, and kept while it is asked for', async () => {
  const store = storeWith(sessions);
  const index = new EventIndex(store, 31 * DAY, 1000, { idleMs: 120 });
  await index.update();
  for (let i = 0; i < 6; i++) {
    await sleep(40);
    await index.update();
    assert.equal(index.isHeld, true, 'asked for within idleMs');
  }
  await sleep(300);
  assert.equal(index.isHeld, false);
  assert.equal(index.size, 0);
  // The next request reads it again.
  await index.update();
  assert.equal(index.isHeld, true);
  assert.equal(index.size, store.stats().events);
  index.release();
  store.close();
});

test('while the index is read, small windows go to the store and large ones wait for the index', async () => {
  const store = storeWith(sessions);
  const events = store.stats().events;
  const now = Date.now();
  // At most 100 events in a window are read from the store while the index is not held.
  const index = new EventIndex(store, 31 * DAY, 50, { storeEvents: 100 });
  assert.equal(await index.covers(now - 60_000, now), false, 'a window without events');
  assert.equal(index.isHeld, false, 'reading in slices, not done yet');
  assert.equal(await index.covers(now - 30 * DAY, now), true, 'a window of every event waits');
  assert.equal(index.isHeld, true);
  assert.equal(index.size, events);
  // Held, every window it keeps is answered from it; a window older than what it keeps is not.
  assert.equal(await index.covers(now - 60_000, now), true);
  assert.equal(await index.covers(now - 40 * DAY, now), false);
  index.release();
  store.close();
});
