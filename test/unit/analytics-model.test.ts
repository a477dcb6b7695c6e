import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBaseline, describe, explain, robustStats, zScores } from '../../src/analytics/baseline.ts';
import { FEATURE_INDEX, FEATURES, type FeatureVector } from '../../src/analytics/features.ts';
import { averagePathLength, IsolationForest, mulberry32 } from '../../src/analytics/forest.ts';
import { anomalyRisk, MIN_HISTORY, riskOf, ruleRisk, train, trainKind } from '../../src/analytics/model.ts';

function cloud(n: number, dims: number, seed: number): number[][] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: dims }, () => r() + r() + r()));
}

test('mulberry32 is deterministic and in [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs.slice(0, 5), [mulberry32(43)(), 0, 0, 0, 0]);
});

test('c(n): the mean unsuccessful-search path length', () => {
  assert.equal(averagePathLength(1), 0);
  assert.equal(averagePathLength(2), 1);
  assert.ok(Math.abs(averagePathLength(256) - 10.24) < 0.05);
});

test('forest: same seed, same trees and scores; another seed, other trees', () => {
  const rows = cloud(500, 4, 7);
  const f1 = IsolationForest.fit(rows, { seed: 9, trees: 50 });
  const f2 = IsolationForest.fit(rows, { seed: 9, trees: 50 });
  const f3 = IsolationForest.fit(rows, { seed: 10, trees: 50 });
  assert.deepEqual(f1.toJSON(), f2.toJSON());
  assert.notDeepEqual(f1.toJSON().trees, f3.toJSON().trees);
  const x = [1.5, 1.5, 1.5, 1.5];
  assert.equal(f1.score(x), f2.score(x));
  // survives a JSON round trip
  const back = IsolationForest.fromJSON(JSON.parse(JSON.stringify(f1.toJSON())));
  assert.equal(back.score(x), f1.score(x));
});

test('forest: an obvious outlier scores higher than every inlier', () => {
  const rows = cloud(1000, 5, 3);
  const f = IsolationForest.fit(rows, { seed: 1 });
  const outlier = f.score([9, 9, 9, 9, 9]);
  const centre = f.score([1.5, 1.5, 1.5, 1.5, 1.5]);
  assert.ok(outlier > 0.65, `outlier ${outlier}`);
  assert.ok(centre < 0.5, `centre ${centre}`);
  const max = Math.max(...rows.slice(0, 200).map((r) => f.score(r)));
  assert.ok(outlier > max, `outlier ${outlier} <= inlier max ${max}`);
});

test('forest: depth bounded by ceil(log2(sample size)); constant data makes leaves', () => {
  const f = IsolationForest.fit(cloud(2000, 3, 5), { sampleSize: 64, trees: 20 });
  assert.equal(f.maxDepth, 6);
  assert.ok(f.depth() <= 6);
  const flat = IsolationForest.fit(
    Array.from({ length: 50 }, () => [1, 1]),
    { trees: 5 },
  );
  assert.equal(flat.depth(), 0);
  assert.throws(() => IsolationForest.fit([]), /at least one row/);
  assert.throws(() => flat.score([1]), /expected 2 values/);
});

function vector(over: Record<string, number | undefined> = {}): FeatureVector {
  const v: FeatureVector = {};
  for (const f of FEATURES) v[f.name] = over[f.name] ?? 0;
  return v;
}

function history(n: number, seed: number): FeatureVector[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () =>
    vector({
      events: 60 + Math.round(r() * 40),
      tool_calls: 25 + Math.round(r() * 15),
      session_minutes: 10 + r() * 20,
      read_share: 0.4 + r() * 0.2,
      bash_share: 0.2 + r() * 0.1,
      distinct_files: 5 + Math.round(r() * 6),
      outside_scope_count: r() < 0.2 ? 1 : 0,
      outside_scope_ratio: 0,
      prompts: 1 + Math.round(r() * 3),
      duration_mean_ms: 200 + r() * 200,
    }),
  );
}

