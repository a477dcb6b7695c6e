/**
 * The dashboard's two views that LogQL cannot express, under /api/dashboard/:
 *
 * - `GET /api/dashboard/system`: the collector's own state (pid, uptime, counters, spool backlog, quarantine,
 *   store and audit sizes, sinks), which is not in any log line.
 * - `GET /api/dashboard/sessions?start=&end=&project=&limit=`: per-session summaries (first and last event
 *   time, counts) kept by the store on insert; a metric query can only approximate start and end to a step.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as spool from '../capture/spool.ts';
import { readStatusFile, runningPid } from '../collector/control.ts';
import type { DataPaths } from '../config/paths.ts';
import type { Store } from '../store/index.ts';
import { type Router, sendJson } from './http.ts';
import { HttpError } from './http-errors.ts';

export interface DashboardApiContext {
  store: Store;
  paths: DataPaths;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function dirSummary(dir: string, suffix: string): { files: number; bytes: number } {
  if (!existsSync(dir)) return { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(suffix)) continue;
    files++;
    bytes += fileSize(join(dir, name));
  }
  return { files, bytes };
}

/** Signed checkpoints and the time of the last one (the file holds one short line per checkpoint). */
function checkpoints(auditDir: string): { count: number; last?: string } {
  const file = join(auditDir, 'checkpoints.jsonl');
  if (!existsSync(file)) return { count: 0 };
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  let last: string | undefined;
  try {
    const rec = JSON.parse(lines.at(-1) ?? '{}') as { ts?: string; time?: string };
    last = rec.ts ?? rec.time;
  } catch {
    last = undefined;
  }
  return { count: lines.length, ...(last ? { last } : {}) };
}

export function systemReport(ctx: DashboardApiContext) {
  const { paths, store } = ctx;
  const pid = runningPid(paths);
  const status = readStatusFile(paths);
  const stats = store.stats();
  const storeBytes =
    fileSize(paths.storeFile) + fileSize(`${paths.storeFile}-wal`) + fileSize(`${paths.storeFile}-shm`);
  const audit = dirSummary(paths.audit, '.jsonl');
  return {
    now: new Date().toISOString(),
    collector: {
      running: pid !== undefined,
      pid: pid ?? null,
      version: status?.version ?? null,
      startedAt: status?.startedAt ?? null,
      updatedAt: status?.updatedAt ?? null,
      uptimeSeconds: status?.startedAt
        ? Math.round((Date.now() - Date.parse(status.startedAt)) / 1000)
        : null,
      stored: status?.stored ?? 0,
      duplicates: status?.duplicates ?? 0,
      batches: status?.batches ?? 0,
      api: status?.api?.url ?? null,
    },
    spool: { backlog: spool.backlog(paths), quarantined: spool.quarantineCount(paths) },
    store: {
      events: stats.events,
      sessions: stats.sessions,
      firstEventTs: stats.firstEventTs,
      lastEventTs: stats.lastEventTs,
      bytes: storeBytes,
    },
    audit: {
      entries: stats.maxAuditSeq,
      files: audit.files,
      bytes: audit.bytes,
      checkpoints: checkpoints(paths.audit),
    },
    sinks: status?.sinks ?? [],
  };
}

function msParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new HttpError(400, `${name} must be milliseconds since the epoch`);
  return n;
}

export function dashboardApiRoutes(router: Router, ctx: DashboardApiContext): Router {
  return router
    .on('GET', '/api/dashboard/system', ({ req, res }) => sendJson(req, res, systemReport(ctx)))
    .on('GET', '/api/dashboard/sessions', ({ req, res, url }) => {
      const start = msParam(url, 'start');
      const end = msParam(url, 'end');
      const limit = Math.min(msParam(url, 'limit') ?? 500, 5000);
      const project = url.searchParams.get('project') || undefined;
      const rows = ctx.store
        .sessions({
          ...(project ? { project } : {}),
          ...(start !== undefined ? { since: start } : {}),
          limit,
        })
        .filter((s) => end === undefined || s.first_ts <= end);
      return sendJson(req, res, { sessions: rows });
    });
}
