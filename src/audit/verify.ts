/**
 * Verify an audit dir: streams every day file in order (constant memory apart from one small
 * record per checkpoint), recomputes every hash, follows the chain across files and checks the
 * signed checkpoints against the entries.
 *
 * What it proves and what it cannot:
 * - any edit, insertion, deletion or reordering of entries is detected, because it breaks the
 *   seq/prev/hash chain;
 * - an attacker who edits entries and re-chains every later hash (possible without any key) is
 *   caught by the first checkpoint covering the edit (its head no longer matches);
 * - deleting entries a checkpoint covers is caught as truncation;
 * - entries after the last checkpoint (the "unanchored tail", reported) can be dropped or
 *   rewritten by anyone able to write the files without detection. Checkpoints are frequent and
 *   written at idle and shutdown to keep this tail short; shipping the latest checkpoint off the
 *   machine (or passing a remembered head as `expectHead`) closes the gap.
 * - checkpoints are only as trustworthy as the pinned public key: pass `publicKeyPem` from a copy
 *   kept elsewhere to rule out a replaced key pair.
 */

import { join } from 'node:path';
import { sha256Hex } from '../sha256.ts';
import {
  ARCHIVE_SUBDIR,
  archivedDayFiles,
  archiveLines,
  checkArchiveRecords,
  readArchiveRecords,
} from './archive.ts';
import { canonicalJson } from './canonical.ts';
import { asCheckpointRecord, CHECKPOINT_FILE, type CheckpointRecord, checkCheckpoint } from './checkpoint.ts';
import { type AuditPublicKey, describePublicKey, loadPublicKey } from './keys.ts';
import { entryShapeProblem, GENESIS_HASH, HASH_PREFIX, listDayFiles, readLines } from './log.ts';

export { readEntries } from './log.ts';

export type VerifyErrorKind =
  | 'parse'
  | 'format'
  | 'seq'
  | 'prev'
  | 'hash'
  | 'truncated'
  | 'expect-head'
  | 'checkpoint-parse'
  | 'checkpoint-format'
  | 'checkpoint-key'
  | 'checkpoint-signature'
  | 'checkpoint-chain'
  | 'checkpoint-order'
  | 'checkpoint-head'
  | 'archive';

export interface VerifyError {
  kind: VerifyErrorKind;
  /** seq of the entry concerned (for checkpoint problems: the checkpoint's size). */
  seq?: number;
  /** File name inside the audit dir. */
  file?: string;
  /** 1-based line number in that file. */
  line?: number;
  message: string;
}

export interface VerifyOptions {
  /** Pinned public key (SPKI PEM). Default: keys/audit-ed25519.pub next to the audit dir. */
  publicKeyPem?: string;
  /** Where to find the public key when publicKeyPem is not given. Default: `<dir>/../keys`. */
  keysDir?: string;
  /** A head remembered elsewhere (e.g. shown to the user at session end): entry `seq` must exist and have `hash`. */
  expectHead?: { seq: number; hash: string };
  /** Stop collecting after this many errors (verification still runs to the end). Default 100. */
  maxErrors?: number;
  /**
   * Archived segments (audit/archive/, see archive.ts): 'full' (default) decompresses them and checks every
   * entry like the day files; 'records' checks only their signed records and files, and starts the chain at
   * the first kept entry, anchored by the last record.
   */
  archives?: 'full' | 'records';
}

export interface VerifyResult {
  ok: boolean;
  /** Entry lines read that have the entry shape (equals the last seq when the chain is intact). */
  entries: number;
  checkpoints: number;
  /** Size of the last checkpoint that verified (0 if none). */
  lastCheckpointSize: number;
  /** Entries after the last checkpoint: not protected against truncation or rewrite. */
  unanchoredTail: number;
  /** seq and hash of the last entry read. */
  head: { seq: number; hash: string };
  /** Day files read, in order. */
  files: string[];
  /** Archived segments: how many, the entries they hold, and whether those entries were read and checked. */
  archived: { segments: number; entries: number; checked: boolean };
  /** Files whose final line has no '\n' (a torn write; ignored, and removed by the next AuditLog.open). */
  torn: string[];
  /** Id of the key checkpoints were checked against, if any. */
  keyId?: string;
  firstError?: VerifyError;
  errors: VerifyError[];
}

