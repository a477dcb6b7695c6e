/**
 * Append-only, hash-chained audit log.
 *
 * Files under the audit dir:
 *   YYYY-MM-DD.jsonl   entries, one canonical JSON object per line, file named by the UTC day of append
 *   checkpoints.jsonl  signed checkpoints (checkpoint.ts)
 *
 * Entry: {"event":<TelemetryEvent>,"hash":"<hex>","prev":"<hex>","seq":N,"ts":"<ISO>","v":1}
 *   hash = sha256("cat-audit-v1\n" + canonical(entry without "hash"))
 *   seq starts at 1 and grows by exactly 1 across files; prev is the previous entry's hash (across
 *   files too), 64 zeros for seq 1.
 *
 * Durability: a batch is written with one write() and one fdatasync(); a checkpoint is only ever
 * written after the entries it covers are on disk. A crash can leave a torn final line (no '\n');
 * open() truncates it away and reports it in `recovered`. Lines before it that are complete were
 * written by a batch whose append() never returned; they are valid entries and the pipeline picks
 * them up through `store.maxAuditSeq()` + `readFrom()`.
 *
 * One writer at a time: the collector is the only process that opens an AuditLog for writing.
 * append() checks the file size before each write and refuses to continue if another writer
 * changed the file underneath it.
 */

import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
} from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { sha256Hex } from '../sha256.ts';
import type { TelemetryEvent } from '../types.ts';
import { canonicalJson } from './canonical.ts';
import {
  asCheckpointRecord,
  CHECKPOINT_FILE,
  type CheckpointRecord,
  checkpointLine,
  createCheckpoint,
  ORIGIN_PREFIX,
} from './checkpoint.ts';
import { type AuditKeyPair, ensurePrivateDir, fsyncDir, loadOrCreateKeyPair } from './keys.ts';

export const ENTRY_VERSION = 1;
export const HASH_PREFIX = 'cat-audit-v1\n';
export const GENESIS_HASH = '0'.repeat(64);
export const DAY_FILE_RE = /^\d{4}-\d{2}-\d{2}\.jsonl$/;
export const DEFAULT_CHECKPOINT_EVERY = 1000;

export interface AuditEntry {
  v: 1;
  seq: number;
  /** ISO time of the append (all entries of one batch share it). */
  ts: string;
  /** Hex sha256 of the previous entry (GENESIS_HASH for seq 1). */
  prev: string;
  event: TelemetryEvent;
  hash: string;
  /**
   * The event's canonical JSON as written in the log, when known (entries from append() and
   * readEntries()). Non-enumerable, so the entry still serializes to the documented shape; the
   * store can keep it as the event's JSON instead of serializing the event again.
   */
  readonly eventJson?: string;
}

function withEventJson(entry: Omit<AuditEntry, 'eventJson'>, json: string): AuditEntry {
  Object.defineProperty(entry, 'eventJson', { value: json, enumerable: false });
  return entry as AuditEntry;
}

export class AuditIntegrityError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'AuditIntegrityError';
  }
}

// ---------------------------------------------------------------------------------------------
// Entry format

const HEX64 = /^[0-9a-f]{64}$/;
const ENTRY_KEYS = 'event,hash,prev,seq,ts,v';

/** The canonical text that is hashed, given the event already in canonical form. */
function hashedText(eventCanonical: string, prev: string, seq: number, ts: string): string {
  return `{"event":${eventCanonical},"prev":"${prev}","seq":${seq},"ts":${JSON.stringify(ts)},"v":1}`;
}

/** Recompute an entry's hash from its fields (the stored `hash` is ignored). */
export function computeEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(HASH_PREFIX + hashedText(canonicalJson(entry.event), entry.prev, entry.seq, entry.ts));
}

/**
 * Shape check of a parsed line: exactly the six fields with the right types. Returns a reason
 * string when the value is not an entry, or null when it is.
 */
