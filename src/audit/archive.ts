/**
 * Archived segments of the audit log. Retention never cuts the log silently: it moves whole day files, each
 * already covered by a signed checkpoint, into `audit/archive/<day>.jsonl.gz` and appends a signed record
 * to `audit/archive/manifest.jsonl`:
 *
 *   {"archived_at":…,"day_file":"2026-01-01.jsonl","entries":N,"file":"2026-01-01.jsonl.gz",
 *    "first_prev":"<hex>","first_seq":S,"gz_bytes":…,"gz_sha256":…,"key_id":…,"last_hash":"<hex>",
 *    "last_seq":L,"prev_record":"<hex sha256 of the previous record line, or ->","sig":"<base64>",
 *    "source_bytes":…,"source_sha256":…,"v":1}
 *
 * `sig` is the Ed25519 signature (the audit key) over the canonical JSON of the record without `sig`.
 * Records chain through `prev_record` and their seq ranges must follow each other from seq 1 without a gap,
 * so the last record anchors the first kept entry: its `prev` must be the record's `last_hash`. `verify`
 * checks the records always, and the archived entries themselves (decompressed, every hash) by default.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sha256Hex } from '../sha256.ts';
import { canonicalJson } from './canonical.ts';
import {
  type AuditPublicKey,
  ensurePrivateDir,
  fsyncDir,
  loadOrCreateKeyPair,
  signText,
  verifyText,
} from './keys.ts';
import { AuditIntegrityError, computeEntryHash, entryShapeProblem, GENESIS_HASH } from './log.ts';

export const ARCHIVE_SUBDIR = 'archive';
export const ARCHIVE_MANIFEST = 'manifest.jsonl';
export const NO_PREVIOUS_RECORD = '-';

export interface ArchiveRecord {
  v: 1;
  /** The day file this segment was (YYYY-MM-DD.jsonl). */
  day_file: string;
  /** The compressed file, in the archive dir. */
  file: string;
  entries: number;
  first_seq: number;
  /** `prev` of the first entry: the last hash of the segment before. */
  first_prev: string;
  last_seq: number;
  last_hash: string;
  source_bytes: number;
  source_sha256: string;
  gz_bytes: number;
  gz_sha256: string;
  archived_at: string;
  prev_record: string;
  key_id: string;
  sig: string;
}

export interface ArchiveRecordLine {
  rec: ArchiveRecord;
  /** The record's line as stored (what the next record's prev_record hashes). */
  text: string;
  /** 1-based line in manifest.jsonl. */
  line: number;
}

export function archiveDir(auditDir: string): string {
  return join(auditDir, ARCHIVE_SUBDIR);
}

const HEX64 = /^[0-9a-f]{64}$/;
const RECORD_KEYS =
  'archived_at,day_file,entries,file,first_prev,first_seq,gz_bytes,gz_sha256,key_id,last_hash,last_seq,prev_record,sig,source_bytes,source_sha256,v';

function isRecord(v: unknown): v is ArchiveRecord {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  const ints = ['entries', 'first_seq', 'last_seq', 'source_bytes', 'gz_bytes'];
  return (
    Object.keys(r).sort().join(',') === RECORD_KEYS &&
    r.v === 1 &&
    ints.every((k) => Number.isSafeInteger(r[k]) && (r[k] as number) >= 0) &&
    ['first_prev', 'last_hash', 'source_sha256', 'gz_sha256'].every((k) => HEX64.test(String(r[k]))) &&
    ['day_file', 'file', 'archived_at', 'prev_record', 'key_id', 'sig'].every((k) => typeof r[k] === 'string')
  );
}

/** A pass-through stream that hashes what flows through it. */
function hashTap(): { tap: PassThrough; hex: () => string } {
  const h = createHash('sha256');
  const tap = new PassThrough();
  tap.on('data', (b: Buffer) => h.update(b));
  return { tap, hex: () => h.digest('hex') };
}

/** The text a record's signature covers. */
function signedText(rec: Omit<ArchiveRecord, 'sig'> & { sig?: string }): string {
  const { sig: _sig, ...rest } = rec;
  return canonicalJson(rest);
}

export interface ArchiveProblem {
  line?: number;
  file?: string;
  message: string;
}

