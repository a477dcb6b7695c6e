/**
 * The dashboard benchmark's data dir: `total` events of realistic sessions (the analytics benchmark's working
 * styles and misbehaviour, run through the real normalizer and security engine) spread over the last 30 days,
 * written through the audit log and the store as the collector writes them, with the analytics model trained
 * on them and every session scored (the analytics command). Built once and kept under BENCH_DATA_DIR (default bench/results/data/) with the time it was built;
 * a run re-uses it and shifts nothing, so ranges are read relative to the build time (`builtAt`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { retrain } from '../src/analytics/analyze.ts';
import { AuditLog } from '../src/audit/index.ts';
import { installHook } from '../src/capture/install.ts';
import { storeRowOf } from '../src/collector/audit-to-store.ts';
import { type DataPaths, dataPaths } from '../src/config/paths.ts';
import { Store } from '../src/store/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import { CLI, REPO } from '../test/helpers.ts';
import { BENCH_SEED, generateSessions } from './analytics-data.ts';

const DAY = 86_400_000;
const SPAN_DAYS = 30;
/** Sessions generated per call (bounded memory); each call gets its own seed. */
const CHUNK = 400;

export interface DashboardData {
  paths: DataPaths;
  events: number;
  sessions: number;
  /** ms: the data ends shortly before this time. */
  builtAt: number;
  buildSec: number;
  reused: boolean;
}

interface Manifest {
  events: number;
  sessions: number;
  builtAt: number;
  buildSec: number;
}

/** Moves a session's events so that it starts at `start` (ms), keeping the gaps between them. */
function shift(events: TelemetryEvent[], start: number): void {
  const first = Date.parse(events[0]?.timestamp ?? '') || start;
  for (const e of events) e.timestamp = new Date(Date.parse(e.timestamp) - first + start).toISOString();
}

async function build(home: string, total: number): Promise<Manifest> {
  const paths = dataPaths(home);
  mkdirSync(home, { recursive: true });
  installHook(paths);
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys, checkpointEvery: 100_000 });
  const store = Store.open(paths.storeFile);
  const t0 = performance.now();
  const builtAt = Date.now();
  // Sessions start in proportion to the events written so far, so that the last ends shortly before now.
  const spread = SPAN_DAYS * DAY - 3 * 3_600_000;
  let events = 0;
  let sessions = 0;
  for (let chunk = 0; events < total; chunk++) {
    const batch = await generateSessions({
      seed: BENCH_SEED + chunk,
      normal: CHUNK - 6,
      perMisbehaviour: 1,
      home,
    });
    const rows: TelemetryEvent[] = [];
    for (const s of batch) {
      if (events >= total) break;
      const take = s.events.slice(0, total - events);
      shift(take, builtAt - SPAN_DAYS * DAY + (events / total) * spread);
      rows.push(...take);
      events += take.length;
      sessions++;
    }
    rows.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    for (let i = 0; i < rows.length; i += 1000) {
      const entries = audit.append(rows.slice(i, i + 1000));
      store.insertBatch(entries.map(storeRowOf));
    }
    process.stderr.write(`bench: dashboard data ${events} / ${total} events\r`);
  }
  process.stderr.write('\n');
  audit.checkpoint();
  audit.close();
  retrain(store, home);
  store.close();
  // Every session scored once, as the analytics command does, so the Analytics view has its scores file.
  const scored = spawnSync(
    process.execPath,
    [CLI, 'analytics', '--since', `${SPAN_DAYS + 1}d`, '--limit', '1000000', '--no-alerts', '--json'],
    { env: { ...process.env, CLAUDE_TELEMETRY_HOME: home }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (scored.status !== 0) throw new Error(`analytics exited with ${scored.status}`);
  return { events, sessions, builtAt, buildSec: Math.round(performance.now() - t0) / 1000 };
}

export async function dashboardData(total = 1_000_000): Promise<DashboardData> {
  const root = process.env.BENCH_DATA_DIR ?? join(REPO, 'bench', 'results', 'data');
  const home = join(root, `dashboard-${total}`);
  const manifestFile = join(home, 'bench-manifest.json');
  if (existsSync(manifestFile)) {
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    return { paths: dataPaths(home), ...m, reused: true };
  }
  // A dir without its manifest is an interrupted build.
  rmSync(home, { recursive: true, force: true });
  const m = await build(home, total);
  writeFileSync(manifestFile, `${JSON.stringify(m)}\n`);
  return { paths: dataPaths(home), ...m, reused: false };
}
