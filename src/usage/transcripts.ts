/**
 * Token usage from Claude Code transcripts (JSONL, one object per line).
 *
 * A transcript is read from a byte offset in fixed-size chunks, so a file of any size costs the same memory,
 * and only complete lines (ending in "\n") are consumed: a last line still being written is left for the
 * next read, and the offset returned points just after the last complete line. Only top-level assistant
 * lines carry usage; the others are skipped on a byte search, without decoding or parsing them.
 *
 * An assistant message with N content blocks is written as N lines, each repeating the message's usage, and
 * a resumed or forked session copies earlier messages into its new file: a record is keyed by message id +
 * request id and the store keeps one row per key.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { isObject } from '../types.ts';

/** One API response's usage, as a transcript reports it. */
export interface UsageRecord {
  messageId: string;
  /** The API's request-id ('' when the line has none). */
  requestId: string;
  sessionId: string;
  /** Subagent id ('' for the main agent). */
  agentId: string;
  /** ms since epoch (0 when the line has no readable timestamp). */
  ts: number;
  model: string;
  input: number;
  output: number;
  /** Cache writes, all durations. */
  cacheCreation: number;
  /** The part of cacheCreation written with a 1 h lifetime (priced higher). */
  cacheCreation1h: number;
  cacheRead: number;
  /** Working directory of the line ('' when absent). */
  cwd: string;
  /** The line's isSidechain flag (true in subagent transcripts). */
  sidechain: boolean;
}

export interface ReadOptions {
  /** Bytes read per chunk (default 1 MiB). */
  chunkBytes?: number;
  /** A line longer than this is skipped without being kept in memory (default 64 MiB). */
  maxLineBytes?: number;
}

/** A batch of records and the offset just after the last complete line they were read from. */
export interface TranscriptBatch {
  records: UsageRecord[];
  /** Byte offset to resume from. */
  offset: number;
  /** Bytes consumed by this batch (complete lines, including skipped ones). */
  bytes: number;
  /** Lines that looked like assistant lines but could not be parsed. */
  badLines: number;
}

const NEEDLE = Buffer.from('"type":"assistant"');
const USAGE = Buffer.from('"usage"');
const NL = 10;

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The usage of one parsed transcript line, or undefined when it is not a top-level assistant line with usage. */
export function usageOfLine(o: unknown): UsageRecord | undefined {
  if (!isObject(o) || o.type !== 'assistant') return undefined;
  const m = o.message;
  if (!isObject(m) || !isObject(m.usage)) return undefined;
  const u = m.usage;
  const messageId = text(m.id) || text(o.uuid);
  if (messageId === '') return undefined;
  const cc = isObject(u.cache_creation) ? u.cache_creation : undefined;
  const t = Date.parse(text(o.timestamp));
  return {
    messageId,
    requestId: text(o.requestId),
    sessionId: text(o.sessionId),
    agentId: text(o.agentId),
    ts: Number.isFinite(t) ? t : 0,
    model: text(m.model),
    input: count(u.input_tokens),
    output: count(u.output_tokens),
    cacheCreation: count(u.cache_creation_input_tokens),
    cacheCreation1h: cc ? count(cc.ephemeral_1h_input_tokens) : 0,
    cacheRead: count(u.cache_read_input_tokens),
    cwd: text(o.cwd),
    sidechain: o.isSidechain === true,
  };
}

/**
 * Reads the complete lines of `file` from `offset` on and yields their usage records in batches (one per
 * chunk read). The file may grow meanwhile; reading stops at the size seen when the chunk was read.
 */
export async function* readTranscript(
  file: string,
  offset = 0,
  opts: ReadOptions = {},
): AsyncGenerator<TranscriptBatch> {
  const chunkBytes = Math.max(4096, opts.chunkBytes ?? 1 << 20);
  const maxLine = Math.max(chunkBytes, opts.maxLineBytes ?? 64 << 20);
  const fh = await open(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(chunkBytes);
    // Bytes [0, have) of buf are unconsumed input that starts at file position `pos`.
    let have = 0;
    let pos = offset;
    /** Inside a line longer than maxLine: skip until its newline. */
    let skipping = false;
    /** Position up to which bytes were reported (skipped long lines count too). */
    let reported = offset;
    for (;;) {
      if (have === buf.length) {
        // One line fills the buffer: grow it up to maxLine, then give the line up.
        if (buf.length < maxLine) {
          const bigger = Buffer.allocUnsafe(Math.min(maxLine, buf.length * 2));
          buf.copy(bigger, 0, 0, have);
          buf = bigger;
        } else {
          pos += have;
          have = 0;
          skipping = true;
        }
      }
      const { bytesRead } = await fh.read(buf, have, buf.length - have, pos + have);
      if (bytesRead === 0) return;
      const end = have + bytesRead;
      const batch: TranscriptBatch = { records: [], offset: pos, bytes: 0, badLines: 0 };
      let start = 0;
      if (skipping) {
        const nl = buf.indexOf(NL, have);
        if (nl < 0 || nl >= end) {
          pos += end;
          have = 0;
          continue;
        }
        skipping = false;
        start = nl + 1;
      }
      const lastNl = buf.lastIndexOf(NL, end - 1);
      if (lastNl >= start) {
        scanLines(buf, start, lastNl + 1, batch);
        start = lastNl + 1;
      }
      // Keep the incomplete tail at the front of the buffer.
      if (start > 0) {
        buf.copy(buf, 0, start, end);
        pos += start;
        have = end - start;
      } else have = end;
      batch.bytes = pos - reported;
      batch.offset = pos;
      if (batch.bytes > 0 && !skipping) {
        reported = pos;
        yield batch;
      }
    }
  } finally {
    await fh.close();
  }
}

/** Usage records of the complete lines in buf[start, end) (end just after a newline). */
function scanLines(buf: Buffer, start: number, end: number, batch: TranscriptBatch): void {
  let hit = buf.indexOf(NEEDLE, start);
  let ls = start;
  while (ls < end) {
    if (hit < 0 || hit >= end) return;
    // Lines before the one holding the next hit carry no assistant type: jump to that line.
    const lineStart = hit > ls ? buf.lastIndexOf(NL, hit) + 1 : ls;
    const nl = buf.indexOf(NL, hit);
    const le = nl < 0 || nl >= end ? end : nl;
    ls = lineStart > ls ? lineStart : ls;
    const u = buf.indexOf(USAGE, ls);
    if (u >= 0 && u < le) {
      try {
        const rec = usageOfLine(JSON.parse(buf.toString('utf8', ls, le)));
        if (rec) batch.records.push(rec);
      } catch {
        batch.badLines++;
      }
    }
    ls = le + 1;
    hit = buf.indexOf(NEEDLE, ls);
  }
}

/** Subagent id of a `subagents/agent-<id>.jsonl` transcript, or undefined for another file. */
export function subagentIdOf(file: string): string | undefined {
  const m = /^agent-(.+)\.jsonl$/.exec(basename(file));
  return m ? m[1] : undefined;
}
