import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

const VERSION_RE = /"version":"(\d+\.\d+\.\d+)"/g;
const TAIL_BYTES = 64 * 1024;
// A session's first events fire before Claude Code has written its transcript: look again soon.
const RETRY_MS = 500;

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
  // Usual for a session's first events: no transcript yet. Asked first, as a throw from openSync costs more.
  if (!existsSync(file)) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    // The newest line wins (a resumed session may run a newer Claude Code); when the tail is one huge
    // line without the field, the first lines have it.
    const read = (pos: number, len: number) => {
      const buf = Buffer.allocUnsafe(len);
      const n = readSync(fd as number, buf, 0, len, pos);
      return buf.toString('utf8', 0, n);
    };
    const len = Math.min(size, TAIL_BYTES);
    let last: string | undefined;
    for (const m of read(size - len, len).matchAll(VERSION_RE)) last = m[1];
    if (last === undefined && size > len) last = VERSION_RE.exec(read(0, len))?.[1];
    VERSION_RE.lastIndex = 0;
    return last;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
