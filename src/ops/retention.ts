/**
 * Retention: applies the `retention:` limits of config.yaml to each kind of data.
 *
 * - events: store rows older than the age limit, then the oldest rows until the store is under its size
 *   limit, are deleted; session summaries and per-minute rollups stay. The file is then compacted
 *   (incremental vacuum, after one full VACUUM that switches an older store to incremental).
 * - audit: never deleted. Day files past a limit are archived whole (src/audit/archive.ts) when a signed
 *   checkpoint covers them, they are not the file being written, and every forwarding sink has sent them.
 * - quarantine: inputs (with their reason files) past the age limit, then the oldest over the size limit.
 * - logs: collector.log is rotated into logs/collector-<time>.log.gz when it grows past half the size
 *   limit; rotations past the age limit, then the oldest over the size limit, are removed.
 *
 * `dryRun` reports the same actions without changing anything.
 */
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { archiveDayFile } from '../audit/archive.ts';
import { asCheckpointRecord, CHECKPOINT_FILE, checkCheckpoint } from '../audit/checkpoint.ts';
import { listDayFiles, loadPublicKey, verifyAudit } from '../audit/index.ts';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { readCursor, sinksDir } from '../sinks/index.ts';
import { Store } from '../store/index.ts';
import { completePrefix } from './backup.ts';
import { acquireMaintenanceLock } from './lock.ts';
import type { RetentionConfig, RetentionKind, RetentionLimit } from './retention-config.ts';

export const DAY_MS = 86_400_000;
const MB = 1024 * 1024;
const DELETE_CHUNK = 5000;

export interface CleanupAction {
  kind: RetentionKind;
  /** What was (or, on a dry run, would be) done, in words. */
  action: string;
  /** Items concerned: rows, files. */
  count: number;
  /** Bytes freed or moved (an estimate for store rows). */
  bytes: number;
}

export interface CleanupReport {
  dryRun: boolean;
  actions: CleanupAction[];
  /** Limits that could not be applied fully, and why (e.g. an audit day file not yet checkpointed). */
  notes: string[];
  ms: number;
}

export interface CleanupOptions {
  dryRun?: boolean;
  now?: number;
  /** The collector's open store; otherwise the store file is opened for the run. */
  store?: Store;
  /** Allow the one-time full VACUUM (default true; the collector passes false to stay responsive). */
  allowFullVacuum?: boolean;
}

const ageCutoff = (limit: RetentionLimit, now: number) =>
  limit.maxAgeDays === null ? null : now - limit.maxAgeDays * DAY_MS;
const sizeLimit = (limit: RetentionLimit) => (limit.maxSizeMb === null ? null : limit.maxSizeMb * MB);

// ---------------------------------------------------------------------------------------------------------
// events

