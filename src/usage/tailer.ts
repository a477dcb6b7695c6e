/**
 * Transcripts into the store: reads each file from where the last read stopped (offset kept per file in the
 * store, in the same transaction as the rows it produced), so a restart, a second import or a growing file
 * only ever costs the new bytes. The collector follows the transcripts of sessions it sees; `import` walks
 * a whole projects directory.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Store } from '../store/index.ts';
import type { UsageRow } from '../store/store.ts';
import { type ReadOptions, readTranscript, subagentIdOf, type UsageRecord } from './transcripts.ts';

export interface TailResult {
  /** Bytes read (complete lines). */
  bytes: number;
  /** Usage records found (before de-duplication). */
  records: number;
  /** New usage rows stored. */
  added: number;
}

/** agentType from the `agent-<id>.meta.json` Claude Code writes next to a subagent transcript. */
async function subagentType(file: string): Promise<string | null> {
  try {
    const meta = JSON.parse(await readFile(file.replace(/\.jsonl$/, '.meta.json'), 'utf8')) as unknown;
    const t = meta !== null && typeof meta === 'object' ? (meta as { agentType?: unknown }).agentType : null;
    return typeof t === 'string' && t !== '' ? t : null;
  } catch {
    return null;
  }
}

function toRow(r: UsageRecord, fallbackSession: string, agentId: string, agentType: string | null): UsageRow {
  const cwd = r.cwd === '' ? null : r.cwd;
  return {
    message_id: r.messageId,
    request_id: r.requestId,
    session_id: r.sessionId || fallbackSession,
    agent_id: r.agentId || agentId,
    agent_type: agentType,
    project_path: cwd,
    project_name: cwd === null ? null : basename(cwd) || cwd,
    model: r.model,
    ts: r.ts,
    input_tokens: r.input,
    output_tokens: r.output,
    cache_creation_tokens: r.cacheCreation,
    cache_creation_1h_tokens: r.cacheCreation1h,
    cache_read_tokens: r.cacheRead,
  };
}

/**
 * Reads the new bytes of one transcript into the store. A file replaced by another (new inode) or cut
 * shorter than what was read is read again from the start; rows already stored are not counted twice.
 */
export async function tailTranscript(
  store: Store,
  file: string,
  opts: ReadOptions & { onBytes?: (n: number) => void } = {},
): Promise<TailResult> {
  const res: TailResult = { bytes: 0, records: 0, added: 0 };
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(file);
  } catch {
    return res;
  }
  if (!st.isFile()) return res;
  const prev = store.transcriptOffset(file);
  const from = prev && prev.ino === st.ino && prev.offset <= st.size ? prev.offset : 0;
  if (from === st.size) return res;
  const subagent = subagentIdOf(file);
  // Main transcript: <session id>.jsonl; subagent transcript: <session id>/subagents/agent-<id>.jsonl.
  const session =
    subagent !== undefined ? basename(dirname(dirname(file))) : basename(file).replace(/\.jsonl$/, '');
  const agentType = subagent !== undefined ? await subagentType(file) : null;
  for await (const batch of readTranscript(file, from, opts)) {
    const rows = batch.records.map((r) => toRow(r, session, subagent ?? '', agentType));
    res.added += store.recordUsage(rows, {
      path: file,
      offset: batch.offset,
      ino: st.ino,
      size: Math.max(st.size, batch.offset),
      mtime_ms: st.mtimeMs,
    });
    res.records += rows.length;
    res.bytes += batch.bytes;
    opts.onBytes?.(batch.bytes);
  }
  return res;
}

/** A main transcript and its subagents' transcripts (`<session>/subagents/agent-*.jsonl`). */
export async function sessionTranscripts(main: string): Promise<string[]> {
  const dir = join(main.replace(/\.jsonl$/, ''), 'subagents');
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    // no subagents yet
  }
  return [main, ...names.filter((n) => subagentIdOf(n) !== undefined).map((n) => join(dir, n))];
}

