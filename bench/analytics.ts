/**
 * Behavioural analytics on the labelled benchmark (bench/analytics-data.ts): train on a history of ordinary
 * sessions (with a little unlabelled misbehaviour in it, as real histories have), then score held-out
 * sessions, normal and misbehaving. Reports ROC AUC and precision at the top 5% for the risk score, the
 * anomaly parts alone, and a baseline of rule hits alone; scoring time per session; and, end to end
 * (analytics-live.ts), retraining on 10,000 stored sessions, scoring from the store, the dashboard reader and
 * the collector's ingest rate with and without the analytics thread.
 */
import { rmSync } from 'node:fs';
import { scoreSession } from '../src/analytics/analyze.ts';
import { historyOf } from '../src/analytics/history.ts';
import { train } from '../src/analytics/model.ts';
import { BENCH_SEED, generateSessions, type LabelledSession, MISBEHAVIOUR } from './analytics-data.ts';
import { runLiveAnalyticsBench } from './analytics-live.ts';
import { round, stats, tempHome } from './util.ts';

/** ROC AUC as the Mann-Whitney U statistic (ties count one half). */
export function rocAuc(scores: readonly number[], labels: readonly boolean[]): number {
  const idx = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  let rankSumPos = 0;
  let pos = 0;
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (labels[idx[k]![1]]) {
        rankSumPos += rank;
        pos++;
      }
    i = j + 1;
  }
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Precision among the top `fraction` by score; a tie across the cut counts at its mean positive rate. */
export function precisionAtTop(
  scores: readonly number[],
  labels: readonly boolean[],
  fraction: number,
): number {
  const k = Math.max(1, Math.ceil(fraction * scores.length));
  const cut = [...scores].sort((a, b) => b - a)[k - 1] as number;
  let above = 0;
  let abovePos = 0;
  let tie = 0;
  let tiePos = 0;
  scores.forEach((s, i) => {
    if (s > cut) {
      above++;
      if (labels[i]) abovePos++;
    } else if (s === cut) {
      tie++;
      if (labels[i]) tiePos++;
    }
  });
  return (abovePos + ((k - above) * tiePos) / tie) / k;
}

function events(sessions: readonly LabelledSession[]) {
  return sessions.flatMap((s) => s.events);
}

export async function runAnalyticsBench() {
  const home = tempHome('analytics').home;
  try {
    const t0 = performance.now();
    const history = await generateSessions({ seed: BENCH_SEED, normal: 600, perMisbehaviour: 1, home });
    const test = await generateSessions({
      seed: BENCH_SEED + 1,
      normal: 300,
      perMisbehaviour: 10,
      home,
      start: Date.parse('2026-06-01T08:00:00.000Z'),
    });
    const generateMs = performance.now() - t0;

    const t1 = performance.now();
    const h = historyOf(events(history));
    const model = train(
      h.sessions.map((s) => s.features),
      h.agents.map((a) => a.features),
      h.domains,
    );
    const trainMs = performance.now() - t1;

    const labels = test.map((s) => s.misbehaviour !== undefined);
    // Warm-up, as in the running command after its first session.
    for (const s of test.slice(0, 20)) scoreSession(model, s.id, s.events);
    const scoreTimes: number[] = [];
    const reports = test.map((s) => {
      const t = performance.now();
      const r = scoreSession(model, s.id, s.events);
      scoreTimes.push(performance.now() - t);
      return r;
    });
    const columns = {
      risk: reports.map((r) => r.risk.risk),
      anomaly_risk: reports.map((r) => r.risk.anomalyRisk ?? 0),
      forest_score: reports.map((r) => r.risk.anomalyScore ?? 0),
      rules_only: reports.map((r) => r.risk.ruleRisk),
    };
    const figures = Object.fromEntries(
      Object.entries(columns).map(([k, v]) => [
        k,
        { roc_auc: round(rocAuc(v, labels)), precision_top5: round(precisionAtTop(v, labels, 0.05)) },
      ]),
    );
    // Recall per misbehaviour at the alert threshold (anomaly risk >= 70) and at risk >= 50.
    const perKind = Object.fromEntries(
      MISBEHAVIOUR.map((m) => {
        const idx = test.flatMap((s, i) => (s.misbehaviour === m ? [i] : []));
        const share = (f: (i: number) => boolean) => round(idx.filter(f).length / idx.length, 2);
        return [
          m,
          {
            mean_risk: round(idx.reduce((a, i) => a + (columns.risk[i] as number), 0) / idx.length, 1),
            risk_50: share((i) => (columns.risk[i] as number) >= 50),
            anomaly_alert_70: share((i) => (columns.anomaly_risk[i] as number) >= 70),
            rules_50: share((i) => (columns.rules_only[i] as number) >= 50),
          },
        ];
      }),
    );
    const normalIdx = labels.flatMap((l, i) => (l ? [] : [i]));
    const falseAlerts = normalIdx.filter((i) => (columns.anomaly_risk[i] as number) >= 70).length;

    // Retraining, scoring and the collector's ingestion with the analytics thread, end to end.
    const live = await runLiveAnalyticsBench([...history, ...test]);

    return {
      sessions: {
        history: history.length,
        test: test.length,
        test_misbehaving: labels.filter(Boolean).length,
        events: events(history).length + events(test).length,
        generate_s: round(generateMs / 1000, 1),
      },
      model: { sessions: model.session.n, agents: model.agent.n, train_ms: round(trainMs, 0) },
      figures,
      per_misbehaviour: perKind,
      false_anomaly_alerts: { normal_sessions: normalIdx.length, alerts: falseAlerts },
      score_session_ms: stats(scoreTimes),
      live,
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await runAnalyticsBench(), null, 2)}\n`);
}