function cleanEvents(
  store: Store,
  limit: RetentionLimit,
  o: Required<Omit<CleanupOptions, 'store'>>,
): CleanupAction[] {
  const actions: CleanupAction[] = [];
  const cutoff = ageCutoff(limit, o.now);
  const bytesPerRow = () => {
    const u = store.spaceUsage();
    const n = store.stats().events;
    return n > 0 ? (u.fileBytes - u.freeBytes) / n : 0;
  };
  if (cutoff !== null) {
    const n = store.countExport({ until: cutoff });
    if (n > 0) {
      const per = bytesPerRow();
      if (!o.dryRun) while (store.deleteEventsBefore(cutoff, DELETE_CHUNK) > 0) {}
      actions.push({
        kind: 'events',
        action: `deleted ${n} events older than ${new Date(cutoff).toISOString()}`,
        count: n,
        bytes: Math.round(n * per),
      });
    }
  }
  const max = sizeLimit(limit);
  if (max !== null) {
    const u = store.spaceUsage();
    const used = u.fileBytes - u.freeBytes;
    if (used > max) {
      const per = bytesPerRow();
      let n = 0;
      if (o.dryRun) {
        n = Math.min(store.stats().events, Math.ceil((used - max) / Math.max(per, 1)));
      } else {
        for (;;) {
          const s = store.spaceUsage();
          if (s.fileBytes - s.freeBytes <= max) break;
          const d = store.deleteEventsBefore(Number.MAX_SAFE_INTEGER, DELETE_CHUNK);
          if (d === 0) break;
          n += d;
        }
      }
      if (n > 0) {
        const until = o.dryRun ? store.eventTimeAt(n) : null;
        actions.push({
          kind: 'events',
          action: `deleted the ${n} oldest events to bring the store under ${limit.maxSizeMb} MB${until !== null ? ` (those before ${new Date(until).toISOString()})` : ''}`,
          count: n,
          bytes: Math.round(n * per),
        });
      }
    }
  }
  if (!o.dryRun && actions.length > 0) {
    const c = store.compact(o.allowFullVacuum);
    if (c.mode !== 'none') {
      actions.push({
        kind: 'events',
        action: `compacted the store (${c.mode === 'full' ? 'VACUUM, now incremental' : 'incremental vacuum'})`,
        count: 0,
        bytes: c.freedBytes,
      });
    }
  }
  return actions;
}

// ---------------------------------------------------------------------------------------------------------
// audit

/** Seq of the last entry of a day file (its last complete line). */
function lastSeqOf(file: string): number | null {
  const { lastLine } = completePrefix(file);
  if (lastLine === null) return null;
  return (JSON.parse(lastLine) as { seq: number }).seq;
}

/** Size covered by the last checkpoint whose signature verifies with the pinned key (0 if none). */
function signedSize(paths: DataPaths): number {
  const key = loadPublicKey(paths.keys);
  const file = join(paths.audit, CHECKPOINT_FILE);
  if (!key || !existsSync(file)) return 0;
  const { lastLine } = completePrefix(file);
  if (lastLine === null) return 0;
  let rec: ReturnType<typeof asCheckpointRecord>;
  try {
    rec = asCheckpointRecord(JSON.parse(lastLine));
  } catch {
    return 0;
  }
  // Its link to the previous checkpoint is verify's business; here only its own signature counts.
  if (!rec) return 0;
  const p = checkCheckpoint(rec, null, key);
  return p === null || p.kind === 'checkpoint-chain' ? rec.size : 0;
}

/** Lowest seq every configured sink has sent (Infinity without sinks). */
async function sinksSentUpTo(paths: DataPaths, config: Pick<Config, 'sinks'>): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (const s of config.sinks)
    min = Math.min(min, await readCursor(join(sinksDir(paths), `${s.name}.cursor`)));
  return min;
}

