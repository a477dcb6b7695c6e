import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ObservedAccess } from '../agents/conflicts.ts';
import { AgentIngest } from '../agents/ingest.ts';
import type { AuditEntry, AuditLog } from '../audit/index.ts';
import { isOptedOut } from '../capture/settings.ts';
import * as spool from '../capture/spool.ts';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { IngestDetection } from '../detect/ingest.ts';
import { type NormalizeContext, normalize, redactString, ScopeCache } from '../ingest/index.ts';
import type { EventRowValues, InsertResult, Store } from '../store/index.ts';
import { QuarantineError, type SpoolRecord, type TelemetryEvent } from '../types.ts';
import { copyAuditToStore, rowValuesOfEntry, storeRowOf } from './audit-to-store.ts';
import { ClaudeVersionLookup } from './claude-version.ts';
import { type ReadResult, readSync } from './io.ts';

export const TELEMETRY_VERSION = '0.1.0';

/**
 * Where ingestReadVia puts a batch's store rows: handed over part by part while the batch is built, inserted
 * in one transaction once it is in the audit log, or forgotten when it never gets there.
 */
export interface RowSink {
  stage(rows: EventRowValues[]): void;
  commit(): Promise<InsertResult>;
  drop(): void;
}

/** Records normalized, audited and turned into rows together within a batch (see ingestReadVia). */
const PART = 100;

export interface BatchResult {
  /** Spool files looked at. */
  files: number;
  /** New events committed to audit + store. */
  stored: number;
  /** Events already in the store (a spool file re-read after a crash). */
  duplicates: number;
  quarantined: number;
  /** Dropped because the project opted out of global capture. */
  optedOut: number;
  lastEventTs?: number;
}

function emptyResult(files: number): BatchResult {
  return { files, stored: 0, duplicates: 0, quarantined: 0, optedOut: 0 };
}

interface AfterStore {
  agents: ReturnType<AgentIngest['pendingOf']>;
  lastEventTs?: number;
}

/** What the second half needs of a batch: its file accesses, and the time of its last event if any. */
function afterStoreOf(agents: AfterStore['agents'], lastTimestamp: string | undefined): AfterStore {
  return { agents, ...(lastTimestamp !== undefined ? { lastEventTs: Date.parse(lastTimestamp) } : {}) };
}

export interface PipelineCounters {
  stored: number;
  duplicates: number;
  quarantined: number;
  optedOut: number;
  batches: number;
  lastEventTs?: number;
}

/**
 * One ingest pass over spool files: parse -> normalize (scope, privacy, redaction) -> dedupe ->
 * audit append+fsync -> store commit -> delete spool files. The order makes every crash point safe:
 * files are deleted only after both sinks hold their events, and events the audit already has are
 * never appended twice (recover() moves them into the store first).
 */
export class Pipeline {
  readonly counters: PipelineCounters = { stored: 0, duplicates: 0, quarantined: 0, optedOut: 0, batches: 0 };
  private readonly ctx: NormalizeContext;

  constructor(
    private readonly paths: DataPaths,
    private readonly config: Config,
    audit: AuditLog,
    private readonly store: Store,
    log: (msg: string) => void = () => {},
  ) {
    this.log = log;
    this.auditLog = audit;
    this.detection = new IngestDetection(paths.home, log);
    const versions = new ClaudeVersionLookup();
    this.ctx = {
      user: safeUser(),
      host: hostname(),
      telemetryVersion: TELEMETRY_VERSION,
      capture: config.capture,
      claudeVersion: versions.lookup,
      scopeCache: new ScopeCache(),
    };
    this.agents = new AgentIngest(paths.home, this.ctx, log);
  }

  private readonly log: (msg: string) => void;
  private auditLog: AuditLog;
  /** Security rules judged on every event (src/detect). */
  readonly detection: IngestDetection;
  /** Agent fields on events (registry) and file conflicts between agents as alerts (src/agents). */
  readonly agents: AgentIngest;

  get audit(): AuditLog {
    return this.auditLog;
  }

  /**
   * After a failed batch (disk full, I/O error): reopen the audit log (which cuts a partial batch off and
   * refuses appends until reopened) and move into the store whatever reached the log but not the store,
   * so the retried spool files are recognised as stored instead of being appended a second time.
   */
  async heal(reopen: () => AuditLog): Promise<void> {
    try {
      this.auditLog.close();
    } catch {
      // already unusable
    }
    this.auditLog = reopen();
    await this.recover();
  }

  /** Audit entries that a crash left out of the store are inserted now. Returns how many. */
  async recover(): Promise<number> {
    await this.detection.ready();
    const from = this.store.maxAuditSeq() + 1;
    // The usual case: the store already holds everything the log has; don't read the log at all.
    if (from > this.audit.size) return 0;
    const inserted = await copyAuditToStore(this.store, this.audit.readFrom(from));
    if (inserted > 0) this.log(`recovered ${inserted} audit entries into the store`);
    return inserted;
  }