test('robust stats: median and MAD, with floors when nothing varies', () => {
  const s = robustStats([1, 2, 3, 4, 100], 0.1);
  assert.equal(s.median, 3);
  assert.ok(Math.abs(s.scale - 1.4826) < 1e-9);
  assert.equal(robustStats([0, 0, 0, 0], 1).scale, 1);
  // MAD 0 but not all equal: mean absolute deviation instead
  const m = robustStats([0, 0, 0, 0, 0, 0, 8], 0.01);
  assert.ok(m.scale > 1 && m.scale < 2);
});

test('z-scores and explanations in words', () => {
  const base = buildBaseline(history(100, 11));
  const odd = vector({ ...history(1, 12)[0], outside_scope_count: 38, outside_scope_ratio: 0.9 });
  const z = zScores(odd, base);
  assert.ok((z.outside_scope_count as number) > 10);
  const ex = explain(odd, base);
  assert.ok(ex.length > 0);
  assert.ok(ex.some((e) => e.feature === 'outside_scope_count'));
  assert.match(
    ex.find((e) => e.feature === 'outside_scope_count')?.text ?? '',
    /^38 actions outside the project, usually none$/,
  );
  const ordinary = history(1, 13)[0] as FeatureVector;
  assert.deepEqual(explain(ordinary, base), []);
  const count = FEATURES[FEATURE_INDEX.get('distinct_files') as number]!;
  assert.equal(describe(count, 36, 4), '36 distinct files, 9x your usual (4)');
  const ratio = FEATURES[FEATURE_INDEX.get('bash_share') as number]!;
  assert.equal(describe(ratio, 0.85, 0.2), 'share of Bash calls: 85%, your usual 20%');
});

test('cold start: too little history flags nothing and says so', () => {
  const few = history(MIN_HISTORY - 1, 21);
  const m = trainKind(few);
  assert.equal(m.coldStart, true);
  assert.equal(m.forest, undefined);
  const odd = vector({ outside_scope_count: 500, tool_calls: 900 });
  const r = riskOf(odd, m);
  assert.equal(r.coldStart, true);
  assert.equal(r.anomalyRisk, null);
  assert.equal(r.risk, 0);
  assert.match(r.reasons.join(' '), /29 of 30 needed/);
  // rule hits still count
  assert.ok(riskOf(vector({ rule_hits_critical: 1 }), m).risk > 70);
});

test('risk: an odd session scores far above an ordinary one; rule risk and combination', () => {
  const model = train(history(300, 31), history(300, 32), {});
  assert.equal(model.session.coldStart, false);
  const ordinary = riskOf(history(1, 33)[0] as FeatureVector, model.session);
  const odd = riskOf(
    vector({
      ...history(1, 34)[0],
      outside_scope_count: 40,
      sensitive_touches: 12,
      distinct_files: 80,
      network_commands: 6,
    }),
    model.session,
  );
  assert.ok((odd.anomalyScore as number) > (ordinary.anomalyScore as number));
  assert.ok((odd.anomalyRisk as number) >= 70, `odd ${odd.anomalyRisk}`);
  assert.ok((ordinary.anomalyRisk as number) < 50, `ordinary ${ordinary.anomalyRisk}`);
  assert.ok(odd.reasons.some((r) => r.includes('actions outside the project')));
  assert.equal(ruleRisk(vector()), 0);
  assert.ok(ruleRisk(vector({ rule_hits_high: 1 })) > ruleRisk(vector({ rule_hits_medium: 1 })));
  assert.equal(anomalyRisk(0.5, { p50: 0.5, p99: 0.6 }), 0);
  assert.equal(anomalyRisk(0.6, { p50: 0.5, p99: 0.6 }), 50);
  assert.equal(anomalyRisk(0.9, { p50: 0.5, p99: 0.6 }), 100);
  const both = riskOf(
    vector({ ...history(1, 34)[0], outside_scope_count: 40, rule_hits_high: 1 }),
    model.session,
  );
  assert.ok(both.risk >= Math.max(both.ruleRisk, both.anomalyRisk as number));
});

test('training is reproducible with a seed', () => {
  const h = history(100, 41);
  const a = train(h, h, {}, { seed: 5 }, new Date(0));
  const b = train(h, h, {}, { seed: 5 }, new Date(0));
  assert.deepEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
});