async function cleanAudit(
  paths: DataPaths,
  config: Pick<Config, 'sinks'>,
  limit: RetentionLimit,
  o: Required<Omit<CleanupOptions, 'store'>>,
  notes: string[],
): Promise<CleanupAction[]> {
  const cutoff = ageCutoff(limit, o.now);
  const max = sizeLimit(limit);
  if (cutoff === null && max === null) return [];
  const files = listDayFiles(paths.audit);
  const candidates = files.slice(0, -1); // never the file being written
  const sizes = new Map(files.map((f) => [f, statSync(join(paths.audit, f)).size]));
  let total = files.reduce((n, f) => n + (sizes.get(f) ?? 0), 0);
  const chosen: string[] = [];
  for (const f of candidates) {
    const day = Date.parse(`${f.slice(0, 10)}T00:00:00Z`);
    const old = cutoff !== null && day + DAY_MS <= cutoff;
    const big = max !== null && total > max;
    if (!old && !big) break; // oldest first: once one file may stay, the newer ones may too
    chosen.push(f);
    total -= sizes.get(f) ?? 0;
  }
  if (chosen.length === 0) return [];

  const signed = signedSize(paths);
  const sent = await sinksSentUpTo(paths, config);
  const movable: string[] = [];
  for (const f of chosen) {
    const last = lastSeqOf(join(paths.audit, f)) ?? 0;
    if (last > signed) {
      notes.push(`audit: ${f} is not yet covered by a signed checkpoint; it is archived on a later run`);
      break;
    }
    if (last > sent) {
      notes.push(`audit: ${f} is not yet sent by every forwarding sink; it is archived once they catch up`);
      break;
    }
    movable.push(f);
  }
  if (movable.length === 0) return [];
  if (!o.dryRun) {
    // Archiving links each segment to the previous one: refuse to build on a log that does not verify.
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys, archives: 'records' });
    if (!v.ok) {
      notes.push(
        `audit: not archived, the log does not verify (${v.firstError?.message}); run: claude-telemetry verify`,
      );
      return [];
    }
    for (const f of movable)
      await archiveDayFile(paths.audit, f, { keysDir: paths.keys, now: () => new Date(o.now) });
  }
  const bytes = movable.reduce((n, f) => n + (sizes.get(f) ?? 0), 0);
  return [
    {
      kind: 'audit',
      action: `archived ${movable.length} audit day file(s) (${movable[0]}${movable.length > 1 ? ` .. ${movable.at(-1)}` : ''}) into audit/archive/`,
      count: movable.length,
      bytes,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// quarantine and logs: files removed by age, then oldest first by size

interface Item {
  files: string[];
  bytes: number;
  mtimeMs: number;
}

function pruneItems(
  kind: RetentionKind,
  items: Item[],
  limit: RetentionLimit,
  o: Required<Omit<CleanupOptions, 'store'>>,
  what: string,
): CleanupAction[] {
  const cutoff = ageCutoff(limit, o.now);
  const max = sizeLimit(limit);
  items.sort((a, b) => a.mtimeMs - b.mtimeMs);
  let total = items.reduce((n, i) => n + i.bytes, 0);
  const byAge: Item[] = [];
  const bySize: Item[] = [];
  for (const it of items) {
    if (cutoff !== null && it.mtimeMs < cutoff) byAge.push(it);
    else if (max !== null && total > max) bySize.push(it);
    else continue;
    total -= it.bytes;
  }
  const actions: CleanupAction[] = [];
  const apply = (list: Item[], why: string) => {
    if (list.length === 0) return;
    if (!o.dryRun) for (const it of list) for (const f of it.files) rmSync(f, { force: true });
    actions.push({
      kind,
      action: `removed ${list.length} ${what} ${why}`,
      count: list.length,
      bytes: list.reduce((n, i) => n + i.bytes, 0),
    });
  };
  apply(byAge, `older than ${limit.maxAgeDays} days`);
  apply(bySize, `to stay under ${limit.maxSizeMb} MB`);
  return actions;
}

const REASON_SUFFIX = '.reason.json';

function quarantineItems(paths: DataPaths): Item[] {
  if (!existsSync(paths.quarantine)) return [];
  const items: Item[] = [];
  for (const name of readdirSync(paths.quarantine)) {
    if (name.startsWith('.') || name.endsWith(REASON_SUFFIX)) continue;
    const file = join(paths.quarantine, name);
    const reason = `${file}${REASON_SUFFIX}`;
    const st = statSync(file);
    const rs = existsSync(reason) ? statSync(reason).size : 0;
    items.push({ files: [file, reason], bytes: st.size + rs, mtimeMs: st.mtimeMs });
  }
  return items;
}

const ROTATED_RE = /^collector-.+\.log\.gz$/;

async function cleanLogs(
  paths: DataPaths,
  limit: RetentionLimit,
  o: Required<Omit<CleanupOptions, 'store'>>,
): Promise<CleanupAction[]> {
  const actions: CleanupAction[] = [];
  const max = sizeLimit(limit);
  if (max !== null && existsSync(paths.logFile)) {
    const size = statSync(paths.logFile).size;
    if (size > max / 2) {
      if (!o.dryRun) {
        const stamp = new Date(o.now).toISOString().replace(/[:.]/g, '-');
        const rotated = join(paths.logs, `collector-${stamp}.log.gz`);
        // The collector appends (O_APPEND): after the copy, truncating lets it carry on at the new end.
        await pipeline(
          createReadStream(paths.logFile, { end: size - 1 }),
          createGzip(),
          createWriteStream(rotated, { mode: 0o600 }),
        );
        truncateSync(paths.logFile, 0);
      }
      actions.push({ kind: 'logs', action: 'rotated collector.log (compressed)', count: 1, bytes: size });
    }
  }
  const rotated = existsSync(paths.logs)
    ? readdirSync(paths.logs)
        .filter((n) => ROTATED_RE.test(n))
        .map((n) => {
          const f = join(paths.logs, n);
          const st = statSync(f);
          return { files: [f], bytes: st.size, mtimeMs: st.mtimeMs };
        })
    : [];
  actions.push(...pruneItems('logs', rotated, limit, o, 'rotated log file(s)'));
  return actions;
}

// ---------------------------------------------------------------------------------------------------------

/** Applies every retention limit once. Takes the maintenance lock (one backup/restore/cleanup at a time). */
export async function runCleanup(
  paths: DataPaths,
  config: Pick<Config, 'retention' | 'sinks'>,
  opts: CleanupOptions = {},
): Promise<CleanupReport> {
  const started = Date.now();
  const o = {
    dryRun: opts.dryRun ?? false,
    now: opts.now ?? Date.now(),
    allowFullVacuum: opts.allowFullVacuum ?? true,
  };
  const r: RetentionConfig = config.retention;
  const release = acquireMaintenanceLock(paths, 'cleanup');
  const actions: CleanupAction[] = [];
  const notes: string[] = [];
  try {
    const hasEventLimit = r.events.maxAgeDays !== null || r.events.maxSizeMb !== null;
    if (hasEventLimit && (opts.store || existsSync(paths.storeFile))) {
      const store = opts.store ?? Store.open(paths.storeFile);
      try {
        actions.push(...cleanEvents(store, r.events, o));
      } finally {
        if (!opts.store) store.close();
      }
    }
    actions.push(...(await cleanAudit(paths, config, r.audit, o, notes)));
    actions.push(
      ...pruneItems('quarantine', quarantineItems(paths), r.quarantine, o, 'quarantined input(s)'),
    );
    actions.push(...(await cleanLogs(paths, r.logs, o)));
  } finally {
    release();
  }
  return { dryRun: o.dryRun, actions, notes, ms: Date.now() - started };
}

export interface DailyCleanup {
  stop(): void;
}

/**
 * Runs `runCleanup` in the collector: first after `firstAfterMs` (default 10 minutes, so start-up is not
 * slowed), then every 24 hours. Uses the collector's store connection, skips the one-time full VACUUM, and
 * logs what it did; a run that fails or finds another maintenance job busy is logged and retried next time.
 */
export function startDailyCleanup(ctx: {
  paths: DataPaths;
  config: Pick<Config, 'retention' | 'sinks'>;
  store: Store;
  log: (msg: string) => void;
  firstAfterMs?: number;
}): DailyCleanup {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const rep = await runCleanup(ctx.paths, ctx.config, { store: ctx.store, allowFullVacuum: false });
      for (const a of rep.actions) ctx.log(`retention: ${a.action}`);
      for (const n of rep.notes) ctx.log(`retention: ${n}`);
    } catch (err) {
      ctx.log(`retention run failed (retried tomorrow): ${(err as Error).message}`);
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void run(), ctx.firstAfterMs ?? 10 * 60_000);
  const daily = setInterval(() => void run(), DAY_MS);
  first.unref();
  daily.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(daily);
    },
  };
}