/** Every `*.jsonl` under `dir` (a Claude Code projects directory), with its size, down to `depth` levels. */
export async function findTranscripts(dir: string, depth = 4): Promise<{ file: string; size: number }[]> {
  const found: { file: string; size: number }[] = [];
  const walk = async (d: string, level: number): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (level < depth) await walk(p, level + 1);
      } else if (e.isFile() && e.name.endsWith('.jsonl')) {
        try {
          found.push({ file: p, size: (await stat(p)).size });
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  await walk(dir, 1);
  return found.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

export interface ImportProgress {
  files: number;
  filesDone: number;
  /** Bytes not yet read when the import began. */
  bytesTotal: number;
  bytesDone: number;
}

/** Imports every transcript under `dir`: only what earlier reads have not covered. */
export async function importTranscripts(
  store: Store,
  dir: string,
  onProgress?: (p: ImportProgress) => void,
  opts: ReadOptions = {},
): Promise<TailResult & { files: number }> {
  const files = await findTranscripts(dir);
  const p: ImportProgress = { files: files.length, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
  for (const f of files) {
    const prev = store.transcriptOffset(f.file);
    p.bytesTotal += Math.max(0, f.size - (prev && prev.offset <= f.size ? prev.offset : 0));
  }
  const total: TailResult & { files: number } = { bytes: 0, records: 0, added: 0, files: files.length };
  onProgress?.(p);
  for (const f of files) {
    const r = await tailTranscript(store, f.file, {
      ...opts,
      onBytes: (n) => {
        p.bytesDone += n;
        onProgress?.(p);
      },
    });
    total.bytes += r.bytes;
    total.records += r.records;
    total.added += r.added;
    p.filesDone++;
    onProgress?.(p);
  }
  return total;
}

export interface UsageFollower {
  /** One pass: new sessions from the store, then the new bytes of every followed transcript. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Sessions with no event for this long are no longer followed (their offsets stay in the store). */
const IDLE_MS = 30 * 60_000;
/** Sessions active this recently when the collector starts are followed from the start. */
const RECENT_MS = 24 * 3_600_000;
const EVENTS_PER_TICK = 5000;

/**
 * Follows the transcripts of the sessions the collector stores (the `transcript_path` of their events) and
 * of their subagents, every `intervalMs`. Runs beside ingestion: each pass reads files asynchronously and
 * writes one short transaction per chunk, and a pass never starts while the previous one is running.
 */
export function startUsageFollower(opts: {
  store: Store;
  log: (m: string) => void;
  intervalMs?: number;
}): UsageFollower {
  const { store, log } = opts;
  /** Transcript path -> time of the session's latest event. */
  const followed = new Map<string, number>();
  /** Sessions seen since start-up: their transcript once known, and their latest event time. */
  const sessions = new Map<string, { path?: string; last: number }>();
  const pathOf = store.select(
    `SELECT json_extract(COALESCE(event_json, line), '$.transcript_path') AS tp, ts FROM events
     WHERE session_id = ? ORDER BY ts DESC LIMIT 1`,
  );
  const recent = store.select('SELECT session_id FROM sessions WHERE last_ts >= ?');
  // Only the session and time of each new event: its JSON is read once per session (pathOf), not per event,
  // which kept this pass at a few microseconds of the main thread per ingested event.
  const newer = store.select(
    `SELECT seq, ts, session_id FROM events WHERE seq > ? ORDER BY seq LIMIT ${EVENTS_PER_TICK}`,
  );
  /** A session's transcript (from its latest event) and that event's time; undefined without one. */
  const transcriptOf = (session: string): { path: string; ts: number } | undefined => {
    const r = pathOf.get(session) as { tp: unknown; ts: number } | undefined;
    return r && typeof r.tp === 'string' && r.tp.endsWith('.jsonl') ? { path: r.tp, ts: r.ts } : undefined;
  };
  let lastSeq = store.maxSeq();
  const now = Date.now();
  for (const { session_id } of recent.all(now - RECENT_MS) as { session_id: string }[]) {
    const t = transcriptOf(session_id);
    if (t !== undefined) {
      followed.set(t.path, t.ts);
      sessions.set(session_id, { path: t.path, last: t.ts });
    }
  }
  let running: Promise<void> | undefined;
  let stopped = false;
  let warned = false;

  const pass = async (): Promise<void> => {
    const active = new Set<string>();
    for (;;) {
      const rows = newer.all(lastSeq) as { seq: number; ts: number; session_id: string }[];
      for (const r of rows) {
        lastSeq = r.seq;
        const s = sessions.get(r.session_id);
        if (s === undefined) sessions.set(r.session_id, { last: r.ts });
        else if (r.ts > s.last) s.last = r.ts;
        active.add(r.session_id);
      }
      if (rows.length < EVENTS_PER_TICK) break;
    }
    for (const id of active) {
      const s = sessions.get(id) as { path?: string; last: number };
      // A session's events may come without a transcript at first: looked up again while it is active.
      s.path ??= transcriptOf(id)?.path;
      if (s.path !== undefined) followed.set(s.path, Math.max(followed.get(s.path) ?? 0, s.last));
    }
    const t = Date.now();
    for (const [main, last] of followed) {
      if (stopped) return;
      for (const file of await sessionTranscripts(main)) {
        if (stopped) return;
        await tailTranscript(store, file);
      }
      if (t - last > IDLE_MS) followed.delete(main);
    }
    for (const [id, s] of sessions) if (t - s.last > IDLE_MS) sessions.delete(id);
  };
  const tick = async (): Promise<void> => {
    if (running) return running;
    running = pass()
      .catch((err) => {
        if (!warned) log(`transcript usage: ${(err as Error).message}`);
        warned = true;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 2000);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
