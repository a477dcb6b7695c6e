import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { saveModel } from '../../src/analytics/analyze.ts';
import { FEATURES, type FeatureVector } from '../../src/analytics/features.ts';
import { mulberry32 } from '../../src/analytics/forest.ts';
import { type Risk, train } from '../../src/analytics/model.ts';
import { AnalyticsReader } from '../../src/analytics/report.ts';
import { ScoreDb, type StoredScore } from '../../src/analytics/scores.ts';

const homes: string[] = [];
after(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

function home(): string {
  const h = mkdtempSync(join(tmpdir(), 'ct-report-'));
  homes.push(h);
  return h;
}

const T0 = Date.parse('2026-05-01T00:00:00.000Z');
const HOUR = 3_600_000;

function vector(r: () => number, outside = 0): FeatureVector {
  const v: FeatureVector = {};
  for (const f of FEATURES) v[f.name] = f.kind === 'ratio' ? r() * 0.2 : Math.floor(r() * 10);
  v.tool_calls = 10 + Math.floor(r() * 20);
  v.outside_scope_count = outside;
  return v;
}

function score(i: number, r: () => number): StoredScore {
  const odd = i % 50 === 7;
  const risk: Risk = {
    risk: odd ? 80 + (i % 20) : Math.floor(r() * 40),
    ruleRisk: 0,
    anomalyRisk: odd ? 80 + (i % 20) : Math.floor(r() * 40),
    anomalyScore: 0.5,
    coldStart: false,
    reasons: odd ? ['38 actions outside the project, usually none'] : [],
    explanations: odd
      ? [
          {
            feature: 'outside_scope_count',
            value: 38,
            usual: 0,
            z: 38,
            text: '38 actions outside the project',
          },
        ]
      : [],
  };
  const features = vector(r, odd ? 38 : 0);
  return {
    session: `s${String(i).padStart(5, '0')}`,
    project: i % 2 === 0 ? 'web-shop' : 'billing-api',
    first: T0 + i * HOUR,
    last: T0 + i * HOUR + 20 * 60_000,
    scored: T0 + i * HOUR + 21 * 60_000,
    features,
    risk,
    agents: [
      { agent: 'main', features, risk: { ...risk, risk: 5 } },
      { agent: 'a1', features, risk },
    ],
    hours: [{ hour: new Date(T0 + i * HOUR).toISOString(), features }],
    modelTrainedAt: '2026-05-01T00:00:00.000Z',
  };
}

function filled(n: number): string {
  const h = home();
  const r = mulberry32(5);
  const db = ScoreDb.open(h);
  db.put(Array.from({ length: n }, (_, i) => score(i, r)));
  db.claimAlert('s00007', 85, T0 + 7 * HOUR + 30 * 60_000);
  db.close();
  const vectors = Array.from({ length: 40 }, () => vector(r));
  saveModel(h, train(vectors, vectors, {}));
  return h;
}

test('before anything is scored the reader answers empty and says why', () => {
  const reader = AnalyticsReader.open(home());
  const st = reader.status();
  assert.equal(st.model, null);
  assert.equal(st.scoredSessions, 0);
  assert.match(st.message, /no model yet/);
  assert.deepEqual(reader.listAnomalies(), { total: 0, sessions: [] });
  assert.equal(reader.sessionVsBaseline('nope'), undefined);
  assert.deepEqual(reader.riskTrends({ since: 0, until: Date.now() }), []);
  reader.close();
});

test('cold start is said in the status', () => {
  const h = home();
  const vectors = Array.from({ length: 4 }, () => vector(mulberry32(1)));
  saveModel(h, train(vectors, vectors, {}));
  const st = AnalyticsReader.open(h).status();
  assert.equal(st.model?.coldStart, true);
  assert.match(st.message, /cold start: 4 of 30 sessions/);
});

test('anomalies, features against the baseline and trends from the scores file', () => {
  const h = filled(200);
  const reader = AnalyticsReader.open(h);
  const st = reader.status();
  assert.equal(st.scoredSessions, 200);
  assert.equal(st.alertedSessions, 1);
  assert.equal(st.model?.sessions, 40);

  const all = reader.listAnomalies({ limit: 4 });
  assert.equal(all.total, 200);
  assert.equal(all.sessions.length, 4);
  const risks = all.sessions.map((s) => s.risk);
  assert.deepEqual(
    risks,
    [...risks].sort((a, b) => b - a),
  );
  assert.ok(all.sessions.every((s) => s.risk >= 80));
  const s7 = reader.listAnomalies({ minRisk: 80, limit: 100 }).sessions.find((s) => s.session === 's00007');
  assert.ok(s7);
  assert.equal(s7.alerted, true);
  assert.deepEqual(s7.reasons, ['38 actions outside the project, usually none']);
  assert.deepEqual(
    s7.agents.map((a) => a.agent),
    ['a1', 'main'],
  );
  assert.equal(s7.start, new Date(T0 + 7 * HOUR).toISOString());

  // Time window: sessions active in [since, until); project filter; recent order.
  const window = reader.listAnomalies({ since: T0 + 10 * HOUR, until: T0 + 20 * HOUR, order: 'recent' });
  assert.equal(window.total, 10);
  assert.equal(window.sessions[0]?.session, 's00019');
  assert.equal(reader.listAnomalies({ project: 'web-shop' }).total, 100);

  const d = reader.sessionVsBaseline('s00007');
  assert.ok(d);
  assert.equal(d.features.length, FEATURES.length);
  const out = d.features.find((f) => f.name === 'outside_scope_count');
  assert.equal(out?.value, 38);
  assert.equal(out?.usual, 0);
  assert.ok((out?.z ?? 0) > 3);
  assert.equal(out?.unusual, true);
  assert.equal(d.features.find((f) => f.name === 'hour_of_day')?.inModel, false);
  assert.equal(d.features.filter((f) => f.unusual).length, 1);
  assert.equal(d.agents.length, 2);
  assert.equal(d.hours.length, 1);
  assert.equal(d.alerted, true);

  // Trends per 12 hours (buckets aligned to UTC days) over the first 48 hours: 4 buckets of 12 sessions;
  // s00007 is the anomaly and the alert.
  const trend = reader.riskTrends({ since: T0, until: T0 + 48 * HOUR, bucketMs: 12 * HOUR });
  assert.deepEqual(
    trend.map((p) => [p.t, p.sessions]),
    [0, 1, 2, 3].map((k) => [T0 + k * 12 * HOUR, 12]),
  );
  assert.equal(trend[0]?.anomalies, 1);
  assert.equal(trend[0]?.alerts, 1);
  assert.ok((trend[0]?.maxRisk ?? 0) >= 80);
  assert.equal(trend[1]?.anomalies, 0);
  assert.equal(trend[1]?.alerts, 0);
  // One hour per bucket by default over two days; every other session is web-shop's.
  const hourly = reader.riskTrends({ since: T0, until: T0 + 48 * HOUR, project: 'web-shop' });
  assert.equal(hourly.length, 24);
  assert.equal(hourly[0]?.sessions, 1);
  reader.close();
});

test('every read answers within 200 ms at 10,000 scored sessions', () => {
  const h = filled(10_000);
  const reader = AnalyticsReader.open(h);
  const best = (f: () => unknown) => {
    let ms = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      f();
      ms = Math.min(ms, performance.now() - t);
    }
    return ms;
  };
  const times = {
    status: best(() => reader.status()),
    listAnomalies: best(() => reader.listAnomalies({ limit: 100 })),
    listRecentWeek: best(() =>
      reader.listAnomalies({ since: T0 + 9_000 * HOUR, until: T0 + 9_168 * HOUR, order: 'recent' }),
    ),
    sessionVsBaseline: best(() => reader.sessionVsBaseline('s05007')),
    riskTrends: best(() => reader.riskTrends({ since: T0, until: T0 + 10_000 * HOUR })),
  };
  process.stdout.write(`# reads at 10k sessions (ms): ${JSON.stringify(times)}\n`);
  for (const [k, ms] of Object.entries(times)) assert.ok(ms <= 200, `${k} took ${ms} ms`);
  assert.equal(reader.listAnomalies({ limit: 100 }).sessions.length, 100);
  assert.equal(reader.riskTrends({ since: T0, until: T0 + 10_000 * HOUR }).length, 417);
  reader.close();
});