export async function verifyAudit(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const maxErrors = opts.maxErrors ?? 100;
  const errors: VerifyError[] = [];
  let errorCount = 0;
  const report = (e: VerifyError): void => {
    errorCount++;
    if (errors.length < maxErrors) errors.push(e);
  };
  const torn: string[] = [];

  // ---- key
  let key: AuditPublicKey | null = null;
  let keyProblem: string | null = null;
  try {
    key =
      opts.publicKeyPem !== undefined
        ? describePublicKey(opts.publicKeyPem)
        : loadPublicKey(opts.keysDir ?? join(dir, '..', 'keys'));
  } catch (err) {
    keyProblem = `public key unusable: ${(err as Error).message}`;
  }

  // ---- checkpoints: check signatures and chain; remember size -> head for the entry pass
  const heads = new Map<number, { head: string; line: number }[]>();
  let checkpoints = 0;
  let lastCheckpointSize = 0;
  let prevCp: CheckpointRecord | null = null;
  let maxCpSize = 0;
  let maxCpLine = 0;
  for await (const l of readLines(join(dir, CHECKPOINT_FILE))) {
    if (!l.terminated) {
      torn.push(CHECKPOINT_FILE);
      break;
    }
    const where = { file: CHECKPOINT_FILE, line: l.line };
    let v: unknown;
    try {
      v = JSON.parse(l.text);
    } catch {
      report({ kind: 'checkpoint-parse', ...where, message: 'checkpoint line is not valid JSON' });
      continue;
    }
    const rec = asCheckpointRecord(v);
    if (!rec) {
      report({ kind: 'checkpoint-format', ...where, message: 'line is not a checkpoint record' });
      continue;
    }
    checkpoints++;
    let valid = false;
    if (!key) {
      // Reported once: without a key no checkpoint can be trusted.
      if (checkpoints === 1) {
        report({
          kind: 'checkpoint-key',
          seq: rec.size,
          ...where,
          message: keyProblem ?? 'no public key to verify checkpoints with',
        });
      }
    } else {
      const p = checkCheckpoint(rec, prevCp, key);
      if (p)
        report({
          kind: p.kind,
          seq: rec.size,
          ...where,
          message: `checkpoint at size ${rec.size}: ${p.message}`,
        });
      else valid = true;
    }
    // Chain on from every record, so one bad checkpoint yields one error, but only trust the
    // claims (head, size) of checkpoints that verified.
    prevCp = rec;
    if (!valid) continue;
    lastCheckpointSize = rec.size;
    if (rec.size > maxCpSize) {
      maxCpSize = rec.size;
      maxCpLine = l.line;
    }
    if (rec.size > 0) {
      const list = heads.get(rec.size);
      if (list) list.push({ head: rec.head, line: l.line });
      else heads.set(rec.size, [{ head: rec.head, line: l.line }]);
    }
  }

  // ---- archived segments: signed records, then (by default) their entries
  const archive = readArchiveRecords(dir);
  for (const p of archive.problems) report({ kind: 'archive', ...p });
  const anchored = checkArchiveRecords(dir, archive.records, key);
  for (const p of anchored.problems) report({ kind: 'archive', ...p });
  const deep = (opts.archives ?? 'full') === 'full';
  const archivedEntries = archive.records.reduce((n, r) => n + r.rec.entries, 0);

  // ---- entries
  let entries = 0;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let resync = false;
  let expectSeen = false;
  const checkLine = (text: string, file: string, line: number): void => {
    const where = { file, line };
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      report({ kind: 'parse', seq: expectedSeq, ...where, message: `${file}:${line}: not valid JSON` });
      resync = true;
      return;
    }
    const shape = entryShapeProblem(v);
    if (shape) {
      report({ kind: 'format', seq: expectedSeq, ...where, message: `${file}:${line}: ${shape}` });
      resync = true;
      return;
    }
    const e = v as { seq: number; ts: string; prev: string; hash: string; event: unknown };
    entries++;
    if (!resync) {
      if (e.seq !== expectedSeq) {
        report({
          kind: 'seq',
          seq: e.seq,
          ...where,
          message:
            e.seq < expectedSeq
              ? `seq ${e.seq} repeats or goes back (expected ${expectedSeq})`
              : `seq jumps from ${expectedSeq - 1} to ${e.seq} (${e.seq - expectedSeq} entries missing)`,
        });
      } else if (e.prev !== prevHash) {
        report({
          kind: 'prev',
          seq: e.seq,
          ...where,
          message: `seq ${e.seq}: prev does not match the hash of the entry before it`,
        });
      }
    }
    resync = false;
    let eventText: string;
    try {
      eventText = canonicalJson(e.event);
    } catch (err) {
      report({ kind: 'format', seq: e.seq, ...where, message: `seq ${e.seq}: ${(err as Error).message}` });
      eventText = '';
    }
    if (eventText !== '') {
      const hashed = `${HASH_PREFIX}{"event":${eventText},"prev":"${e.prev}","seq":${e.seq},"ts":${JSON.stringify(e.ts)},"v":1}`;
      if (sha256Hex(hashed) !== e.hash) {
        report({
          kind: 'hash',
          seq: e.seq,
          ...where,
          message: `seq ${e.seq}: content does not match its hash (entry altered)`,
        });
      }
    }
    const cps = heads.get(e.seq);
    if (cps) {
      for (const cp of cps) {
        if (cp.head !== e.hash) {
          report({
            kind: 'checkpoint-head',
            seq: e.seq,
            ...where,
            message: `checkpoint (${CHECKPOINT_FILE}:${cp.line}) at size ${e.seq} commits to a different entry ${e.seq} (log rewritten)`,
          });
        }
      }
    }
    if (opts.expectHead && opts.expectHead.seq === e.seq) {
      expectSeen = true;
      if (opts.expectHead.hash !== e.hash) {
        report({
          kind: 'expect-head',
          seq: e.seq,
          ...where,
          message: `entry ${e.seq} hash ${e.hash} differs from the expected head ${opts.expectHead.hash}`,
        });
      }
    }
    expectedSeq = e.seq + 1;
    prevHash = e.hash;
  };

  if (deep) {
    for (const { rec } of archive.records) {
      const name = `${ARCHIVE_SUBDIR}/${rec.file}`;
      const digest: { gzSha256?: string } = {};
      try {
        for await (const l of archiveLines(dir, rec, digest)) checkLine(l.text, name, l.line);
      } catch (err) {
        report({ kind: 'archive', file: name, message: (err as Error).message });
        continue;
      }
      if (digest.gzSha256 !== rec.gz_sha256) {
        report({ kind: 'archive', file: name, message: `${name}: sha256 differs from its signed record` });
      }
      if (expectedSeq - 1 !== rec.last_seq || prevHash !== rec.last_hash) {
        report({
          kind: 'archive',
          file: name,
          message: `${name}: its entries do not end where its record says`,
        });
      }
    }
  } else {
    expectedSeq = anchored.anchor.seq + 1;
    prevHash = anchored.anchor.hash;
  }

  // A day file that a record already covers was archived and not yet removed (a crash in between): skip it.
  const archivedNames = archivedDayFiles(archive.records);
  const files = listDayFiles(dir).filter((f) => !archivedNames.has(f));
  for (let fi = 0; fi < files.length; fi++) {
    const file = files[fi] ?? '';
    const isLast = fi === files.length - 1;
    for await (const l of readLines(join(dir, file))) {
      if (!l.terminated && isLast) {
        torn.push(file);
        break;
      }
      checkLine(l.text, file, l.line);
    }
  }
  const headSeq = expectedSeq - 1;

  if (maxCpSize > headSeq) {
    report({
      kind: 'truncated',
      seq: maxCpSize,
      file: CHECKPOINT_FILE,
      line: maxCpLine,
      message: `log truncated: checkpoint covers ${maxCpSize} entries, the log ends at ${headSeq}`,
    });
  }
  if (opts.expectHead && !expectSeen) {
    report({
      kind: opts.expectHead.seq > headSeq ? 'truncated' : 'expect-head',
      seq: opts.expectHead.seq,
      message: `expected head at seq ${opts.expectHead.seq} not found (log ends at ${headSeq})`,
    });
  }

  const result: VerifyResult = {
    ok: errorCount === 0,
    entries,
    checkpoints,
    lastCheckpointSize,
    unanchoredTail: Math.max(0, headSeq - lastCheckpointSize),
    head: { seq: headSeq, hash: headSeq === 0 ? GENESIS_HASH : prevHash },
    files,
    archived: { segments: archive.records.length, entries: archivedEntries, checked: deep },
    torn,
    errors,
  };
  if (key) result.keyId = key.keyId;
  if (errors[0]) result.firstError = errors[0];
  return result;
}
