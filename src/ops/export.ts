/**
 * Export stored events as JSONL or CSV, streamed: rows are stepped one at a time from SQLite and written
 * in chunks that wait for the output to drain, so memory stays flat whatever the number of events.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { QueryFilter } from '../store/index.ts';
import type { ExportRow, Store } from '../store/store.ts';

export type ExportFormat = 'jsonl' | 'csv';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['jsonl', 'csv'];

export type ExportFilter = Omit<QueryFilter, 'limit' | 'order'>;

/**
 * The CSV columns, in order (documented in docs/operations.md). Booleans are `true`/`false`, missing values
 * empty; the full event is in the JSONL export.
 */
export const CSV_COLUMNS = [
  'timestamp',
  'id',
  'audit_seq',
  'level',
  'event_type',
  'hook_event',
  'session_id',
  'project_name',
  'project_path',
  'tool_name',
  'tool_use_id',
  'agent_id',
  'file_path',
  'command',
  'outside_scope',
  'duration_ms',
  'success',
] as const;

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function bool(v: number | null): string {
  return v === 1 ? 'true' : v === 0 ? 'false' : '';
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(r: ExportRow): string {
  const cells = [
    new Date(r.ts).toISOString(),
    r.id,
    r.audit_seq,
    r.level,
    r.event_type,
    r.hook_event,
    r.session_id,
    r.project_name,
    r.project_path,
    r.tool_name,
    r.tool_use_id,
    r.agent_id,
    r.file_path,
    r.command,
    bool(r.outside_scope),
    r.duration_ms,
    bool(r.success),
  ];
  return `${cells.map(csvField).join(',')}\r\n`;
}

/**
 * One JSONL line. A row's line is normally the event's JSON; a line pushed from elsewhere is kept verbatim
 * in the store and may not be JSON at all, so it is wrapped in an object with the row's fields.
 */
export function jsonlRow(r: ExportRow): string {
  if (r.line.startsWith('{') && r.line.includes(`"id":${JSON.stringify(r.id)}`)) return `${r.line}\n`;
  return `${JSON.stringify({
    id: r.id,
    timestamp: new Date(r.ts).toISOString(),
    level: r.level,
    event_type: r.event_type,
    hook_event: r.hook_event,
    session_id: r.session_id,
    project_name: r.project_name,
    project_path: r.project_path,
    log_line: r.line,
  })}\n`;
}

export interface ExportOptions {
  format: ExportFormat;
  filter?: ExportFilter;
  /** Called with the rows written so far and the total, about every `progressEvery` rows and at the end. */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

const CHUNK_BYTES = 256 * 1024;

/** Writes the matching events to `out` (not ended here). Resolves with the number of events written. */
export async function exportEvents(store: Store, out: Writable, opts: ExportOptions): Promise<number> {
  const filter = opts.filter ?? {};
  const total = opts.onProgress ? store.countExport(filter) : 0;
  const every = opts.progressEvery ?? 10_000;
  const format = opts.format === 'csv' ? csvRow : jsonlRow;
  let chunk = opts.format === 'csv' ? csvHeader() : '';
  let n = 0;
  const flush = async () => {
    if (chunk === '') return;
    const ok = out.write(chunk);
    chunk = '';
    if (!ok) await once(out, 'drain');
  };
  for (const row of store.iterateExport(filter)) {
    chunk += format(row);
    n++;
    if (chunk.length >= CHUNK_BYTES) await flush();
    if (opts.onProgress && n % every === 0) opts.onProgress(n, total);
  }
  await flush();
  opts.onProgress?.(n, Math.max(total, n));
  return n;
}

/** A one-line progress bar for a terminal: `[#####.....]  52%  520000/1000000`. */
export function progressBar(done: number, total: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${done}/${total}`;
}
