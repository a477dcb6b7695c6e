/**
 * Reads audit entries in seq order from a position that it remembers across calls (day file + byte offset),
 * so a sink that keeps up with the log reads only new bytes instead of rescanning today's file each batch.
 * Only complete lines are consumed: a line the writer is still appending stays for the next call.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type AuditEntry, listDayFiles } from '../audit/index.ts';

const CHUNK = 1 << 20;

/** The log does not hold the entry the cursor asks for next (a gap, or the log was replaced). */
export class AuditTailError extends Error {
  override name = 'AuditTailError';
}

/** seq of a canonical entry line without parsing it: the top-level "seq" is the last one in the line. */
function quickSeq(line: string): number | null {
  const i = line.lastIndexOf('"seq":');
  if (i < 0) return null;
  const m = /^[0-9]+/.exec(line.slice(i + 6, i + 26));
  return m ? Number(m[0]) : null;
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

async function firstSeqOf(file: string): Promise<number | null> {
  for (let size = 4096; size <= 1 << 28; size *= 4) {
    const buf = await readAt(file, 0, size);
    const nl = buf.indexOf(0x0a);
    if (nl >= 0) return quickSeq(buf.toString('utf8', 0, nl));
    if (buf.length < size) return null;
  }
  return null;
}

export class AuditTail {
  private file: string | null = null;
  private offset = 0;

  constructor(
    private readonly dir: string,
    /** seq of the next entry to return. */
    private nextSeq: number,
  ) {}

  get next(): number {
    return this.nextSeq;
  }

  /** Up to `max` entries starting at the next seq; fewer (or none) when the log holds no more yet. */
  async read(max: number): Promise<AuditEntry[]> {
    if (this.file === null && !(await this.locate())) return [];
    const out: AuditEntry[] = [];
    let chunk = CHUNK;
    while (out.length < max) {
      const buf = await readAt(join(this.dir, this.file!), this.offset, chunk);
      const lastNl = buf.lastIndexOf(0x0a);
      if (lastNl < 0) {
        // A line longer than the chunk: read more at once. Otherwise the file ends here (or mid-write).
        if (buf.length === chunk) {
          chunk *= 2;
          continue;
        }
        if (buf.length > 0 || !this.advanceFile()) break;
        continue;
      }
      let start = 0;
      while (start <= lastNl && out.length < max) {
        const nl = buf.indexOf(0x0a, start);
        const line = buf.toString('utf8', start, nl);
        start = nl + 1;
        const entry = this.entryOf(line);
        if (entry) out.push(entry);
      }
      this.offset += start;
    }
    return out;
  }

  private entryOf(line: string): AuditEntry | null {
    const quick = quickSeq(line);
    if (quick !== null && quick < this.nextSeq) return null;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(line) as AuditEntry;
    } catch {
      throw new AuditTailError(`unparsable audit line in ${this.file} at byte ${this.offset}`);
    }
    if (typeof entry?.seq !== 'number' || typeof entry.event !== 'object' || entry.event === null) {
      throw new AuditTailError(`not an audit entry in ${this.file} at byte ${this.offset}`);
    }
    if (entry.seq < this.nextSeq) return null;
    if (entry.seq !== this.nextSeq) {
      throw new AuditTailError(
        `audit log jumps from seq ${this.nextSeq - 1} to ${entry.seq} in ${this.file}`,
      );
    }
    this.nextSeq++;
    // The event's canonical JSON is the text between '{"event":' and the last ',"hash":"' of the line.
    const end = line.lastIndexOf(',"hash":"');
    if (line.startsWith('{"event":') && end > 9) {
      Object.defineProperty(entry, 'eventJson', { value: line.slice(9, end), enumerable: false });
    }
    return entry;
  }

  /** Moves to the next day file when there is one. */
  private advanceFile(): boolean {
    const next = listDayFiles(this.dir).find((n) => n > this.file!);
    if (next === undefined) return false;
    this.file = next;
    this.offset = 0;
    return true;
  }

  /** The newest day file that starts at or before the next seq (day files are named in chain order). */
  private async locate(): Promise<boolean> {
    const files = listDayFiles(this.dir);
    if (files.length === 0) return false;
    this.file = files[0]!;
    for (let i = files.length - 1; i > 0; i--) {
      const first = await firstSeqOf(join(this.dir, files[i]!));
      if (first !== null && first <= this.nextSeq) {
        this.file = files[i]!;
        break;
      }
    }
    this.offset = 0;
    return true;
  }
}
