/**
 * Signed checkpoints over the audit chain.
 *
 * A checkpoint commits to the number of entries in the log ("size") and the hash of the entry with
 * seq == size ("head"), and to the previous checkpoint, so deleting or rewriting entries that a
 * checkpoint covers is detectable by anyone holding the public key. The signed text follows the
 * transparency-log checkpoint layout (origin, size, base64 root, extension line):
 *
 *   claude-agent-telemetry/<host>\n
 *   <size>\n
 *   <base64 head hash>\n
 *   ts=<ISO time> prev_cp=<base64 sha256 of the previous checkpoint body, or ->\n
 *
 * Each checkpoint is stored as one canonical JSON line in checkpoints.jsonl:
 *   {"body":…,"head":"<hex>","key_id":…,"sig":"<base64 Ed25519 signature of body>","size":N,"ts":…}
 * Everything but `sig` is derivable from `body`; the verifier checks that they agree.
 */

import { createHash, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { signText, verifyText } from './keys.ts';

export const CHECKPOINT_FILE = 'checkpoints.jsonl';
export const ORIGIN_PREFIX = 'claude-agent-telemetry/';
export const NO_PREVIOUS_CHECKPOINT = '-';

export interface CheckpointRecord {
  /** Number of entries covered: the entries with seq 1..size. */
  size: number;
  /** Hex hash of the entry with seq == size. */
  head: string;
  /** ISO time the checkpoint was made. */
  ts: string;
  /** The signed text. */
  body: string;
  /** Base64 Ed25519 signature over the UTF-8 bytes of body. */
  sig: string;
  /** Id of the signing key (see keys.ts). */
  key_id: string;
}

export interface CheckpointBody {
  origin: string;
  size: number;
  /** Base64 of the head hash bytes. */
  headB64: string;
  ts: string;
  /** Base64 sha256 of the previous body, or '-'. */
  prevCp: string;
}

export function checkpointBodyText(b: CheckpointBody): string {
  return `${b.origin}\n${b.size}\n${b.headB64}\nts=${b.ts} prev_cp=${b.prevCp}\n`;
}

/** Base64 SHA-256 of a checkpoint body: what the next checkpoint's prev_cp must be. */
export function bodyDigest(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('base64');
}

export function hexToB64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

const SIZE_RE = /^(0|[1-9][0-9]{0,15})$/;
const EXT_RE = /^ts=(\S+) prev_cp=(\S+)$/;

/** Parse a body; null if it is not in the expected layout. */
export function parseCheckpointBody(body: string): CheckpointBody | null {
  const lines = body.split('\n');
  if (lines.length !== 5 || lines[4] !== '') return null;
  const [origin, sizeText, headB64, ext] = lines as [string, string, string, string];
  if (!origin.startsWith(ORIGIN_PREFIX) || !SIZE_RE.test(sizeText)) return null;
  const m = EXT_RE.exec(ext);
  if (!m) return null;
  return { origin, size: Number(sizeText), headB64, ts: m[1] ?? '', prevCp: m[2] ?? '' };
}

export interface CreateCheckpointArgs {
  origin: string;
  size: number;
  head: string;
  ts: string;
  /** Body of the previous checkpoint, or null for the first. */
  prevBody: string | null;
  privateKey: KeyObject;
  keyId: string;
}

export function createCheckpoint(a: CreateCheckpointArgs): CheckpointRecord {
  const body = checkpointBodyText({
    origin: a.origin,
    size: a.size,
    headB64: hexToB64(a.head),
    ts: a.ts,
    prevCp: a.prevBody === null ? NO_PREVIOUS_CHECKPOINT : bodyDigest(a.prevBody),
  });
  return { size: a.size, head: a.head, ts: a.ts, body, sig: signText(a.privateKey, body), key_id: a.keyId };
}

/** The line written to checkpoints.jsonl (with trailing newline). */
export function checkpointLine(rec: CheckpointRecord): string {
  return `${canonicalJson(rec)}\n`;
}

export type CheckpointProblemKind =
  | 'checkpoint-format'
  | 'checkpoint-key'
  | 'checkpoint-signature'
  | 'checkpoint-chain'
  | 'checkpoint-order';

export interface CheckpointProblem {
  kind: CheckpointProblemKind;
  message: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Shape check of a parsed checkpoints.jsonl line. */
export function asCheckpointRecord(v: unknown): CheckpointRecord | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (Object.keys(r).length !== 6) return null;
  if (
    typeof r.size !== 'number' ||
    !Number.isSafeInteger(r.size) ||
    r.size < 0 ||
    typeof r.head !== 'string' ||
    !HEX64.test(r.head) ||
    typeof r.ts !== 'string' ||
    typeof r.body !== 'string' ||
    typeof r.sig !== 'string' ||
    typeof r.key_id !== 'string'
  ) {
    return null;
  }
  return r as unknown as CheckpointRecord;
}

/**
 * Check one checkpoint on its own and against its predecessor (signature, key id, body agreement,
 * prev_cp link, non-decreasing size). Returns the first problem found, or null.
 */
export function checkCheckpoint(
  rec: CheckpointRecord,
  prev: CheckpointRecord | null,
  key: { publicKey: KeyObject; keyId: string },
): CheckpointProblem | null {
  if (rec.key_id !== key.keyId) {
    return {
      kind: 'checkpoint-key',
      message: `signed by key ${rec.key_id}, expected pinned key ${key.keyId}`,
    };
  }
  if (!verifyText(key.publicKey, rec.body, rec.sig)) {
    return { kind: 'checkpoint-signature', message: 'signature does not verify with the pinned public key' };
  }
  const b = parseCheckpointBody(rec.body);
  if (!b) return { kind: 'checkpoint-format', message: 'signed body is not a checkpoint' };
  if (b.size !== rec.size || b.headB64 !== hexToB64(rec.head) || b.ts !== rec.ts) {
    return { kind: 'checkpoint-format', message: 'size/head/ts fields disagree with the signed body' };
  }
  const expectedPrev = prev === null ? NO_PREVIOUS_CHECKPOINT : bodyDigest(prev.body);
  if (b.prevCp !== expectedPrev) {
    return {
      kind: 'checkpoint-chain',
      message:
        prev === null
          ? `first checkpoint has prev_cp=${b.prevCp}, expected ${NO_PREVIOUS_CHECKPOINT} (earlier checkpoints removed?)`
          : 'prev_cp does not match the previous checkpoint (checkpoint removed, reordered or replaced)',
    };
  }
  if (prev !== null && rec.size < prev.size) {
    return {
      kind: 'checkpoint-order',
      message: `size ${rec.size} is below the previous checkpoint's ${prev.size}`,
    };
  }
  return null;
}