  /** Ingests up to `batchSize` ready spool files, reading and removing them on this thread. */
  runBatch(names: string[]): BatchResult {
    const { res, done } = this.ingestRead(names.length, readSync(this.paths, names, this.maxBytes));
    spool.remove(this.paths, done);
    return res;
  }

  get maxBytes(): number {
    return this.config.ingest.maxPayloadBytes;
  }

  /**
   * Everything after reading a batch of spool files: quarantine the unreadable ones, normalize, commit.
   * Returns the names that may now be removed from the spool (committed, duplicates, opted out).
   */
  ingestRead(files: number, read: ReadResult): { res: BatchResult; done: string[] } {
    const res = emptyResult(files);
    const done: string[] = [];
    if (files === 0) return { res, done };
    this.commit(this.prepare(read, res, done), res);
    this.count(res);
    return { res, done };
  }

  /** Quarantines the unreadable files, then normalizes and judges the rest; fills `done` as it goes. */
  private prepare(read: ReadResult, res: BatchResult, done: string[]): TelemetryEvent[] {
    return this.judge(this.sorted(read, res), res, done);
  }

  /** The readable records in event order, once the unreadable ones are quarantined. */
  private sorted(read: ReadResult, res: BatchResult): SpoolRecord[] {
    for (const f of read.failures) this.quarantine(f.name, f.err, res);
    // Symlinks and git roots may change between batches; within one batch one answer per path is enough.
    this.ctx.scopeCache?.clear();
    return spool.sortRecords(read.records);
  }

  /** Normalizes and judges records in order: the events to keep; `done` gets every name handled. */
  private judge(records: readonly SpoolRecord[], res: BatchResult, done: string[]): TelemetryEvent[] {
    const events: TelemetryEvent[] = [];
    for (const rec of records) {
      let ev: TelemetryEvent;
      try {
        ev = normalize(rec, this.ctx);
      } catch (err) {
        this.quarantine(rec.name, err, res);
        continue;
      }
      done.push(rec.name);
      if (this.optedOut(rec, ev)) {
        res.optedOut++;
        continue;
      }
      this.detection.apply(ev, rec);
      events.push(ev);
    }
    return events;
  }

  /**
   * ingestRead with the store insert handed to `insert` (the spool I/O worker), so this thread can go on
   * normalizing the next batch while SQLite writes this one. Everything up to the audit append (fsync) runs
   * now, on this thread and in batch order; `insert` must apply batches in the order it is called. The
   * returned promise settles once the batch is in the store: only then may its spool files be removed.
   */
  ingestReadVia(
    files: number,
    read: ReadResult,
    sink: RowSink,
  ): Promise<{ res: BatchResult; done: string[] }> {
    const res = emptyResult(files);
    const done: string[] = [];
    if (files === 0) return Promise.resolve({ res, done });
    const records = this.sorted(read, res);
    // In parts: each part's events become audit lines (appended at once, synced with the batch), store rows
    // and a conflict summary, and are let go before the next part is normalized. Held for the whole batch,
    // they outlived young-generation collections and were copied into the old generation.
    const batch = this.audit.batch();
    const seen = new Set<string>();
    const accesses: ObservedAccess[] = [];
    let staged = 0;
    let lastTimestamp: string | undefined;
    try {
      for (let i = 0; i < records.length; i += PART) {
        const fresh = this.freshOf(this.judge(records.slice(i, i + PART), res, done), seen, res);
        if (fresh.length === 0) continue;
        // Handed over at once: the rows cross to the I/O worker now, and are inserted once the batch is
        // in the audit log (sink.commit below).
        sink.stage(batch.add(fresh).map(rowValuesOfEntry));
        staged += fresh.length;
        for (const o of this.agents.pendingOf(fresh)) accesses.push(o);
        lastTimestamp = (fresh[fresh.length - 1] as TelemetryEvent).timestamp;
      }
      // Nothing staged: the batch wrote nothing, and writing it only closes it.
      batch.write();
      if (staged === 0) {
        this.count(res);
        return Promise.resolve({ res, done });
      }
    } catch (err) {
      // What the batch appended to the audit log is cut off again, and the worker forgets its rows.
      batch.drop();
      sink.drop();
      throw err;
    }
    const after = afterStoreOf(accesses, lastTimestamp);
    return sink.commit().then((r) => {
      this.finish(after, r, res);
      this.count(res);
      return { res, done };
    });
  }

