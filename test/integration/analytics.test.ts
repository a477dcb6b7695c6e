import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { modelFile, retrain, scoreSession } from '../../src/analytics/analyze.ts';
import { readHistory } from '../../src/analytics/history.ts';
import { Store } from '../../src/store/index.ts';
import { cli, tempPaths } from '../helpers.ts';

test('analytics over a store filled through the real pipeline (recorded session)', () => {
  const paths = tempPaths('analytics');
  const demo = cli(paths, ['demo', '--json']);
  assert.equal(demo.status, 0, demo.stderr);
  const session = (JSON.parse(demo.stdout) as { session_id: string }).session_id;

  // Features straight from the store match what the recorded session did.
  const store = Store.open(paths.storeFile, { readonly: true });
  try {
    const h = readHistory(store);
    assert.equal(h.sessions.length, 1);
    const f = h.sessions[0]?.features ?? {};
    assert.equal(f.tool_calls, 15);
    assert.equal(f.prompts, 1);
    assert.ok((f.outside_scope_count ?? 0) >= 3, `outside ${f.outside_scope_count}`);
    assert.ok((f.rule_hits_high ?? 0) >= 1);
    assert.ok((f.failed_share ?? 0) > 0);
    assert.ok((f.duration_p95_ms ?? 0) > 0);
    assert.equal(f.subagents, 1);
    assert.ok(h.agents.some((a) => a.agent !== 'main'));
    // Cold start: one session of history is not a baseline.
    const model = retrain(store, paths.home);
    assert.equal(model.session.coldStart, true);
    const r = scoreSession(model, session, store.timeline(session));
    assert.equal(r.risk.anomalyRisk, null);
    assert.equal(r.risk.risk, r.risk.ruleRisk);
    assert.ok(r.risk.risk > 0);
  } finally {
    store.close();
  }

  const out = cli(paths, ['analytics', '--json']);
  assert.equal(out.status, 0, out.stderr);
  const j = JSON.parse(out.stdout) as {
    model: { cold_start: boolean; sessions: number };
    sessions: { session: string; risk: { risk: number; reasons: string[] } }[];
    alerts: unknown[];
  };
  assert.equal(j.model.cold_start, true);
  assert.equal(j.model.sessions, 1);
  assert.equal(j.sessions[0]?.session, session);
  assert.match(j.sessions[0]?.risk.reasons.join('\n') ?? '', /security rule hits: .*high/);
  assert.match(j.sessions[0]?.risk.reasons.join('\n') ?? '', /not enough history.*1 of 30 needed/);
  assert.deepEqual(j.alerts, []);
  assert.ok(existsSync(modelFile(paths.home)));
  assert.equal(JSON.parse(readFileSync(modelFile(paths.home), 'utf8')).session.n, 1);

  const one = cli(paths, ['analytics', '--session', session.slice(0, 8)]);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /cold start/);
  assert.match(one.stdout, new RegExp(`session ${session}`));
  assert.match(one.stdout, /outside_scope_count\s+\d+/);

  const bad = cli(paths, ['analytics', '--session', 'zzzz']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no session zzzz/);
  const badT = cli(paths, ['analytics', '--threshold', '200']);
  assert.equal(badT.status, 2);
  assert.match(badT.stderr, /--threshold must be a number from 0 to 100/);
});
