import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateSessions, type LabelledSession } from '../../bench/analytics-data.ts';
import { loadModel, retrain, retrainCached, scoreSession } from '../../src/analytics/analyze.ts';
import { type LiveOptions, LiveScorer } from '../../src/analytics/live.ts';
import type { AnalyticsModel } from '../../src/analytics/model.ts';
import { ScoreDb } from '../../src/analytics/scores.ts';
import { DEFAULT_ALERT_CONFIG, readAlerts } from '../../src/detect/alerts.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const homes: string[] = [];
let normal: LabelledSession[] = [];
let odd: LabelledSession[] = [];

before(async () => {
  const gen = mkdtempSync(join(tmpdir(), 'ct-live-gen-'));
  homes.push(gen);
  normal = await generateSessions({ seed: 11, normal: 40, perMisbehaviour: 0, home: gen });
  odd = await generateSessions({
    seed: 12,
    normal: 0,
    perMisbehaviour: 1,
    home: gen,
    start: Date.parse('2026-03-01T08:00:00.000Z'),
  });
});

after(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

let auditSeq = 0;
function insert(store: Store, sessions: readonly LabelledSession[]): void {
  store.insertBatch(sessions.flatMap((s) => s.events.map((event) => ({ event, auditSeq: ++auditSeq }))));
}

function setup(opts: Partial<LiveOptions> = {}) {
  const home = mkdtempSync(join(tmpdir(), 'ct-live-'));
  homes.push(home);
  const store = Store.open(join(home, 'store.db'));
  const db = ScoreDb.open(home);
  const clock = { t: Date.parse('2026-03-02T12:00:00.000Z') };
  const delivered: string[] = [];
  const scorer = new LiveScorer(store, home, db, {
    threshold: 70,
    rescoreMs: 5_000,
    retrainHours: 24,
    retrainGrowth: 0.2,
    alertConfig: { ...DEFAULT_ALERT_CONFIG, desktop: true },
    channels: {
      desktop: async (title) => {
        delivered.push(title);
      },
      webhook: async () => {},
    },
    now: () => clock.t,
    ...opts,
  });
  return { home, store, db, clock, scorer, delivered };
}

test('sessions are scored as their events arrive; the misbehaving one alerts once, normal ones do not', async () => {
  const { home, store, db, clock, scorer, delivered } = setup();
  insert(store, normal);
  // First step: no model yet, so it trains on the 40 stored sessions; the history is older than a day,
  // so nothing is due for scoring.
  const first = await scorer.step();
  assert.ok(first.retrainMs !== undefined);
  assert.equal(first.scored, 0);
  assert.equal(loadModel(home)?.session.n, 40);
  assert.equal(loadModel(home)?.session.coldStart, false);

  // One session doing everything at once: exfiltration, a runaway loop, scope creep, credential hunting...
  const hunt = merged(odd, 'misbehaving');
  insert(store, [hunt]);
  const second = await scorer.step();
  assert.equal(second.noticed, 1);
  assert.equal(second.scored, 1);
  assert.equal(second.retrainMs, undefined, 'one more session on 40 is below the 20% growth');
  const row = db.get(hunt.id);
  assert.ok(row, 'scored row stored');
  assert.equal(row.risk.coldStart, false);
  assert.ok((row.risk.anomalyRisk ?? 0) >= 70, `anomaly risk ${row.risk.anomalyRisk}`);
  assert.ok(
    row.risk.reasons.some((r) => /sensitive files|usually none|your usual/.test(r)),
    row.risk.reasons.join('; '),
  );
  assert.ok(row.agents.length >= 1);
  const alerts = readAlerts(home).filter((a) => a.session === hunt.id);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]?.rule, 'CT-ANOMALY-001');
  assert.match(alerts[0]?.reason ?? '', /^risk \d+\/100: /);
  assert.ok(delivered.length >= 1, 'delivered through the configured channel');
  assert.equal(second.alerts, readAlerts(home).length);

  // A normal session scored against the model does not alert.
  insert(store, [relabel(normal[3] as LabelledSession, 'later-normal', 40 * 86_400_000)]);
  const third = await scorer.step();
  assert.equal(third.scored, 1);
  assert.ok((db.get('later-normal')?.risk.anomalyRisk ?? 100) < 70);
  assert.equal(third.alerts, 0);

  // New events for the misbehaving session within rescoreMs wait; after it they are scored, without a
  // second alert.
  insert(store, [relabel(odd[0] as LabelledSession, hunt.id, 0, 'more')]);
  const waiting = await scorer.step();
  assert.equal(waiting.noticed, 1);
  assert.equal(waiting.scored, 0);
  assert.equal(scorer.pending, 1);
  clock.t += 5_000;
  const later = await scorer.step();
  assert.equal(later.scored, 1);
  assert.equal(later.alerts, 0);
  assert.equal(readAlerts(home).filter((a) => a.session === hunt.id).length, 1);
  assert.ok((db.get(hunt.id)?.features.tool_calls ?? 0) > (row.features.tool_calls ?? 0));
  store.close();
  db.close();
});

