import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AuditLog } from '../src/audit/index.ts';
import { installHook } from '../src/capture/install.ts';
import { storeRowOf } from '../src/collector/audit-to-store.ts';
import { startBackground, stopCollector } from '../src/collector/control.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { normalize } from '../src/ingest/index.ts';
import { Store } from '../src/store/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import { spoolCount } from '../test/helpers.ts';
import { fixturePayloads, stats, tempHome, writeSpool } from './util.ts';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function rssOf(pid: number): { rssMB: number; peakMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), peakMB: Math.round(kb('VmHWM') / 1024) };
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

/**
 * A store of `total` events (sessions of 1,000) built through the audit log and the store as the collector
 * does; then a session's timeline is read, and the real collector's memory is measured while it ingests
 * 20,000 more events into it.
 */
export async function runScaleBench(
  total = Number(process.env.BENCH_SCALE_TOTAL ?? 1_000_000),
  perSession = 1_000,
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
  store.close();

  // The real collector on this 1M-event data dir, ingesting 20,000 more.
  const pid = await startBackground(paths, CLI);
  const idle = rssOf(pid);
  writeSpool(paths, 20_000);
  const end = Date.now() + 120_000;
  while (spoolCount(paths) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const busy = rssOf(pid);
  await stopCollector(paths);
  rmSync(paths.home, { recursive: true, force: true });
  return {
    storedEvents: total,
    buildEventsPerSec: Math.round(total / buildSec),
    timelineMs: stats(lat.slice(10)),
    timelineEvents: perSession,
    collectorRss: { idleMB: idle.rssMB, afterIngest20kMB: busy.rssMB, peakMB: busy.peakMB },
  };
}
