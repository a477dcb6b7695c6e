import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const VERSION_RE = /"version":"(\d+\.\d+\.\d+)"/g;
const TAIL_BYTES = 64 * 1024;
const RETRY_MS = 10_000;

/**
 * Hook payloads do not say which Claude Code version fired them; transcripts do (`version` on each line).
 * Reads the tail of a session's transcript once it exists and remembers the answer per session.
 */
export class ClaudeVersionLookup {
  private readonly known = new Map<string, string>();
  private readonly lastTry = new Map<string, number>();

  lookup = (sessionId: string, transcriptPath?: string): string | undefined => {
    const hit = this.known.get(sessionId);
    if (hit !== undefined || !transcriptPath) return hit;
    const now = Date.now();
    const last = this.lastTry.get(sessionId);
    if (last !== undefined && now - last < RETRY_MS) return undefined;
    this.lastTry.set(sessionId, now);
    const found = readVersion(transcriptPath);
    if (found) {
      this.known.set(sessionId, found);
      this.lastTry.delete(sessionId);
    }
    return found;
  };
}

function readVersion(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.allocUnsafe(len);
    readSync(fd, buf, 0, len, size - len);
    let last: string | undefined;
    for (const m of buf.toString('utf8').matchAll(VERSION_RE)) last = m[1];
    return last;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
