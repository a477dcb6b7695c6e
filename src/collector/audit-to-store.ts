import type { AuditEntry } from '../audit/index.ts';
import { type EventRowValues, rowValuesOf, type Store, type StoreRow } from '../store/index.ts';

/**
 * The line the store keeps for an event: a pushed foreign line verbatim (`log_line`), else the event's JSON
 * (the audit log's canonical text when known). Derived from the audit entry alone, so a rebuild from the log
 * gives identical rows.
 */
export function storedLineOf(e: AuditEntry): string | undefined {
  return typeof e.event.log_line === 'string' ? e.event.log_line : e.eventJson;
}

/** The store row for an audit entry: its event, its seq, and its stored line (see storedLineOf). */
export function storeRowOf(e: AuditEntry): StoreRow {
  const line = storedLineOf(e);
  return { event: e.event, auditSeq: e.seq, ...(line !== undefined ? { line } : {}) };
}

/** A store row as the collector's I/O worker inserts it: plain values that cross threads cheaply. */
export function rowValuesOfEntry(e: AuditEntry): EventRowValues {
  return rowValuesOf(storeRowOf(e));
}

const BATCH = 2000;

/**
 * Inserts audit entries into the store in batches (crash recovery, reindex). Idempotent: entries already
 * stored are skipped by id. Returns how many were new; `onBatch` hears the running total.
 */
export async function copyAuditToStore(
  store: Store,
  entries: AsyncIterable<AuditEntry>,
  onBatch?: (inserted: number) => void,
): Promise<number> {
  let rows: StoreRow[] = [];
  let inserted = 0;
  for await (const entry of entries) {
    rows.push(storeRowOf(entry));
    if (rows.length === BATCH) {
      inserted += store.insertBatch(rows).inserted;
      rows = [];
      onBatch?.(inserted);
    }
  }
  if (rows.length > 0) inserted += store.insertBatch(rows).inserted;
  return inserted;
}