/** Reads manifest.jsonl; lines that are not records are problems. Missing manifest: no records. */
export function readArchiveRecords(auditDir: string): {
  records: ArchiveRecordLine[];
  problems: ArchiveProblem[];
} {
  const file = join(archiveDir(auditDir), ARCHIVE_MANIFEST);
  const records: ArchiveRecordLine[] = [];
  const problems: ArchiveProblem[] = [];
  if (!existsSync(file)) return { records, problems };
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((text, i) => {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = null;
    }
    if (isRecord(v)) records.push({ rec: v, text, line: i + 1 });
    else
      problems.push({
        line: i + 1,
        file: ARCHIVE_MANIFEST,
        message: `${ARCHIVE_MANIFEST}:${i + 1}: not an archive record`,
      });
  });
  return { records, problems };
}

/**
 * Checks the records: signature with the pinned key, the prev_record chain, and seq ranges that follow one
 * another from seq 1. With `files`, also that each compressed file is there with its recorded size.
 * Returns the problems and the anchor (seq and hash of the last archived entry; seq 0 without records).
 */
export function checkArchiveRecords(
  auditDir: string,
  records: ArchiveRecordLine[],
  key: AuditPublicKey | null,
): { problems: ArchiveProblem[]; anchor: { seq: number; hash: string } } {
  const problems: ArchiveProblem[] = [];
  let prevText: string | null = null;
  let seq = 0;
  let hash = GENESIS_HASH;
  for (const { rec, text, line } of records) {
    const at = (message: string) =>
      problems.push({
        line,
        file: ARCHIVE_MANIFEST,
        message: `archive record for ${rec.day_file}: ${message}`,
      });
    if (!key) at('no public key to check its signature with');
    else if (rec.key_id !== key.keyId) at(`signed by key ${rec.key_id}, expected pinned key ${key.keyId}`);
    else if (!verifyText(key.publicKey, signedText(rec), rec.sig))
      at('signature does not verify (record altered)');
    const expectedPrev = prevText === null ? NO_PREVIOUS_RECORD : sha256Hex(prevText);
    if (rec.prev_record !== expectedPrev)
      at('prev_record does not match the record before it (record removed or reordered)');
    if (rec.first_seq !== seq + 1)
      at(`starts at seq ${rec.first_seq}, expected ${seq + 1} (a segment is missing)`);
    else if (rec.first_prev !== hash) at(`first entry does not link to seq ${seq}`);
    if (rec.entries !== rec.last_seq - rec.first_seq + 1) at('entry count disagrees with its seq range');
    const gz = join(archiveDir(auditDir), rec.file);
    if (!/^[\w.-]+$/.test(rec.file) || !existsSync(gz)) at(`${ARCHIVE_SUBDIR}/${rec.file} is missing`);
    else if (statSync(gz).size !== rec.gz_bytes)
      at(`${ARCHIVE_SUBDIR}/${rec.file} has ${statSync(gz).size} bytes, the record says ${rec.gz_bytes}`);
    prevText = text;
    seq = rec.last_seq;
    hash = rec.last_hash;
  }
  return { problems, anchor: { seq, hash } };
}

/** Lines of an archived segment, decompressed, and the sha256 of the compressed bytes once read to the end. */
export async function* archiveLines(
  auditDir: string,
  rec: ArchiveRecord,
  digest: { gzSha256?: string },
): AsyncGenerator<{ text: string; line: number }> {
  const gz = hashTap();
  const gunzip = createGunzip();
  const done = pipeline(createReadStream(join(archiveDir(auditDir), rec.file)), gz.tap, gunzip).catch(
    (err: Error) => {
      throw new AuditIntegrityError(
        `${ARCHIVE_SUBDIR}/${rec.file} cannot be decompressed: ${err.message}`,
        rec.file,
      );
    },
  );
  let line = 0;
  for await (const text of createInterface({ input: gunzip, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    yield { text, line };
  }
  await done;
  digest.gzSha256 = gz.hex();
}

export interface ArchiveOptions {
  keysDir: string;
  now?: () => Date;
}

interface SegmentScan {
  entries: number;
  firstSeq: number;
  firstPrev: string;
  lastSeq: number;
  lastHash: string;
}

/** Reads a day file whole and checks its own chain: every hash, seq and prev link inside it. */
async function scanSegment(file: string, name: string): Promise<SegmentScan> {
  let scan: SegmentScan | null = null;
  let lineNo = 0;
  for await (const text of createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  })) {
    lineNo++;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = null;
    }
    const problem = v === null ? 'not valid JSON' : entryShapeProblem(v);
    if (problem) throw new AuditIntegrityError(`${name}:${lineNo}: ${problem}`, name, lineNo);
    const e = v as { seq: number; prev: string; hash: string } & Parameters<typeof computeEntryHash>[0];
    if (computeEntryHash(e) !== e.hash)
      throw new AuditIntegrityError(`${name}:${lineNo}: entry fails its hash`, name, lineNo);
    if (scan === null)
      scan = { entries: 0, firstSeq: e.seq, firstPrev: e.prev, lastSeq: e.seq - 1, lastHash: e.prev };
    if (e.seq !== scan.lastSeq + 1 || e.prev !== scan.lastHash) {
      throw new AuditIntegrityError(`${name}:${lineNo}: breaks the chain (seq ${e.seq})`, name, lineNo);
    }
    scan.entries++;
    scan.lastSeq = e.seq;
    scan.lastHash = e.hash;
  }
  if (scan === null) throw new AuditIntegrityError(`${name} holds no entries`, name);
  return scan;
}

