/**
 * Analytics as the collector runs it, measured end to end:
 * - retraining on 10,000 sessions stored in a real store (every event read back from SQLite, parsed,
 *   grouped, fitted, the model saved), as the collector's analytics thread does the first time, and again
 *   after 500 more sessions (only those read, the others' features from the cache);
 * - scoring one session as the live scorer does (its events read from the store, scored, the score written);
 * - the dashboard reader's answers at 10,000 scored sessions;
 * - what the analytics thread costs ingestion: events/s through the collector with and without it running.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  analyticsDir,
  modelFile,
  retrainCached,
  scoreSession,
  storedScoreOf,
} from '../src/analytics/analyze.ts';
import { AnalyticsReader } from '../src/analytics/report.ts';
import { ScoreDb } from '../src/analytics/scores.ts';
import { startAnalytics } from '../src/analytics/service.ts';
import { installHook } from '../src/capture/install.ts';
import { Collector } from '../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { Store } from '../src/store/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import type { LabelledSession } from './analytics-data.ts';
import { round, stats, tempHome, writeSpool } from './util.ts';

const DAY = 86_400_000;

/**
 * Fills a store with `n` sessions: the generated ones, and copies of them under new session and event ids,
 * each copy shifted by whole weeks, as if the same user had kept working like this.
 */
function fillStore(store: Store, sessions: readonly LabelledSession[], from: number, to: number): number {
  let auditSeq = store.maxAuditSeq();
  let events = 0;
  let rows: { event: TelemetryEvent; auditSeq: number }[] = [];
  for (let i = from; i < to; i++) {
    const s = sessions[i % sessions.length] as LabelledSession;
    const copy = Math.floor(i / sessions.length);
    const shift = copy * 7 * DAY;
    for (const e of s.events) {
      const event: TelemetryEvent =
        copy === 0
          ? e
          : {
              ...e,
              id: `${e.id}-c${copy}`,
              session_id: `${s.id}-c${copy}`,
              timestamp: new Date(Date.parse(e.timestamp) + shift).toISOString(),
            };
      rows.push({ event, auditSeq: ++auditSeq });
    }
    if (rows.length >= 5_000) {
      events += store.insertBatch(rows).inserted;
      rows = [];
    }
  }
  events += store.insertBatch(rows).inserted;
  return events;
}

export async function runLiveAnalyticsBench(sessions: readonly LabelledSession[]) {
  const paths = tempHome('analytics-live');
  try {
    const store = Store.open(paths.storeFile);
    const t0 = performance.now();
    const events = fillStore(store, sessions, 0, 10_000);
    const fillMs = performance.now() - t0;

    // Retraining as the analytics thread does it, on its own read-only connection: first with an empty
    // feature cache (every event read), then after 500 more sessions (5%) arrived (only those read).
    const ro = Store.open(paths.storeFile, { readonly: true });
    const db = ScoreDb.open(paths.home);
    const load = loadavg()[0] as number;
    const cpu0 = process.cpuUsage();
    const t1 = performance.now();
    const { model } = retrainCached(ro, paths.home, db);
    const retrainMs = performance.now() - t1;
    const cpu = process.cpuUsage(cpu0);
    const moreEvents = fillStore(store, sessions, 10_000, 10_500);
    store.close();
    const t2 = performance.now();
    const again = retrainCached(ro, paths.home, db);
    const incrementalMs = performance.now() - t2;

    // Scoring a session read whole from the store (a session the scorer sees for the first time), the score
    // kept.
    const ids = ro.sessions({ limit: 10_000 }).map((s) => s.session_id);
    const times: number[] = [];
    const all = [];
    for (const [i, id] of ids.entries()) {
      const t = performance.now();
      const r = scoreSession(model, id, ro.timeline(id));
      const stored = storedScoreOf(r, model);
      if (i < 1_000) {
        db.put([stored]);
        times.push(performance.now() - t);
      } else all.push(stored);
    }
    db.put(all);
    db.close();
    ro.close();

    // What the dashboard reads, at 10,000 scored sessions.
    const reader = AnalyticsReader.open(paths.home);
    const last = Date.parse(reader.listAnomalies({ limit: 1, order: 'recent' }).sessions[0]?.end ?? '');
    const timed = (f: () => unknown) => {
      const t = performance.now();
      f();
      return round(performance.now() - t, 2);
    };
    const top = reader.listAnomalies({ limit: 1 }).sessions[0]?.session ?? '';
    const readerMs = {
      status: timed(() => reader.status()),
      list_anomalies_100: timed(() => reader.listAnomalies({ limit: 100 })),
      list_last_7_days: timed(() => reader.listAnomalies({ since: last - 7 * DAY, until: last + 1 })),
      session_vs_baseline: timed(() => reader.sessionVsBaseline(top)),
      risk_trends_all_days: timed(() => reader.riskTrends({ since: 0, until: last + 1 })),
    };
    reader.close();

    return {
      sessions: 10_000,
      events,
      fill_store_s: round(fillMs / 1000, 1),
      retrain_10k_s: round(retrainMs / 1000, 2),
      retrain_10k_cpu_s: round((cpu.user + cpu.system) / 1e6, 2),
      load_average_before_retrain: round(load, 1),
      retrain_after_500_more: {
        events_added: moreEvents,
        sessions_read: again.read,
        sessions_reused: again.reused,
        s: round(incrementalMs / 1000, 2),
      },
      model_sessions: model.session.n,
      model_agents: model.agent.n,
      score_session_from_store_ms: stats(times),
      reader_ms_at_10k: readerMs,
      ingest: await ingestCost(paths),
    };
  } finally {
    rmSync(paths.home, { recursive: true, force: true });
  }
}

