import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { retrain } from '../src/analytics/analyze.ts';
import { AuditLog } from '../src/audit/index.ts';
import { installHook } from '../src/capture/install.ts';
import { storeRowOf } from '../src/collector/audit-to-store.ts';
import { stopCollector } from '../src/collector/control.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { normalize } from '../src/ingest/index.ts';
import { Store } from '../src/store/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import {
  fixturePayloads,
  startBuiltCollector,
  stats,
  storedEventCounter,
  tempHome,
  writeSpool,
} from './util.ts';

/** Resident memory of a process (MB): in all, its peak, and the part that maps files (node, its libraries). */
function rssOf(pid: number): { rssMB: number; peakMB: number; fileMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (k: string) => Math.round(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024);
  return { rssMB: mb('VmRSS'), peakMB: mb('VmHWM'), fileMB: mb('RssFile') };
}

/**
 * Fills a data dir with `total` events (sessions of `perSession`, 10 ms apart, ending about now) through the
 * audit log and the store as the collector writes them. Returns the session ids and the build time.
 */
export function buildScaleStore(paths: DataPaths, total: number, perSession: number) {
  installHook(paths);
  const templates = fixturePayloads().map((p, i) =>
    normalize(
      {
        name: `${i}.t.project`,
        path: '',
        mtimeMs: 0,
        scope: 'project',
        projectDir: '/home/dev/project',
        body: Buffer.from(JSON.stringify(p)),
      },
      { user: 'dev', host: hostname(), telemetryVersion: '0.1.0', capture: 'metadata' },
    ),
  );
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys, checkpointEvery: 100_000 });
  const store = Store.open(paths.storeFile);
  const sessions: string[] = [];
  const t0 = Date.now() - total * 10;
  const build0 = performance.now();
  let batch: TelemetryEvent[] = [];
  let session = '';
  for (let i = 0; i < total; i++) {
    if (i % perSession === 0) {
      session = randomUUID();
      sessions.push(session);
    }
    const t = templates[i % templates.length] as TelemetryEvent;
    batch.push({
      ...t,
      id: randomUUID().replaceAll('-', ''),
      session_id: session,
      timestamp: new Date(t0 + i * 10).toISOString(),
    });
    if (batch.length === 1000) {
      const entries = audit.append(batch);
      store.insertBatch(entries.map(storeRowOf));
      batch = [];
    }
  }
  audit.checkpoint();
  audit.close();
  return { store, sessions, buildSec: (performance.now() - build0) / 1000 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples the collector's memory every second for `ms`; returns the last sample. */
async function watch(pid: number, ms: number) {
  let m = rssOf(pid);
  for (const end = Date.now() + ms; Date.now() < end; ) {
    await sleep(1000);
    m = rssOf(pid);
  }
  return m;
}

/**
 * A store of `total` events (sessions of 1,000) built through the audit log and the store as the collector
 * does, with the analytics model trained on it (as a collector that has been running holds one); then a
 * session's timeline is read, and the real collector (`claude-telemetry start`, so with the node flags the
 * daemon gets) is measured: idle once start-up has settled, right after ingesting 20,000 more events, once
 * that burst has settled (`settleMs`: V8 gives back what a burst grew after some tens of seconds), and with
 * the dashboard's Overview of the last 30 days open.
 */
export async function runScaleBench(
  total = Number(process.env.BENCH_SCALE_TOTAL ?? 1_000_000),
  perSession = 1_000,
  settleMs = Number(process.env.BENCH_SCALE_SETTLE_MS ?? 60_000),
) {
  const paths = tempHome('scale');
  const { store, sessions, buildSec } = buildScaleStore(paths, total, perSession);
  const lat: number[] = [];
  for (let k = 0; k < 60; k++) {
    const s = sessions[Math.floor((k * 7919) % sessions.length)] as string;
    const a = performance.now();
    const tl = store.timeline(s);
    lat.push(performance.now() - a);
    if (tl.length !== perSession) throw new Error(`timeline returned ${tl.length}`);
  }
  retrain(store, paths.home);
  store.close();

  // The real collector on this 1M-event data dir (ports picked free), idle, then ingesting 20,000 more.
  const pid = startBuiltCollector(paths);
  try {
    const idle = await watch(pid, settleMs);
    // Written aside and moved in whole, as the hook does: a file the collector lists must be complete.
    writeSpool({ ...paths, spoolNew: paths.spoolTmp }, 20_000);
    // Progress from the store's event counter: listing a spool of 20,000 files every poll would take a
    // good part of a core away from the collector being measured.
    const counter = storedEventCounter(paths);
    const { stored } = counter;
    const before = stored();
    const t0 = performance.now();
    for (const f of readdirSync(paths.spoolTmp)) renameSync(join(paths.spoolTmp, f), join(paths.spoolNew, f));
    const end = Date.now() + 120_000;
    while (stored() - before < 20_000 && Date.now() < end) await sleep(20);
    const drainSec = (performance.now() - t0) / 1000;
    counter.close();
    const busy = rssOf(pid);
    const settled = await watch(pid, settleMs);
    // The Overview of the last 30 days, which reads the dashboard's column index.
    const dashboard = (JSON.parse(readFileSync(join(paths.run, 'dashboard.json'), 'utf8')) as { url: string })
      .url;
    const now = Date.now();
    const a = performance.now();
    const res = await fetch(
      `${dashboard}/api/dashboard/overview?start=${now - 30 * 86_400_000}&end=${now}&step=3600000`,
    );
    if (!res.ok) throw new Error(`overview: ${res.status}`);
    await res.arrayBuffer();
    const overviewMs = Math.round(performance.now() - a);
    const withIndex = await watch(pid, 5_000);
    return {
      storedEvents: total,
      buildEventsPerSec: Math.round(total / buildSec),
      timelineMs: stats(lat.slice(10)),
      timelineEvents: perSession,
      collectorRss: {
        idleMB: idle.rssMB,
        afterIngest20kMB: busy.rssMB,
        settledMB: settled.rssMB,
        // Of which files mapped in (the node binary, shared libraries): the rest is the heaps.
        settledFileMB: settled.fileMB,
        peakMB: settled.peakMB,
        ingest20kSec: Math.round(drainSec * 10) / 10,
        dashboardOverview30dMs: overviewMs,
        withDashboardIndexMB: withIndex.rssMB,
      },
    };
  } finally {
    await stopCollector(paths);
    rmSync(paths.home, { recursive: true, force: true });
  }
}