/**
 * Moves one day file into the archive: checks its chain and that it follows the last archived segment,
 * compresses it (checking the copy decompresses to the same bytes), appends the signed record, fsyncs, and
 * only then removes the day file. The caller makes sure the file is covered by a signed checkpoint and is
 * not the file being written.
 */
export async function archiveDayFile(
  auditDir: string,
  dayFile: string,
  opts: ArchiveOptions,
): Promise<ArchiveRecord> {
  const dir = archiveDir(auditDir);
  ensurePrivateDir(dir);
  const src = join(auditDir, dayFile);
  const { records, problems } = readArchiveRecords(auditDir);
  if (problems.length > 0) throw new AuditIntegrityError(`cannot archive: ${problems[0]?.message}`);
  const last = records.at(-1);
  if (last?.rec.day_file === dayFile) {
    // A crash came between the record and the removal: the record and the archive stand, finish the move.
    const seen = hashTap();
    await pipeline(createReadStream(src), seen.tap, new PassThrough().resume());
    if (seen.hex() !== last.rec.source_sha256) {
      throw new AuditIntegrityError(
        `${dayFile} differs from its archived copy; leaving both for inspection`,
        dayFile,
      );
    }
    unlinkSync(src);
    fsyncDir(auditDir);
    return last.rec;
  }
  const scan = await scanSegment(src, dayFile);
  const anchorSeq = last?.rec.last_seq ?? 0;
  const anchorHash = last?.rec.last_hash ?? GENESIS_HASH;
  if (scan.firstSeq !== anchorSeq + 1 || scan.firstPrev !== anchorHash) {
    throw new AuditIntegrityError(
      `cannot archive ${dayFile}: it starts at seq ${scan.firstSeq}, the archive ends at ${anchorSeq}`,
      dayFile,
    );
  }

  const gzName = `${dayFile}.gz`;
  const gzPath = join(dir, gzName);
  const tmp = `${gzPath}.tmp`;
  const srcHash = hashTap();
  const gzHash = hashTap();
  await pipeline(
    createReadStream(src),
    srcHash.tap,
    createGzip({ level: 9 }),
    gzHash.tap,
    createWriteStream(tmp, { mode: 0o600 }),
  );
  const sourceSha = srcHash.hex();
  const check = createHash('sha256');
  for await (const b of createReadStream(tmp).pipe(createGunzip())) check.update(b as Buffer);
  if (check.digest('hex') !== sourceSha)
    throw new AuditIntegrityError(`the compressed copy of ${dayFile} does not read back`);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, gzPath);
  fsyncDir(dir);

  const keys = loadOrCreateKeyPair(opts.keysDir);
  const unsigned: Omit<ArchiveRecord, 'sig'> = {
    v: 1,
    day_file: dayFile,
    file: gzName,
    entries: scan.entries,
    first_seq: scan.firstSeq,
    first_prev: scan.firstPrev,
    last_seq: scan.lastSeq,
    last_hash: scan.lastHash,
    source_bytes: statSync(src).size,
    source_sha256: sourceSha,
    gz_bytes: statSync(gzPath).size,
    gz_sha256: gzHash.hex(),
    archived_at: (opts.now?.() ?? new Date()).toISOString(),
    prev_record: last ? sha256Hex(last.text) : NO_PREVIOUS_RECORD,
    key_id: keys.keyId,
  };
  const rec: ArchiveRecord = { ...unsigned, sig: signText(keys.privateKey, signedText(unsigned)) };
  const mfd = openSync(join(dir, ARCHIVE_MANIFEST), 'a', 0o600);
  try {
    writeSync(mfd, `${canonicalJson(rec)}\n`);
    fsyncSync(mfd);
  } finally {
    closeSync(mfd);
  }
  unlinkSync(src);
  fsyncDir(auditDir);
  return rec;
}

/** Day files that archive records already cover (left behind by a crash between record and removal). */
export function archivedDayFiles(records: ArchiveRecordLine[]): Set<string> {
  return new Set(records.map((r) => r.rec.day_file));
}