/** One drain of `n` spooled events through a collector, with or without the analytics thread beside it. */
async function ingestRun(model: DataPaths, n: number, analytics: boolean) {
  const paths = tempHome('analytics-ingest');
  installHook(paths);
  // The model trained on the 10,000 sessions, so the thread scores for real (no cold start).
  mkdirSync(analyticsDir(paths.home), { recursive: true });
  copyFileSync(modelFile(model.home), modelFile(paths.home));
  const config = DEFAULT_CONFIG;
  const c = await Collector.open(paths, config);
  writeSpool(paths, 1_000);
  await c.drainAsync();
  const svc = analytics ? startAnalytics({ paths, config, pollMs: 200 }) : undefined;
  if (svc) await svc.step();
  writeSpool(paths, n);
  const t0 = performance.now();
  const stored = await c.drainAsync();
  const ms = performance.now() - t0;
  let catchUpMs = 0;
  let scored = 0;
  if (svc) {
    // Until every session that received events has its score.
    const t1 = performance.now();
    let r = await svc.step();
    while (r.noticed > 0 || svc.stats.pending > 0) r = await svc.step();
    catchUpMs = performance.now() - t1;
    scored = svc.stats.scored;
    await svc.stop();
  }
  await c.stop();
  rmSync(paths.home, { recursive: true, force: true });
  if (stored !== n) throw new Error(`stored ${stored} of ${n}`);
  return { ms, scored, catchUpMs, scoreMs: svc?.stats.scoreMs ?? [] };
}

/** Events/s through the collector with the analytics thread off and on (alternating runs, best of each). */
async function ingestCost(model: DataPaths, n = 20_000, rounds = 2) {
  const off: number[] = [];
  const on: number[] = [];
  let last: Awaited<ReturnType<typeof ingestRun>> | undefined;
  for (let i = 0; i < rounds; i++) {
    off.push((await ingestRun(model, n, false)).ms);
    last = await ingestRun(model, n, true);
    on.push(last.ms);
  }
  const best = (xs: number[]) => Math.min(...xs);
  const perSec = (ms: number) => Math.round((n / ms) * 1000);
  return {
    events: n,
    sessions: n / 40,
    events_per_s_analytics_off: perSec(best(off)),
    events_per_s_analytics_on: perSec(best(on)),
    us_per_event_off: round((best(off) * 1000) / n, 1),
    us_per_event_on: round((best(on) * 1000) / n, 1),
    cost_percent: round(((best(on) - best(off)) / best(off)) * 100, 1),
    runs_ms: { off: off.map((x) => Math.round(x)), on: on.map((x) => Math.round(x)) },
    scored_during_and_after: last?.scored ?? 0,
    all_scored_ms_after_ingest: Math.round(last?.catchUpMs ?? 0),
    live_score_ms: stats(last?.scoreMs ?? []),
  };
}