test('a session followed event by event scores as one read whole from the store', async () => {
  const { home, store, db, clock, scorer } = setup();
  insert(store, normal);
  await scorer.step();
  const s = relabel(normal[5] as LabelledSession, 'followed', 50 * 86_400_000);
  const half = Math.floor(s.events.length / 2);
  insert(store, [{ ...s, events: s.events.slice(0, half) }]);
  assert.equal((await scorer.step()).scored, 1);
  const early = db.get('followed');
  insert(store, [{ ...s, events: s.events.slice(half, half + 3) }]);
  await scorer.step();
  insert(store, [{ ...s, events: s.events.slice(half + 3) }]);
  clock.t += 5_000;
  assert.equal((await scorer.step()).scored, 1);
  const whole = scoreSession(loadModel(home) as AnalyticsModel, 'followed', store.timeline('followed'));
  const live = db.get('followed');
  assert.ok(early && live);
  assert.ok((live.features.tool_calls ?? 0) > (early.features.tool_calls ?? 0));
  assert.deepEqual(live.features, whole.features);
  assert.deepEqual(live.risk, whole.risk);
  assert.deepEqual(live.agents, whole.agents);
  assert.deepEqual(live.hours, whole.hours);
  store.close();
  db.close();
});

test('a burst of events is only noted; its sessions are scored once it is over', async () => {
  const { home, store, db, clock, scorer } = setup();
  insert(store, normal);
  await scorer.step();
  const burst = [1, 2].flatMap((k) => normal.map((s) => relabel(s, `${s.id}-b${k}`, k * 30 * 86_400_000)));
  insert(store, burst);
  const during = await scorer.step();
  assert.equal(during.noticed, 80);
  assert.equal(during.scored, 0);
  assert.ok(scorer.retrainReason(), 'the stored sessions grew enough for a retrain');
  assert.equal(during.retrainMs, undefined, 'no retraining while the burst goes on');
  clock.t += 1_000;
  const later = await scorer.step();
  assert.equal(later.scored, 0, 'still within 2 s of the burst');
  assert.equal(later.retrainMs, undefined);
  clock.t += 1_500;
  let scored = 0;
  let retrained = 0;
  for (let i = 0; i < 20 && scorer.pending > 0; i++) {
    const r = await scorer.step();
    scored += r.scored;
    if (r.retrainMs !== undefined) retrained++;
  }
  assert.equal(scored, 80);
  assert.equal(retrained, 1, 'retrained once the burst was over');
  const id = `${(normal[7] as LabelledSession).id}-b2`;
  const whole = scoreSession(loadModel(home) as AnalyticsModel, id, store.timeline(id));
  assert.deepEqual(db.get(id)?.features, whole.features);
  store.close();
  db.close();
});

test('a thousand-odd new events at one step already count as a burst (live sessions send tens a second)', async () => {
  const { store, db, clock, scorer } = setup();
  insert(store, normal);
  await scorer.step();
  const burst: LabelledSession[] = [];
  let events = 0;
  for (const s of normal) {
    if (events > 1_000) break;
    burst.push(relabel(s, `${s.id}-k`, 30 * 86_400_000));
    events += s.events.length;
  }
  assert.ok(events > 1_000 && events < 5_000, `${events} events`);
  insert(store, burst);
  const during = await scorer.step();
  assert.equal(during.noticed, burst.length);
  assert.equal(during.scored, 0, 'only noted while the burst goes on');
  clock.t += 2_500;
  let scored = 0;
  for (let i = 0; i < 20 && scorer.pending > 0; i++) scored += (await scorer.step()).scored;
  assert.equal(scored, burst.length);
  store.close();
  db.close();
});