  /**
   * Commits already-normalized events (the push API, replays): audit append+fsync, then store. Idempotent
   * by event id, within the call and against the store.
   */
  ingestEvents(events: readonly TelemetryEvent[]): BatchResult {
    const res = emptyResult(0);
    this.commit(events, res);
    this.count(res);
    return res;
  }

  private commit(events: readonly TelemetryEvent[], res: BatchResult): void {
    const staged = this.stage(events, res);
    if (!staged) return;
    const { fresh, entries } = staged;
    const after = afterStoreOf(this.agents.pendingOf(fresh), fresh[fresh.length - 1]?.timestamp);
    this.finish(after, this.store.insertBatch(entries.map(storeRowOf)), res);
  }

  /**
   * The first half of a commit: drop duplicates (within the batch and against the store), append the rest
   * to the audit log (fsync'd on return). Undefined when nothing is new.
   */
  private stage(
    events: readonly TelemetryEvent[],
    res: BatchResult,
  ): { fresh: TelemetryEvent[]; entries: AuditEntry[] } | undefined {
    const fresh = this.freshOf(events, new Set(), res);
    if (fresh.length === 0) return undefined;
    return { fresh, entries: this.audit.append(fresh) };
  }

  /** The events neither `seen` earlier in the batch nor already in the store; the rest count as duplicates. */
  private freshOf(events: readonly TelemetryEvent[], seen: Set<string>, res: BatchResult): TelemetryEvent[] {
    const unique: TelemetryEvent[] = [];
    for (const ev of events) {
      if (seen.has(ev.id)) res.duplicates++;
      else {
        seen.add(ev.id);
        unique.push(ev);
      }
    }
    if (unique.length === 0) return unique;
    const known = this.store.existingIds(unique.map((e) => e.id));
    const fresh = known.size === 0 ? unique : unique.filter((e) => !known.has(e.id));
    res.duplicates += unique.length - fresh.length;
    return fresh;
  }

  /** The second half, once the store holds the batch. */
  private finish(after: AfterStore, r: InsertResult, res: BatchResult): void {
    res.stored = r.inserted;
    res.duplicates += r.duplicates;
    this.agents.stored(after.agents);
    if (after.lastEventTs !== undefined) res.lastEventTs = after.lastEventTs;
  }

  private optedOut(rec: SpoolRecord, ev: TelemetryEvent): boolean {
    // Per-project opt-out only applies to hooks registered globally.
    if (rec.scope !== 'global') return false;
    return isOptedOut(this.paths, ev.project_path);
  }

  private quarantine(name: string, err: unknown, res: BatchResult): void {
    let reason = redactString(
      err instanceof QuarantineError
        ? err.reason
        : `unexpected error: ${(err as Error)?.message ?? String(err)}`,
    );
    try {
      const scrubbed = scrubSecrets(
        join(this.paths.spoolNew, name),
        join(this.paths.spoolTmp, `${name}.scrub`),
        this.config.ingest.maxPayloadBytes,
      );
      if (scrubbed.length > 0) reason += ` (secrets removed from the kept copy: ${scrubbed.join(', ')})`;
      spool.quarantine(this.paths, name, reason);
      res.quarantined++;
      this.log(`quarantined ${name}: ${reason}`);
    } catch (qerr) {
      this.log(`could not quarantine ${name}: ${(qerr as Error).message}`);
    }
  }

  private count(res: BatchResult): void {
    const c = this.counters;
    c.batches++;
    c.stored += res.stored;
    c.duplicates += res.duplicates;
    c.quarantined += res.quarantined;
    c.optedOut += res.optedOut;
    if (res.lastEventTs !== undefined) c.lastEventTs = res.lastEventTs;
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** Chunk size for scrubbing: under the redactor's per-field bound, cut at whitespace. */
const SCRUB_CHUNK = 48 * 1024;

/**
 * Quarantined inputs are kept for inspection, but never with secrets in them: the file's bytes are read as
 * latin1 (one char per byte, so the bytes round-trip exactly), secrets are replaced like everywhere else,
 * and the file is rewritten when anything changed. Oversized files are left alone (they are not read).
 */
function scrubSecrets(file: string, tmp: string, maxBytes: number): string[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return [];
  }
  if (bytes.length === 0 || bytes.length > maxBytes) return [];
  const text = bytes.toString('latin1');
  const hits: string[] = [];
  let out = '';
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + SCRUB_CHUNK);
    if (end < text.length) {
      const ws = text.lastIndexOf(' ', end);
      if (ws > i + SCRUB_CHUNK / 2) end = ws + 1;
    }
    out += redactString(text.slice(i, end), hits);
    i = end;
  }
  if (hits.length === 0) return [];
  writeFileSync(tmp, Buffer.from(out, 'latin1'), { mode: 0o600 });
  renameSync(tmp, file);
  return [...new Set(hits)].sort();
}