export function entryShapeProblem(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'line is not a JSON object';
  const r = v as Record<string, unknown>;
  const keys = Object.keys(r).sort().join(',');
  if (keys !== ENTRY_KEYS) return `unexpected fields (${keys})`;
  if (r.v !== ENTRY_VERSION) return `unsupported version ${JSON.stringify(r.v)}`;
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 1)
    return 'seq is not a positive integer';
  if (typeof r.ts !== 'string') return 'ts is not a string';
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) return 'prev is not a hex sha256';
  if (typeof r.hash !== 'string' || !HEX64.test(r.hash)) return 'hash is not a hex sha256';
  if (r.event === null || typeof r.event !== 'object' || Array.isArray(r.event))
    return 'event is not an object';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Files and lines

/** Day files in chain order (the names sort chronologically). */
export function listDayFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => DAY_FILE_RE.test(n)).sort();
}

export interface Line {
  text: string;
  /** 1-based line number in the file. */
  line: number;
  /** False for a final line without '\n' (torn write). */
  terminated: boolean;
}

const READ_CHUNK = 1 << 20;

/** Stream the lines of a file in constant memory (besides the longest line). Missing file: no lines. */
export async function* readLines(file: string): AsyncGenerator<Line> {
  let fh: Awaited<ReturnType<typeof openAsync>>;
  try {
    fh = await openAsync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const decoder = new StringDecoder('utf8');
    let carry = '';
    let lineNo = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      const text = carry + decoder.write(buf.subarray(0, bytesRead));
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        lineNo++;
        yield { text: text.slice(start, nl), line: lineNo, terminated: true };
        start = nl + 1;
      }
      carry = start === 0 ? text : text.slice(start);
    }
    carry += decoder.end();
    if (carry.length > 0) yield { text: carry, line: lineNo + 1, terminated: false };
  } finally {
    await fh.close();
  }
}

interface TailScan {
  /** Bytes up to and including the last '\n'. */
  complete: number;
  /** The last complete line (without '\n'), or null when the file has none. */
  lastLine: string | null;
}

