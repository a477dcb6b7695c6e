import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ANOMALY_RULE, raiseAnomalyAlerts, type SessionReport } from '../../src/analytics/analyze.ts';
import { DEFAULT_ALERT_CONFIG, readAlerts } from '../../src/detect/alerts.ts';

function report(session: string, anomalyRisk: number | null, risk: number): SessionReport {
  return {
    session,
    project: 'app',
    start: '2026-03-02T10:00:00.000Z',
    end: '2026-03-02T10:30:00.000Z',
    features: {},
    risk: {
      risk,
      ruleRisk: 0,
      anomalyRisk,
      anomalyScore: anomalyRisk === null ? null : 0.7,
      coldStart: anomalyRisk === null,
      reasons: ['38 actions outside the project, usually none'],
      explanations: [],
    },
    agents: [],
    hours: [],
  };
}

test('anomalies above the threshold alert once per session, through the alert log and channels', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ct-analytics-alerts-'));
  const hooks: unknown[] = [];
  const channels = {
    desktop: async () => {},
    webhook: async (_url: string, body: unknown) => {
      hooks.push(body);
    },
  };
  const config = {
    ...DEFAULT_ALERT_CONFIG,
    webhook: { url: 'http://127.0.0.1:9/x', format: 'json' as const, timeout_ms: 1000 },
  };
  const reports = [report('s-high', 95, 96), report('s-low', 40, 40), report('s-cold', null, 80)];
  const raised = await raiseAnomalyAlerts(home, reports, 70, config, channels);
  assert.deepEqual(
    raised.map((a) => [a.rule, a.session, a.severity]),
    [[ANOMALY_RULE, 's-high', 'high']],
  );
  assert.match(raised[0]?.reason ?? '', /risk 96\/100: 38 actions outside the project/);
  assert.equal(hooks.length, 1);
  assert.deepEqual(
    readAlerts(home).map((a) => a.session),
    ['s-high'],
  );
  // the same session does not alert again on the next run
  assert.deepEqual(await raiseAnomalyAlerts(home, reports, 70, config, channels), []);
  assert.equal(readAlerts(home).length, 1);
});
