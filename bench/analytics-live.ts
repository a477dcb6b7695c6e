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
import { setTimeout as sleep } from 'node:timers/promises';
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
import { median, round, stats, tempHome, writeSpool } from './util.ts';

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
  const svc = analytics ? startAnalytics({ paths, config }) : undefined;
  if (svc) await svc.step();
  const busy0 = svc?.busyMs() ?? 0;
  writeSpool(paths, n);
  const t0 = performance.now();
  const stored = await c.drainAsync();
  const ms = performance.now() - t0;
  let catchUpMs = 0;
  let scored = 0;
  let busyMs = 0;
  let busyAfterMs = 0;
  if (svc) {
    busyMs = svc.busyMs() - busy0;
    // Until every session that received events has its latest score (the thread stepping on its own).
    const t1 = performance.now();
    for (;;) {
      await sleep(250);
      const r = await svc.step();
      if (r.noticed === 0 && r.scored === 0 && svc.stats.pending === 0) break;
    }
    catchUpMs = performance.now() - t1;
    scored = svc.stats.scored;
    busyAfterMs = svc.busyMs() - busy0 - busyMs;
    await svc.stop();
  }
  await c.stop();
  rmSync(paths.home, { recursive: true, force: true });
  if (stored !== n) throw new Error(`stored ${stored} of ${n}`);
  return { ms, scored, catchUpMs, busyMs, busyAfterMs, scoreMs: svc?.stats.scoreMs ?? [] };
}

/**
 * Events/s through the collector with the analytics thread off and on (alternating runs; medians), and the
 * time the analytics thread was busy meanwhile (scoring every session of the run, with the default
 * rescore_ms): on a machine with a core to spare that work runs beside ingestion; on a saturated one it is
 * at most what ingestion can lose.
 */
async function ingestCost(model: DataPaths, n = 20_000, rounds = 3) {
  const off: number[] = [];
  const on: Awaited<ReturnType<typeof ingestRun>>[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push((await ingestRun(model, n, false)).ms);
    on.push(await ingestRun(model, n, true));
  }
  const offMs = median(off);
  const onMs = median(on.map((r) => r.ms));
  const busy = median(on.map((r) => r.busyMs));
  const busyAfter = median(on.map((r) => r.busyAfterMs));
  const perSec = (ms: number) => Math.round((n / ms) * 1000);
  return {
    events: n,
    sessions: n / 40,
    events_per_s_analytics_off: perSec(offMs),
    events_per_s_analytics_on: perSec(onMs),
    us_per_event_off: round((offMs * 1000) / n, 1),
    us_per_event_on: round((onMs * 1000) / n, 1),
    runs_ms: { off: off.map((x) => Math.round(x)), on: on.map((r) => Math.round(r.ms)) },
    analytics_thread_busy_ms_during_ingest: Math.round(busy),
    analytics_thread_us_per_event_during_ingest: round((busy * 1000) / n, 1),
    analytics_thread_busy_ms_after_until_all_scored: Math.round(busyAfter),
    sessions_scored: median(on.map((r) => r.scored)),
    all_scored_ms_after_ingest: Math.round(median(on.map((r) => r.catchUpMs))),
    live_score_ms: stats(on.flatMap((r) => r.scoreMs)),
  };
}