/** Find the last complete line of an open file by reading backwards from its end. */
function scanTail(fd: number, size: number): TailScan {
  let window = Math.min(size, 64 * 1024);
  for (;;) {
    const start = size - window;
    const buf = Buffer.allocUnsafe(window);
    let got = 0;
    while (got < window) {
      const n = readSync(fd, buf, got, window - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const lastNl = buf.lastIndexOf(0x0a, got - 1);
    if (lastNl >= 0) {
      const prevNl = lastNl === 0 ? -1 : buf.lastIndexOf(0x0a, lastNl - 1);
      if (prevNl >= 0 || start === 0) {
        return { complete: start + lastNl + 1, lastLine: buf.toString('utf8', prevNl + 1, lastNl) };
      }
    } else if (start === 0) {
      return { complete: 0, lastLine: null };
    }
    window = Math.min(size, window * 2);
  }
}

/** Read the first line of a day file (for locating a seq without scanning). */
function firstLine(file: string): string | null {
  const fd = openSync(file, 'r');
  try {
    let size = 4096;
    for (;;) {
      const buf = Buffer.allocUnsafe(size);
      const n = readSync(fd, buf, 0, size, 0);
      const nl = buf.subarray(0, n).indexOf(0x0a);
      if (nl >= 0) return buf.toString('utf8', 0, nl);
      if (n < size) return null;
      size *= 2;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * seq of a canonical entry line without parsing the event: the top-level "seq" follows "event",
 * so it is the last `"seq":` in the line (a "seq" key inside the event comes earlier).
 */
function lineSeq(text: string): number | null {
  const i = text.lastIndexOf('"seq":');
  if (i < 0) return null;
  const m = /^[0-9]+/.exec(text.slice(i + 6, i + 26));
  return m ? Number(m[0]) : null;
}

/**
 * Entries with seq >= fromSeq, in order, across day files. Parses but does not verify hashes
 * (verifyAudit does that). A torn final line of the newest file is skipped. Throws
 * AuditIntegrityError on an unparsable line.
 */
export async function* readEntries(dir: string, fromSeq = 1): AsyncGenerator<AuditEntry> {
  const files = listDayFiles(dir);
  let startIdx = 0;
  for (let i = files.length - 1; i > 0; i--) {
    const first = firstLine(join(dir, files[i] ?? ''));
    const s = first === null ? null : lineSeq(first);
    if (s !== null && s <= fromSeq) {
      startIdx = i;
      break;
    }
  }
  for (let i = startIdx; i < files.length; i++) {
    const name = files[i] ?? '';
    const isLast = i === files.length - 1;
    for await (const l of readLines(join(dir, name))) {
      if (!l.terminated && isLast) break;
      const quick = lineSeq(l.text);
      if (quick !== null && quick < fromSeq) continue;
      let v: unknown;
      try {
        v = JSON.parse(l.text);
      } catch {
        throw new AuditIntegrityError(`unparsable audit line ${name}:${l.line}`, name, l.line);
      }
      const problem = entryShapeProblem(v);
      if (problem) throw new AuditIntegrityError(`${name}:${l.line}: ${problem}`, name, l.line);
      const e = v as AuditEntry;
      if (e.seq < fromSeq) continue;
      // In a canonical line the event's JSON is everything between '{"event":' and the top-level
      // ',"hash":"' (the last one: a "hash" key inside the event comes earlier).
      if (l.text.startsWith('{"event":') && Object.keys(e).join(',') === ENTRY_KEYS) {
        const end = l.text.lastIndexOf(',"hash":"');
        if (end > 9) withEventJson(e, l.text.slice(9, end));
      }
      yield e;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

/**
 * Entries chained in parts and made durable together: `add` serializes, hashes and appends a part's events
 * (a part with an event that cannot be audited throws and adds nothing); `write` syncs them with one
 * fdatasync and moves the log's head; `drop` cuts off what the batch appended, leaving the log as it was.
 * Until `write`, the batch's lines are in the file but not durable: a crash leaves complete entries that
 * reopening keeps (a torn last line is cut off), which recovery then moves into the store.
 */
export interface AuditBatch {
  add(events: readonly TelemetryEvent[]): AuditEntry[];
  write(): void;
  /** No effect once written or dropped. */
  drop(): void;
}

export interface AuditLogOptions {
  /** Where the signing key lives; default: the `keys` dir next to the audit dir. */
  keysDir?: string;
  /** Write a checkpoint after this many new entries (checked after each batch). Default 1000; 0 disables. */
  checkpointEvery?: number;
  /** Host name in the checkpoint origin line. Default: os.hostname(). */
  host?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface Recovery {
  /** File name in the audit dir. */
  file: string;
  /** Bytes of a torn final line that were truncated away. */
  bytes: number;
}

export class AuditLog {
  readonly dir: string;
  readonly keysDir: string;
  readonly origin: string;
  readonly checkpointEvery: number;
  /** Torn final lines removed at open (empty when the last shutdown was clean). */
  readonly recovered: Recovery[];
  /** The last error from an automatic checkpoint (append() never throws for those; entries were already durable). */
  checkpointError: Error | null = null;

  private readonly keys: AuditKeyPair;
  private readonly now: () => Date;
  private headSeq: number;
  private headHash: string;
  private fileName: string | null;
  private fd: number | null = null;
  private fileSize = 0;
  private cpFd: number | null;
  private lastCp: CheckpointRecord | null;
  private broken: Error | null = null;
  private closed = false;
  /** A batch has been started and is neither written nor dropped. */
  private batchOpen = false;

  private constructor(
    dir: string,
    keysDir: string,
    keys: AuditKeyPair,
    opts: AuditLogOptions,
    state: {
      headSeq: number;
      headHash: string;
      fileName: string | null;
      cpFd: number;
      lastCp: CheckpointRecord | null;
      recovered: Recovery[];
    },
  ) {
    this.dir = dir;
    this.keysDir = keysDir;
    this.keys = keys;
    this.origin = `${ORIGIN_PREFIX}${opts.host ?? hostname()}`;
    this.checkpointEvery = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    this.now = opts.now ?? (() => new Date());
    this.headSeq = state.headSeq;
    this.headHash = state.headHash;
    this.fileName = state.fileName;
    this.cpFd = state.cpFd;
    this.lastCp = state.lastCp;
    this.recovered = state.recovered;
  }

  /**
   * Open (creating if needed) the audit log in `dir`. Reads only the tail of the newest file and
   * of checkpoints.jsonl, so it is fast at any log size. Truncates torn final lines (reported in
   * `recovered`). Throws AuditIntegrityError if the last complete entry or checkpoint is not
   * valid, or if the last checkpoint covers more entries than the log holds: appending after
   * either would bury the damage under valid-looking entries. Run verifyAudit to investigate.
   */
  static open(dir: string, opts: AuditLogOptions = {}): AuditLog {
    const keysDir = opts.keysDir ?? join(dirname(dir), 'keys');
    ensurePrivateDir(dir);
    const keys = loadOrCreateKeyPair(keysDir);
    const recovered: Recovery[] = [];

    const files = listDayFiles(dir);
    let headSeq = 0;
    let headHash = GENESIS_HASH;
    for (let i = files.length - 1; i >= 0; i--) {
      const name = files[i] ?? '';
      const last = recoverTail(join(dir, name), name, recovered);
      if (last === null) continue;
      let v: unknown;
      try {
        v = JSON.parse(last);
      } catch {
        throw new AuditIntegrityError(`last entry of ${name} is not valid JSON`, name);
      }
      const problem = entryShapeProblem(v);
      if (problem) throw new AuditIntegrityError(`last entry of ${name}: ${problem}`, name);
      const e = v as AuditEntry;
      if (computeEntryHash(e) !== e.hash) {
        throw new AuditIntegrityError(`last entry of ${name} (seq ${e.seq}) fails its hash`, name);
      }
      headSeq = e.seq;
      headHash = e.hash;
      break;
    }

    const cpPath = join(dir, CHECKPOINT_FILE);
    const cpLast = recoverTail(cpPath, CHECKPOINT_FILE, recovered);
    let lastCp: CheckpointRecord | null = null;
    if (cpLast !== null) {
      let v: unknown;
      try {
        v = JSON.parse(cpLast);
      } catch {
        v = null;
      }
      lastCp = asCheckpointRecord(v);
      if (lastCp === null)
        throw new AuditIntegrityError(`last line of ${CHECKPOINT_FILE} is not a checkpoint`);
      if (lastCp.size > headSeq) {
        throw new AuditIntegrityError(
          `audit log truncated: the last checkpoint covers ${lastCp.size} entries, the log holds ${headSeq}`,
        );
      }
      if (lastCp.size === headSeq && lastCp.head !== headHash) {
        throw new AuditIntegrityError(
          `the last entry (seq ${headSeq}) is not the one the last checkpoint signed`,
        );
      }
    }
    const cpFd = openSync(cpPath, 'a', 0o600);
    fsyncDir(dir);
    return new AuditLog(dir, keysDir, keys, opts, {
      headSeq,
      headHash,
      fileName: files.length > 0 ? (files[files.length - 1] ?? null) : null,
      cpFd,
      lastCp,
      recovered,
    });
  }

  /** seq and hash of the last entry (seq 0 and the genesis hash for an empty log). */
  get head(): { seq: number; hash: string } {
    return { seq: this.headSeq, hash: this.headHash };
  }

  /** Number of entries in the log (= seq of the last entry). */
  get size(): number {
    return this.headSeq;
  }

  get lastCheckpoint(): CheckpointRecord | null {
    return this.lastCp;
  }

  get publicKeyPem(): string {
    return this.keys.publicKeyPem;
  }

  get keyId(): string {
    return this.keys.keyId;
  }

  /**
   * Append all events as one batch: one write, one fdatasync. Returns the entries written, in order.
   * Atomic with respect to errors raised before the write (e.g. an event that is not JSON-clean):
   * nothing is written. An I/O error during write/fsync leaves the log unusable until reopened
   * (reopen recovers the tail).
   */
  append(events: readonly TelemetryEvent[]): AuditEntry[] {
    this.assertUsable();
    if (events.length === 0) return [];
    const batch = this.batch();
    try {
      const entries = batch.add(events);
      batch.write();
      return entries;
    } finally {
      batch.drop();
    }
  }

  /**
   * A batch built in parts (see AuditBatch): each part's lines go to the file as it is added, and `write`
   * makes them durable with one fdatasync. Entries are chained from the head as it is now; no other batch
   * (nor append) may start until this one is written or dropped.
   */
  batch(): AuditBatch {
    this.assertUsable();
    if (this.batchOpen) throw new Error('another audit batch is open: write or drop it first');
    const ts = this.now().toISOString();
    const tsJson = JSON.stringify(ts);
    let seq = this.headSeq;
    let prev = this.headHash;
    // The file and its size before the batch, once a part has lines to write; bytes written since.
    let fd: number | null = null;
    let start = 0;
    let bytes = 0;
    let state: 'open' | 'written' | 'dropped' = 'open';
    this.batchOpen = true;
    const close = (to: 'written' | 'dropped') => {
      state = to;
      this.batchOpen = false;
    };
    const usable = () => {
      if (state !== 'open') throw new Error(`audit batch already ${state}`);
      this.assertUsable();
    };
    return {
      add: (events) => {
        usable();
        const entries: AuditEntry[] = new Array(events.length);
        let s = seq;
        let p = prev;
        let t = '';
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as TelemetryEvent;
          s++;
          let ev: string;
          try {
            ev = canonicalJson(event);
          } catch (err) {
            throw new TypeError(`event ${String(event?.id)} cannot be audited: ${(err as Error).message}`);
          }
          const rest = `"prev":"${p}","seq":${s},"ts":${tsJson},"v":1}`;
          // One-shot hash of one string: cheaper than a Hash object per entry.
          const hash = sha256Hex(`${HASH_PREFIX}{"event":${ev},${rest}`);
          t += `{"event":${ev},"hash":"${hash}",${rest}\n`;
          entries[i] = withEventJson({ v: 1, seq: s, ts, prev: p, event, hash }, ev);
          p = hash;
        }
        if (t === '') return entries;
        // Written now, so a part's text is let go at once instead of living (and being copied by the garbage
        // collector) until the whole batch is built. A part with an event that cannot be audited threw above
        // and wrote nothing.
        try {
          if (fd === null) {
            fd = this.fileFor(ts);
            start = this.fileSize;
            this.checkSize(fd, start);
          }
          bytes += this.writeText(fd, t);
        } catch (err) {
          close('dropped');
          if (fd !== null) this.fail(fd, start, err as Error);
          throw err;
        }
        seq = s;
        prev = p;
        return entries;
      },
      write: () => {
        usable();
        close('written');
        if (fd === null) return;
        try {
          fdatasyncSync(fd);
        } catch (err) {
          this.fail(fd, start, err as Error);
          throw err;
        }
        this.advance(seq, prev, start + bytes);
      },
      drop: () => {
        if (state !== 'open') return;
        close('dropped');
        if (fd === null || bytes === 0) return;
        try {
          ftruncateSync(fd, start);
        } catch (err) {
          // Reopening recovers: the lines cut off here are complete entries, which heal() moves into the store.
          this.broken = err as Error;
        }
      },
    };
  }

  /** Refuses to append when the file is not the size this writer left it: another writer was at work. */
  private checkSize(fd: number, size: number): void {
    const now = fstatSync(fd).size;
    if (now !== size) {
      throw new AuditIntegrityError(
        `${this.fileName} changed size underneath the writer (${size} -> ${now}); another writer?`,
      );
    }
  }

  /**
   * Appends a part's lines (not yet synced); returns the bytes written. The string goes to the kernel without
   * a Buffer of its own; a short write (rare on a regular file) is finished from one.
   */
  private writeText(fd: number, text: string): number {
    const n = writeSync(fd, text);
    const total = Buffer.byteLength(text);
    if (n === total) return n;
    const buf = Buffer.from(text, 'utf8');
    let off = n;
    while (off < total) off += writeSync(fd, buf, off, total - off);
    return total;
  }

  /** A batch is durable: the head moves and a checkpoint may follow. */
  private advance(seq: number, prev: string, size: number): void {
    this.fileSize = size;
    this.headSeq = seq;
    this.headHash = prev;
    if (this.checkpointEvery > 0 && seq - (this.lastCp?.size ?? 0) >= this.checkpointEvery) {
      try {
        this.checkpoint();
        this.checkpointError = null;
      } catch (err) {
        this.checkpointError = err as Error;
      }
    }
  }

  /**
   * Write a signed checkpoint of the current head (fsync'd). Returns the new checkpoint, the last
   * one if nothing was appended since, or null while the log is empty.
   */
  checkpoint(): CheckpointRecord | null {
    this.assertUsable();
    if (this.headSeq === 0) return null;
    if (this.lastCp !== null && this.lastCp.size === this.headSeq) return this.lastCp;
    const rec = createCheckpoint({
      origin: this.origin,
      size: this.headSeq,
      head: this.headHash,
      ts: this.now().toISOString(),
      prevBody: this.lastCp?.body ?? null,
      privateKey: this.keys.privateKey,
      keyId: this.keys.keyId,
    });
    const buf = Buffer.from(checkpointLine(rec), 'utf8');
    const fd = this.cpFd as number;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fdatasyncSync(fd);
    this.lastCp = rec;
    return rec;
  }

  /** Entries with seq >= fromSeq (e.g. `store.maxAuditSeq() + 1` after a crash). */
  readFrom(fromSeq: number): AsyncGenerator<AuditEntry> {
    return readEntries(this.dir, fromSeq);
  }

  /** Close the files. Does not checkpoint: call checkpoint() first on a clean shutdown. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) closeSync(this.fd);
    if (this.cpFd !== null) closeSync(this.cpFd);
    this.fd = null;
    this.cpFd = null;
  }

  private assertUsable(): void {
    if (this.closed) throw new Error('audit log is closed');
    if (this.broken)
      throw new Error(`audit log unusable after an I/O error; reopen it: ${this.broken.message}`);
  }

  /** The fd to append a batch stamped `ts` to, rolling over to a new day file when the day changes. */
  private fileFor(ts: string): number {
    const name = `${ts.slice(0, 10)}.jsonl`;
    // Never go back to an earlier day file (clock stepped back): file order is chain order.
    if (this.fileName === null || name > this.fileName) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      this.fileName = name;
    }
    if (this.fd === null) {
      const path = join(this.dir, this.fileName);
      this.fd = openSync(path, 'a', 0o600);
      this.fileSize = fstatSync(this.fd).size;
      fsyncDir(this.dir);
    }
    return this.fd;
  }

  /** After a failed write: try to cut the partial batch off; if that fails too, refuse further appends. */
  private fail(fd: number, size: number, err: Error): void {
    if (err instanceof AuditIntegrityError) {
      this.broken = err;
      return;
    }
    try {
      ftruncateSync(fd, size);
      fdatasyncSync(fd);
    } catch {
      // Reopening recovers: it truncates a torn tail and resumes from the last complete entry.
    }
    this.broken = err;
  }
}

/**
 * Truncate a torn final line (a crash mid-write) and return the last complete line, or null when
 * the file is empty or missing.
 */
function recoverTail(path: string, name: string, recovered: Recovery[]): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const { complete, lastLine } = scanTail(fd, size);
    if (complete < size) {
      ftruncateSync(fd, complete);
      fdatasyncSync(fd);
      recovered.push({ file: name, bytes: size - complete });
    }
    return lastLine;
  } finally {
    closeSync(fd);
  }
}