test('retraining reads again only the sessions that changed and trains the model reading everything would', () => {
  const { home, store, db } = setup();
  insert(store, normal);
  const first = retrainCached(store, home, db);
  assert.deepEqual([first.read, first.reused], [40, 0]);
  const same = (a: AnalyticsModel, b: AnalyticsModel) =>
    assert.deepEqual({ ...a, trainedAt: '' }, { ...b, trainedAt: '' });
  same(first.model, retrain(store, home));
  // One new session, and more events for an existing one.
  insert(store, [
    relabel(normal[1] as LabelledSession, 'new-one', 60 * 86_400_000),
    relabel(odd[2] as LabelledSession, (normal[0] as LabelledSession).id, 0, 'extra'),
  ]);
  const second = retrainCached(store, home, db);
  assert.deepEqual([second.read, second.reused], [2, 39]);
  assert.equal(second.model.session.n, 41);
  same(second.model, retrain(store, home));
  assert.deepEqual(
    [retrainCached(store, home, db).read, retrainCached(store, home, db, { full: true }).read],
    [0, 41],
  );
  store.close();
  db.close();
});

test('cold start: with too little history the scores say so and nothing alerts', async () => {
  const { home, store, db, scorer } = setup();
  insert(store, normal.slice(0, 5));
  await scorer.step();
  assert.equal(loadModel(home)?.session.coldStart, true);
  insert(store, odd);
  // Six sessions more than the cold model was trained on: it trains again (still cold) before scoring.
  assert.match(scorer.retrainReason() ?? '', /6 new sessions/);
  const r = await scorer.step();
  assert.ok(r.retrainMs !== undefined);
  assert.equal(r.scored, odd.length);
  assert.equal(r.alerts, 0);
  for (const s of odd) {
    const row = db.get(s.id);
    assert.equal(row?.risk.coldStart, true);
    assert.equal(row?.risk.anomalyRisk, null);
    assert.equal(row?.risk.risk, row?.risk.ruleRisk);
    assert.match(
      row?.risk.reasons.join('\n') ?? '',
      /not enough history to say what is unusual: 11 of 30 needed/,
    );
  }
  assert.deepEqual(readAlerts(home), []);
  store.close();
  db.close();
});

test('the model is retrained when the history grew enough or got old', async () => {
  const { store, db, clock, scorer } = setup({ retrainGrowth: 0.1 });
  insert(store, normal);
  await scorer.step();
  assert.equal(scorer.retrainReason(), undefined);
  insert(store, odd);
  assert.match(scorer.retrainReason() ?? '', /sessions grew from 40 to 46/);
  const r = await scorer.step();
  assert.ok(r.retrainMs !== undefined);
  assert.equal(scorer.currentModel?.session.n, 46);
  assert.equal(scorer.retrainReason(), undefined);
  clock.t = Date.now() + 25 * 3_600_000;
  assert.match(scorer.retrainReason() ?? '', /h old/);
  store.close();
  db.close();
});

/** The events of several sessions as one session. */
function merged(sessions: readonly LabelledSession[], id: string): LabelledSession {
  const start = Date.parse(sessions[0]?.events[0]?.timestamp ?? '');
  const events = sessions.flatMap((s) => {
    const shift = start - Date.parse(s.events[0]?.timestamp ?? '');
    return relabel(s, id, shift, `${id}-${s.id}`).events;
  });
  return { id, style: 'merged', misbehaviour: 'all', events };
}

/** A copy of a session's events under another session id, shifted in time, with fresh event ids. */
function relabel(s: LabelledSession, id: string, shiftMs: number, tag = id): LabelledSession {
  const events = s.events.map(
    (e, i): TelemetryEvent => ({
      ...e,
      id: `${tag}-${i}-${e.id}`,
      session_id: id,
      timestamp: new Date(Date.parse(e.timestamp) + shiftMs).toISOString(),
    }),
  );
  return { ...s, id, events };
}
